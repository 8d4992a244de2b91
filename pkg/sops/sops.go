package sops

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
)

// Format is a SOPS file format.
type Format string

// The formats SOPS chooses by file extension.
const (
	YAML   Format = "yaml"
	JSON   Format = "json"
	Dotenv Format = "dotenv"
	INI    Format = "ini"
	// Binary is a whole file encrypted as one value, stored as JSON
	// {"data": ENC[...], "sops": {...}}.
	Binary Format = "binary"
)

// FormatFor returns the format SOPS uses for a file name: .yaml and .yml
// are YAML, .json JSON, .env dotenv, .ini INI, anything else binary.
func FormatFor(name string) Format {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return YAML
	case ".json":
		return JSON
	case ".env":
		return Dotenv
	case ".ini":
		return INI
	default:
		return Binary
	}
}

// IsEncrypted reports whether data, in format f, carries SOPS metadata:
// a top-level "sops" mapping with a mac (YAML, JSON, binary), a
// sops_mac= line (dotenv) or a [sops] section (INI). It is cheap enough to
// ask of every file read.
func IsEncrypted(f Format, data []byte) bool {
	switch f {
	case Dotenv:
		return bytes.HasPrefix(data, []byte("sops_mac=")) || bytes.Contains(data, []byte("\nsops_mac="))
	case INI:
		return bytes.Contains(data, []byte("[sops]")) && bytes.Contains(data, []byte("mac"))
	case JSON, Binary:
		if !bytes.Contains(data, []byte(`"sops"`)) || !bytes.Contains(data, []byte(`"mac"`)) {
			return false
		}
		_, ok, _ := jsonMetadata(data)
		return ok
	default:
		if !bytes.Contains(data, []byte("sops")) || !bytes.Contains(data, []byte("mac")) {
			return false
		}
		_, ok, _ := yamlMetadata(data)
		return ok
	}
}

// Decrypt returns the plaintext of data, a file in format f encrypted by
// SOPS, without its metadata: YAML as YAML (all documents), JSON as
// indented JSON, dotenv as dotenv, INI as INI, binary as the original bytes. The file's
// MAC is verified before anything is returned. Errors name value paths
// and key ids, never values; see the package documentation.
func Decrypt(f Format, data []byte, keys *Keys) ([]byte, error) {
	switch f {
	case YAML:
		return decryptYAML(data, keys)
	case JSON:
		return decryptJSON(data, keys, false)
	case Binary:
		return decryptJSON(data, keys, true)
	case Dotenv:
		return decryptDotenv(data, keys)
	case INI:
		return decryptINI(data, keys)
	default:
		return nil, fmt.Errorf("format %q is %w", f, ErrUnsupported)
	}
}
