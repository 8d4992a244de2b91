package action

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/gitsync/gitsync/pkg/install"
	"github.com/gitsync/gitsync/pkg/object"
	"github.com/gitsync/gitsync/pkg/source"
)

// SecretKind is what a Secret built by BuildSecret is for.
type SecretKind string

// The kinds of Secret BuildSecret builds.
const (
	// SecretGit holds Git credentials (spec.source.git.secretRef): basic
	// auth or a bearer token for HTTPS, an identity and known_hosts for SSH,
	// a CA bundle.
	SecretGit SecretKind = "git"
	// SecretHelm holds Helm repository credentials
	// (spec.source.helm.secretRef): basic auth, a CA bundle and a TLS client
	// certificate.
	SecretHelm SecretKind = "helm"
	// SecretOCI holds registry logins (kubernetes.io/dockerconfigjson).
	SecretOCI SecretKind = "oci"
	// SecretSOPS holds age identities for SOPS decryption
	// (spec.decryption.secretRef), under the key age.agekey as Flux names it.
	SecretSOPS SecretKind = "sops"
)

// SecretKinds returns the kinds BuildSecret builds.
func SecretKinds() []SecretKind { return []SecretKind{SecretGit, SecretHelm, SecretOCI, SecretSOPS} }

// SSH key algorithms GenerateSSHKey makes.
const (
	// KeyEd25519 is the default: short, fast, and accepted everywhere.
	KeyEd25519 = "ed25519"
	// KeyECDSA is an ECDSA key on P-256, P-384 or P-521.
	KeyECDSA = "ecdsa"
	// KeyRSA is an RSA key of SecretOptions.RSABits.
	KeyRSA = "rsa"
)

// SecretAgeKey is the key of a SOPS Secret's age identities (Flux's
// kustomize-controller reads every key ending in .agekey).
const SecretAgeKey = "age.agekey"

// SecretOptions say what BuildSecret builds. Byte fields hold the contents
// of the files the flags name. Fields that do not apply to Kind must be
// empty: a flag that would be ignored is an error.
type SecretOptions struct {
	// Name and Namespace name the Secret. Required.
	Name, Namespace string
	// Kind is what the Secret is for. Required.
	Kind SecretKind

	// URL is the Git repository (git: https:// takes Username/Password or
	// BearerToken, ssh:// an identity and KnownHosts) or the registry host
	// (oci). Required for git and oci.
	URL string
	// Insecure allows a plain http:// Git URL.
	Insecure bool
	// Username and Password are a basic-auth login (git, helm) or a
	// registry login (oci). For SSH, Password is the identity's passphrase.
	Username, Password string
	// BearerToken is sent as "Authorization: Bearer" (git over HTTPS).
	BearerToken string

	// PrivateKey is an SSH private key (git over SSH). Default: one is
	// generated with KeyAlgorithm.
	PrivateKey []byte
	// KeyAlgorithm is the algorithm of a generated SSH key: KeyEd25519
	// (default), KeyECDSA or KeyRSA.
	KeyAlgorithm string
	// RSABits is the size of a generated RSA key. Default 4096; at least
	// 2048.
	RSABits int
	// ECDSACurve is the curve of a generated ECDSA key: p256, p384
	// (default) or p521.
	ECDSACurve string
	// KnownHosts are known_hosts lines for the SSH host (git over SSH).
	// Required for SSH; the caller may fill it with ScanHostKeys.
	KnownHosts []byte

	// CAPEM is a CA bundle trusted for HTTPS (git, helm).
	CAPEM []byte
	// CertPEM and KeyPEM are a TLS client certificate and its key (helm).
	CertPEM, KeyPEM []byte

	// AgeKey holds age identities (AGE-SECRET-KEY-1...) (sops). Default:
	// one is generated.
	AgeKey []byte
	// AgeRecipients are age public keys (age1...) the files are encrypted
	// for; each must belong to an identity of AgeKey, so that a wrong key
	// file is caught before it is stored (sops). Default: not checked.
	AgeRecipients []string
}

