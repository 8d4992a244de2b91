package sops

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// encRE matches one encrypted value. Its parts are base64 (standard
// alphabet, padded) except the type.
var encRE = regexp.MustCompile(`^ENC\[AES256_GCM,data:([^,]*),iv:([^,]+),tag:([^,]+),type:([a-z]+)\]$`)

// isEncryptedValue reports whether s has the form of an encrypted value.
func isEncryptedValue(s string) bool {
	return strings.HasPrefix(s, "ENC[AES256_GCM,")
}

// decryptValue opens one encrypted value with the data key and the value's
// path as additional data and returns it with its type: string, int,
// float64, bool, []byte or time.Time. An empty string is an empty string:
// SOPS does not encrypt empty values.
func decryptValue(s string, key []byte, ad string) (any, error) {
	if s == "" {
		return "", nil
	}
	m := encRE.FindStringSubmatch(s)
	if m == nil {
		return nil, errors.New("not a SOPS-encrypted value (ENC[AES256_GCM,...])")
	}
	var parts [3][]byte
	for i, name := range []string{"data", "iv", "tag"} {
		b, err := base64.StdEncoding.DecodeString(m[i+1])
		if err != nil {
			return nil, fmt.Errorf("encrypted value: %s is not base64", name)
		}
		parts[i] = b
	}
	data, iv, tag := parts[0], parts[1], parts[2]
	if len(iv) == 0 || len(tag) != 16 {
		return nil, errors.New("encrypted value: bad iv or tag length")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, len(iv))
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, iv, append(data, tag...), []byte(ad))
	if err != nil {
		// Wrong data key, tampered ciphertext, or a value moved to
		// another path.
		return nil, errors.New("AES-GCM authentication failed (tampered, or moved from another path)")
	}
	switch typ := m[4]; typ {
	case "str", "comment":
		return string(plain), nil
	case "bytes":
		return plain, nil
	case "int":
		n, err := strconv.Atoi(string(plain))
		if err != nil {
			return nil, errors.New("encrypted value of type int is not an integer")
		}
		return n, nil
	case "float":
		f, err := strconv.ParseFloat(string(plain), 64)
		if err != nil {
			return nil, errors.New("encrypted value of type float is not a number")
		}
		return f, nil
	case "bool":
		b, err := strconv.ParseBool(string(plain))
		if err != nil {
			return nil, errors.New("encrypted value of type bool is not a boolean")
		}
		return b, nil
	case "time":
		var t time.Time
		if err := t.UnmarshalText(plain); err != nil {
			return nil, errors.New("encrypted value of type time is not a timestamp")
		}
		return t, nil
	default:
		return nil, fmt.Errorf("encrypted value has unknown type %q", typ)
	}
}

// macBytes is what a value contributes to the MAC, as SOPS writes it:
// bools as True/False (SOPS's Python heritage), numbers in plain decimal.
func macBytes(v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return []byte(v), nil
	case []byte:
		return v, nil
	case int:
		return []byte(strconv.Itoa(v)), nil
	case int64:
		return []byte(strconv.FormatInt(v, 10)), nil
	case uint64:
		return []byte(strconv.FormatUint(v, 10)), nil
	case float64:
		return []byte(strconv.FormatFloat(v, 'f', -1, 64)), nil
	case bool:
		if v {
			return []byte("True"), nil
		}
		return []byte("False"), nil
	case time.Time:
		return v.MarshalText()
	default:
		return nil, fmt.Errorf("value of type %T cannot be authenticated", v)
	}
}
