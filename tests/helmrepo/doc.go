// Package helmrepo runs real Helm chart repositories inside a test process:
// an HTTP(S) repository serving index.yaml and packaged charts, and an OCI
// registry (the distribution registry, in process, in memory) that charts
// are pushed to with Helm's own registry client.
//
// Charts are described in Go (Chart: Chart.yaml fields, templates, values,
// CRDs, other files, subcharts) and packaged with the Helm SDK, so the
// packages, the index and the OCI artifacts are exactly what `helm
// package`, `helm repo index` and `helm push` produce.
//
// Both servers listen on 127.0.0.1 on a free port. The HTTP repository
// speaks HTTPS with a certificate of a throw-away CA (CA.CertPEM) unless
// asked for plain HTTP, can require basic auth and a client certificate,
// and counts requests per path. The registry speaks HTTPS with the same
// kind of CA or plain HTTP, and requires htpasswd basic auth when a user
// is set.
package helmrepo