// SecretResult is a Secret BuildSecret built, and what may be shown of it.
type SecretResult struct {
	// Secret is the Secret, ready to apply or print.
	Secret *corev1.Secret
	// PublicKey is what the user hands to the other side: the SSH public key
	// (authorized_keys form) to add as a deploy key, or the age recipients
	// (one per line) to encrypt for. "" when there is none.
	PublicKey string
	// Generated tells that the SSH key or age identity was generated here.
	Generated bool
}

// BuildSecret builds and validates the Secret opts describe, without
// contacting anything: a key that does not parse, known_hosts without the
// URL's host, a certificate that does not match its key are errors naming
// the option. Error messages never hold a secret value.
func BuildSecret(opts SecretOptions) (*SecretResult, error) {
	if opts.Name == "" || opts.Namespace == "" {
		return nil, errors.New("secret name and namespace are required")
	}
	res := &SecretResult{Secret: &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: opts.Name, Namespace: opts.Namespace,
			Labels: map[string]string{install.LabelManagedBy: install.ManagedBy}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{},
	}}
	var err error
	switch opts.Kind {
	case SecretGit:
		err = buildGitSecret(opts, res)
	case SecretHelm:
		err = buildHelmSecret(opts, res)
	case SecretOCI:
		err = buildOCISecret(opts, res)
	case SecretSOPS:
		err = buildSOPSSecret(opts, res)
	default:
		err = fmt.Errorf("secret kind %q: must be git, helm, oci or sops", opts.Kind)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// unused returns an error naming the first option that is set but does not
// apply.
func unused(kind SecretKind, fields ...struct {
	name string
	set  bool
}) error {
	for _, f := range fields {
		if f.set {
			return fmt.Errorf("%s: does not apply to a %s secret", f.name, kind)
		}
	}
	return nil
}

type opt = struct {
	name string
	set  bool
}

func buildGitSecret(opts SecretOptions, res *SecretResult) error {
	if err := unused(SecretGit, opt{"cert-file", len(opts.CertPEM) > 0}, opt{"key-file", len(opts.KeyPEM) > 0},
		opt{"age-key-file", len(opts.AgeKey) > 0}, opt{"age-recipients", len(opts.AgeRecipients) > 0}); err != nil {
		return err
	}
	if opts.URL == "" {
		return errors.New("url: required: the repository the secret is for (https:// or ssh://)")
	}
	remote, err := source.ParseRemote(opts.URL, opts.Insecure)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	d := res.Secret.Data
	if !remote.SSH {
		if err := unused(SecretGit, opt{"private-key-file", len(opts.PrivateKey) > 0},
			opt{"known-hosts-file", len(opts.KnownHosts) > 0},
			opt{"ssh-key-algorithm", opts.KeyAlgorithm != ""}); err != nil {
			return fmt.Errorf("%w over HTTP(S)", err)
		}
		if err := basicOrBearer(opts, d); err != nil {
			return err
		}
		if len(opts.CAPEM) > 0 {
			if !remote.HTTPS {
				return errors.New("ca-file: only for https://")
			}
			if err := checkCA(opts.CAPEM); err != nil {
				return err
			}
			d["ca.crt"] = opts.CAPEM
		}
		return nil
	}

	if err := unused(SecretGit, opt{"bearer-token", opts.BearerToken != ""}, opt{"username", opts.Username != ""},
		opt{"ca-file", len(opts.CAPEM) > 0}); err != nil {
		return fmt.Errorf("%w over SSH", err)
	}
	key := opts.PrivateKey
	if len(key) == 0 {
		if opts.Password != "" {
			return errors.New("password: the passphrase of --private-key-file; a generated key has none")
		}
		if key, err = GenerateSSHKey(opts.KeyAlgorithm, opts.RSABits, opts.ECDSACurve); err != nil {
			return err
		}
		res.Generated = true
	} else if opts.KeyAlgorithm != "" || opts.RSABits != 0 || opts.ECDSACurve != "" {
		return errors.New("ssh-key-algorithm: only to generate a key, not with private-key-file")
	}
	pub, err := checkIdentity(key, opts.Password)
	if err != nil {
		return err
	}
	if len(opts.KnownHosts) == 0 {
		return fmt.Errorf("known-hosts-file: required for SSH: host keys are always checked (for %s)", remote.HostPort)
	}
	if err := source.CheckKnownHosts(opts.KnownHosts, remote.HostPort); err != nil {
		return fmt.Errorf("known-hosts-file: %w", err)
	}
	d["identity"] = key
	d["identity.pub"] = []byte(pub)
	d["known_hosts"] = opts.KnownHosts
	if opts.Password != "" {
		d["password"] = []byte(opts.Password)
	}
	res.PublicKey = pub
	return nil
}

func basicOrBearer(opts SecretOptions, d map[string][]byte) error {
	switch {
	case opts.BearerToken != "" && (opts.Username != "" || opts.Password != ""):
		return errors.New("bearer-token: cannot be combined with username/password")
	case opts.BearerToken != "":
		d["bearerToken"] = []byte(opts.BearerToken)
	case opts.Username == "" && opts.Password != "":
		return errors.New("username: required with password")
	case opts.Username != "" && opts.Password == "":
		return errors.New("password: required with username")
	case opts.Username != "":
		d["username"] = []byte(opts.Username)
		d["password"] = []byte(opts.Password)
	}
	return nil
}

func buildHelmSecret(opts SecretOptions, res *SecretResult) error {
	if err := unused(SecretHelm, opt{"url", opts.URL != ""}, opt{"private-key-file", len(opts.PrivateKey) > 0},
		opt{"known-hosts-file", len(opts.KnownHosts) > 0}, opt{"ssh-key-algorithm", opts.KeyAlgorithm != ""},
		opt{"bearer-token", opts.BearerToken != ""}, opt{"age-key-file", len(opts.AgeKey) > 0}); err != nil {
		return err
	}
	d := res.Secret.Data
	if err := basicOrBearer(opts, d); err != nil {
		return err
	}
	if len(opts.CAPEM) > 0 {
		if err := checkCA(opts.CAPEM); err != nil {
			return err
		}
		d["ca.crt"] = opts.CAPEM
	}
	switch {
	case len(opts.CertPEM) > 0 && len(opts.KeyPEM) == 0:
		return errors.New("key-file: required with cert-file")
	case len(opts.KeyPEM) > 0 && len(opts.CertPEM) == 0:
		return errors.New("cert-file: required with key-file")
	case len(opts.CertPEM) > 0:
		if _, err := tls.X509KeyPair(opts.CertPEM, opts.KeyPEM); err != nil {
			// The error of X509KeyPair names no key material.
			return fmt.Errorf("cert-file/key-file: %w", err)
		}
		d["tls.crt"], d["tls.key"] = opts.CertPEM, opts.KeyPEM
	}
	if len(d) == 0 {
		return errors.New("username/password, ca-file or cert-file/key-file: give at least one")
	}
	return nil
}

func buildOCISecret(opts SecretOptions, res *SecretResult) error {
	if err := unused(SecretOCI, opt{"private-key-file", len(opts.PrivateKey) > 0},
		opt{"known-hosts-file", len(opts.KnownHosts) > 0}, opt{"ssh-key-algorithm", opts.KeyAlgorithm != ""},
		opt{"bearer-token", opts.BearerToken != ""}, opt{"ca-file", len(opts.CAPEM) > 0},
		opt{"cert-file", len(opts.CertPEM) > 0}, opt{"key-file", len(opts.KeyPEM) > 0},
		opt{"age-key-file", len(opts.AgeKey) > 0}); err != nil {
		return err
	}
	host := strings.TrimPrefix(opts.URL, "oci://")
	host, _, _ = strings.Cut(host, "/")
	switch {
	case host == "":
		return errors.New("url: required: the registry host, e.g. ghcr.io")
	case strings.Contains(host, "://") || strings.ContainsAny(host, " @"):
		return fmt.Errorf("url: %q is not a registry host", host)
	case opts.Username == "" || opts.Password == "":
		return errors.New("username and password: required for a registry login")
	}
	auth := base64.StdEncoding.EncodeToString([]byte(opts.Username + ":" + opts.Password))
	cfg := map[string]any{"auths": map[string]any{host: map[string]string{
		"username": opts.Username, "password": opts.Password, "auth": auth}}}
	data, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	res.Secret.Type = corev1.SecretTypeDockerConfigJson
	res.Secret.Data[corev1.DockerConfigJsonKey] = data
	return nil
}

func buildSOPSSecret(opts SecretOptions, res *SecretResult) error {
	if err := unused(SecretSOPS, opt{"url", opts.URL != ""}, opt{"username", opts.Username != ""},
		opt{"password", opts.Password != ""}, opt{"bearer-token", opts.BearerToken != ""},
		opt{"private-key-file", len(opts.PrivateKey) > 0}, opt{"known-hosts-file", len(opts.KnownHosts) > 0},
		opt{"ssh-key-algorithm", opts.KeyAlgorithm != ""}, opt{"ca-file", len(opts.CAPEM) > 0},
		opt{"cert-file", len(opts.CertPEM) > 0}, opt{"key-file", len(opts.KeyPEM) > 0}); err != nil {
		return err
	}
	key := opts.AgeKey
	if len(key) == 0 {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return fmt.Errorf("generate age identity: %w", err)
		}
		key = []byte("# public key: " + id.Recipient().String() + "\n" + id.String() + "\n")
		res.Generated = true
	}
	ids, err := age.ParseIdentities(bytes.NewReader(key))
	if err != nil {
		// age's parse errors name the line, never the key.
		return fmt.Errorf("age-key-file: %w", err)
	}
	var recipients []string
	for _, id := range ids {
		switch id := id.(type) {
		case *age.X25519Identity:
			recipients = append(recipients, id.Recipient().String())
		case *age.HybridIdentity:
			recipients = append(recipients, id.Recipient().String())
		}
	}
	for _, want := range opts.AgeRecipients {
		if !slices.Contains(recipients, strings.TrimSpace(want)) {
			return fmt.Errorf("age-recipients: %s is not the recipient of any identity in the key (its recipients: %s)",
				want, strings.Join(recipients, ", "))
		}
	}
	res.Secret.Data[SecretAgeKey] = key
	res.PublicKey = strings.Join(recipients, "\n")
	return nil
}

