package ociimage

import (
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DefaultCABundle is where Debian (and most distributions) keep the system's
// CA certificates; Go's crypto/x509 reads the same path inside the image.
const DefaultCABundle = "/etc/ssl/certs/ca-certificates.crt"

// BinaryImage returns the Options of a minimal image around one static
// binary, as `make image` builds sync-job: the binary at /<name> as the
// entrypoint, the CA bundle at DefaultCABundle, a non-root user 65532
// ("nonroot") with /etc/passwd and /etc/group entries, HOME=/tmp and a
// world-writable /tmp (mount an emptyDir there when the root filesystem is
// read-only). caBundle empty means the host's DefaultCABundle.
func BinaryImage(binary []byte, name, tag, arch, caBundle string) (Options, error) {
	if caBundle == "" {
		caBundle = DefaultCABundle
	}
	ca, err := os.ReadFile(caBundle)
	if err != nil {
		return Options{}, fmt.Errorf("%s: CA bundle: %w (install the ca-certificates package)", caBundle, err)
	}
	if arch == "" {
		arch = "amd64"
	}
	path := "/" + name
	return Options{
		Files: []File{
			{Path: path, Mode: 0o755, Content: binary},
			{Path: DefaultCABundle, Content: ca},
			{Path: "/etc/passwd", Content: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
			{Path: "/etc/group", Content: []byte("root:x:0:\nnonroot:x:65532:\n")},
		},
		Dirs:       map[string]int64{"/tmp": 0o1777, "/home/nonroot": 0o755},
		Entrypoint: []string{path},
		User:       "65532:65532",
		Env:        []string{"HOME=/tmp"},
		RepoTag:    tag,
		Platform:   &v1.Platform{OS: "linux", Architecture: arch},
	}, nil
}
