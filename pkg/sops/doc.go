// Package sops decrypts files encrypted by SOPS (github.com/getsops/sops)
// with age or OpenPGP keys, without linking SOPS itself: SOPS's decryption
// API pulls in the cloud key services and adds about 30 MB to a binary;
// this package implements the documented file format in a few hundred
// lines.
//
// # The format
//
// SOPS encrypts each value of a YAML, JSON, dotenv or INI file, leaving the
// keys in clear, or a whole file as one value (binary format). A value is
// stored as ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]: AES-256-GCM under a
// random 32-byte data key, with a 32-byte IV and the value's path (the
// mapping keys from the top, each followed by ":"; sequence items share
// their parent's path) as additional data. The type says how to read the
// plaintext back: str, int, float, bool, bytes, time or comment.
//
// The file's metadata sits under the top-level key "sops" (dotenv: keys
// prefixed sops_, with nested fields flattened as __map_ and __list_; INI:
// the section [sops], its keys flattened the same way, without the
// prefix). In an INI file a value's path is its section and key, keys
// before the first header being in the section DEFAULT. The metadata
// holds the data key encrypted for each recipient (age: an armored age
// file; pgp: an armored OpenPGP message), the rules that chose which
// values were encrypted (unencrypted_suffix, encrypted_suffix,
// unencrypted_regex, encrypted_regex, mac_only_encrypted), lastmodified,
// and the MAC: the upper-case hex SHA-512 of every value's plaintext in
// document order (bools as True/False, numbers in plain decimal, comments
// and nulls left out), itself encrypted like a value with lastmodified as
// additional data.
//
// With more than one key group, the data key is split by Shamir's secret
// sharing over GF(2^8) into one share per group (the share's last byte is
// its x coordinate), each share encrypted for its group's recipients, and
// shamir_threshold shares (default: all) rebuild it.
//
// # What Decrypt guarantees
//
//   - It returns the file without its metadata and with every value in
//     clear, in the file's own format, or an error; never a partial result.
//   - A MAC that does not match the decrypted values (tampered or swapped
//     ciphertext, an added or removed value) is ErrMACMismatch.
//   - A file whose data key none of the Keys can decrypt is a
//     *NoKeyError naming the recipients the file was encrypted for; with
//     key groups, also when the Keys open fewer groups than the
//     threshold, naming each group's recipients and whether it opened.
//   - Errors name the file's value paths and key ids, never a value, a
//     plaintext or a private key.
//
// Not supported, each refused with an error that says so: cloud key
// services (KMS, Vault, Key Vault) and the comment-driven encryption rules
// (encrypted_comment_regex, unencrypted_comment_regex).
package sops