// checkCA checks that data holds at least one PEM certificate.
func checkCA(data []byte) error {
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return errors.New("ca-file: no PEM certificate found")
	}
	return nil
}

// checkIdentity parses an SSH private key (with passphrase when given) as a
// run will, and returns its public key in authorized_keys form.
func checkIdentity(key []byte, passphrase string) (string, error) {
	var (
		signer ssh.Signer
		err    error
	)
	if passphrase != "" {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(key, []byte(passphrase))
	} else {
		signer, err = ssh.ParsePrivateKey(key)
	}
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return "", errors.New("private-key-file: the key is encrypted: give its passphrase with --password")
		}
		return "", fmt.Errorf("private-key-file: %w", err)
	}
	if err := source.CheckKeyStrength(signer.PublicKey()); err != nil {
		return "", fmt.Errorf("private-key-file: %w", err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))), nil
}

// GenerateSSHKey returns a new SSH private key in OpenSSH PEM form:
// algorithm KeyEd25519 (default, ""), KeyECDSA on curve (p256, p384 default,
// p521) or KeyRSA of bits (default 4096, at least 2048).
func GenerateSSHKey(algorithm string, bits int, curve string) ([]byte, error) {
	var key any
	var err error
	switch algorithm {
	case "", KeyEd25519:
		if bits != 0 || curve != "" {
			return nil, errors.New("ssh-rsa-bits, ssh-ecdsa-curve: not for an ed25519 key")
		}
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case KeyECDSA:
		if bits != 0 {
			return nil, errors.New("ssh-rsa-bits: not for an ecdsa key")
		}
		c := map[string]elliptic.Curve{"": elliptic.P384(), "p256": elliptic.P256(), "p384": elliptic.P384(), "p521": elliptic.P521()}[curve]
		if c == nil {
			return nil, fmt.Errorf("ssh-ecdsa-curve: must be p256, p384 or p521, not %q", curve)
		}
		key, err = ecdsa.GenerateKey(c, rand.Reader)
	case KeyRSA:
		if curve != "" {
			return nil, errors.New("ssh-ecdsa-curve: not for an rsa key")
		}
		if bits == 0 {
			bits = 4096
		}
		if bits < 2048 || bits > 16384 {
			return nil, fmt.Errorf("ssh-rsa-bits: must be between 2048 and 16384, not %d", bits)
		}
		key, err = rsa.GenerateKey(rand.Reader, bits)
	default:
		return nil, fmt.Errorf("ssh-key-algorithm: must be ed25519, ecdsa or rsa, not %q", algorithm)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", algorithm, err)
	}
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		return nil, fmt.Errorf("encode %s key: %w", algorithm, err)
	}
	return pem.EncodeToMemory(block), nil
}

