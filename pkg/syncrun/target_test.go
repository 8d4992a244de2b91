package syncrun

import (
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestCheckKubeConfig(t *testing.T) {
	const head = "apiVersion: v1\nkind: Config\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
	tests := []struct {
		name, doc string
		want      []string // each in the error; none: accepted
	}{
		{name: "inline credentials", doc: head + "current-context: c\nclusters: [{name: c, cluster: {server: https://h, certificate-authority-data: Zm9v}}]\nusers: [{name: u, user: {token: abc, client-certificate-data: Zm9v}}]\n"},
		{name: "exec", doc: head + "current-context: c\nclusters: [{name: c, cluster: {server: https://h}}]\nusers: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: aws}}}]\n",
			want: []string{`users["u"].user.exec: exec credential plugins are refused`}},
		{name: "files", doc: head + "current-context: c\nclusters: [{name: c, cluster: {server: https://h, certificate-authority: /etc/ca.crt}}]\nusers: [{name: u, user: {client-certificate: /c.crt, client-key: /c.key}}]\n",
			want: []string{`users["u"].user.client-certificate: files are refused`, `users["u"].user.client-key: files are refused`, `clusters["c"].cluster.certificate-authority: files are refused`}},
		{name: "no current context", doc: head + "clusters: [{name: c, cluster: {server: https://h}}]\nusers: [{name: u, user: {token: abc}}]\n",
			want: []string{"current-context: not set"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kc, err := clientcmd.Load([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			err = checkKubeConfig(kc)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "abc") {
				t.Errorf("error quotes the token: %v", err)
			}
		})
	}
}

func TestServerAddress(t *testing.T) {
	for in, want := range map[string]string{
		"https://10.0.0.1:6443":              "https://10.0.0.1:6443",
		"https://user:secret@h.example:6443": "https://h.example:6443",
	} {
		if got := serverAddress(in); got != want {
			t.Errorf("serverAddress(%q) = %q, want %q", in, got, want)
		}
	}
}