// ScanHostKeys asks the SSH server of url for its host keys, one handshake
// per key type (ed25519, ECDSA, RSA), and returns them as known_hosts lines,
// as ssh-keyscan does. The keys are trusted on first use: the caller says so
// and shows them, so that the user can compare them with the host's
// published fingerprints.
func ScanHostKeys(ctx context.Context, url string, timeout time.Duration) ([]byte, error) {
	remote, err := source.ParseRemote(url, false)
	if err != nil {
		return nil, err
	}
	if !remote.SSH {
		return nil, fmt.Errorf("%s: not an SSH URL", url)
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	var lines []string
	var errs []error
	for _, algo := range []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoRSASHA512} {
		key, err := hostKey(ctx, remote.HostPort, algo, timeout)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		line := knownhosts.Line([]string{knownhosts.Normalize(remote.HostPort)}, key)
		if !slices.Contains(lines, line) {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s: no host key: %w", remote.HostPort, errors.Join(errs...))
	}
	slices.Sort(lines)
	return []byte(strings.Join(lines, "\n") + "\n"), nil
}

// errGotKey stops a handshake once the host key is known.
var errGotKey = errors.New("host key received")

func hostKey(ctx context.Context, hostPort, algo string, timeout time.Duration) (ssh.PublicKey, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", hostPort)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	var got ssh.PublicKey
	cfg := &ssh.ClientConfig{
		User:              "git",
		HostKeyAlgorithms: []string{algo},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			got = key
			return errGotKey
		},
	}
	_, _, _, err = ssh.NewClientConn(conn, hostPort, cfg)
	if got != nil {
		return got, nil
	}
	return nil, fmt.Errorf("%s: %w", algo, err)
}

// ApplySecret server-side applies the Secret with install.FieldManager and
// returns its ID. The error names the Secret, never its data.
func ApplySecret(ctx context.Context, cfg *Config, secret *corev1.Secret) (object.ID, error) {
	id := object.ID{Kind: "Secret", Namespace: secret.Namespace, Name: secret.Name}
	data, err := json.Marshal(secret)
	if err != nil {
		return id, fmt.Errorf("%s: encode: %w", id, err)
	}
	_, err = cfg.Client.CoreV1().Secrets(secret.Namespace).Patch(ctx, secret.Name, types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: install.FieldManager, Force: ptr.To(true)})
	if err != nil {
		return id, fmt.Errorf("%s: apply: %w", id, err)
	}
	return id, nil
}
