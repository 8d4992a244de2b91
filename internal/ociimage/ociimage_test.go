package ociimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func sample() Options {
	return Options{
		Files: []File{
			{Path: "/bin/app", Mode: 0o755, Content: []byte("#!binary")},
			{Path: "/etc/passwd", Content: []byte("nonroot:x:65532:65532::/:/sbin/nologin\n")},
		},
		Dirs:       map[string]int64{"/tmp": 0o1777},
		Entrypoint: []string{"/bin/app"},
		User:       "65532:65532",
		RepoTag:    "example.test/app:v1",
	}
}

func TestWriteTarballIsReproducible(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")
	da, err := WriteTarball(a, sample())
	if err != nil {
		t.Fatal(err)
	}
	db, err := WriteTarball(b, sample())
	if err != nil {
		t.Fatal(err)
	}
	if da != db {
		t.Fatalf("digests differ: %s vs %s", da, db)
	}
	ba, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ba, bb) {
		t.Fatal("tarballs differ byte for byte")
	}
	changed := sample()
	changed.Files[0].Content = []byte("other")
	dc, err := WriteTarball(filepath.Join(dir, "c.tar"), changed)
	if err != nil {
		t.Fatal(err)
	}
	if dc == da {
		t.Fatal("different content gave the same digest")
	}
}

func TestTarballContent(t *testing.T) {
	p := filepath.Join(t.TempDir(), "img.tar")
	digest, err := WriteTarball(p, sample())
	if err != nil {
		t.Fatal(err)
	}
	// The docker-archive side must load with go-containerregistry's reader.
	img, err := tarball.ImageFromPath(p, nil)
	if err != nil {
		t.Fatalf("docker-archive view: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/bin/app"}, cf.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-want +got):\n%s", diff)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user = %q", cf.Config.User)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	modes := map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		modes[h.Name] = h.Mode
	}
	want := map[string]int64{"bin/": 0o755, "bin/app": 0o755, "etc/": 0o755, "etc/passwd": 0o644, "tmp/": 0o1777}
	if diff := cmp.Diff(want, modes); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}

	// The OCI side: index.json names the image and points at the manifest.
	ociTar, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	tr = tar.NewReader(bytes.NewReader(ociTar))
	var index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	found := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		found[h.Name] = true
		if h.Name == "index.json" {
			if err := json.NewDecoder(tr).Decode(&index); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !found["oci-layout"] || len(index.Manifests) != 1 {
		t.Fatalf("not an OCI layout: files %v, index %+v", found, index)
	}
	if index.Manifests[0].Digest != digest {
		t.Errorf("index digest %s, want %s", index.Manifests[0].Digest, digest)
	}
	if got := index.Manifests[0].Annotations["io.containerd.image.name"]; got != "example.test/app:v1" {
		t.Errorf("image name annotation = %q", got)
	}
}

func TestRejectsBadPaths(t *testing.T) {
	for _, o := range []Options{
		{Files: []File{{Path: "relative"}}},
		{Files: []File{{Path: "/a"}, {Path: "/a"}}},
		{Files: []File{{Path: "/a/b"}}, Dirs: map[string]int64{"/a/b": 0o755}},
	} {
		if _, err := Build(o); err == nil {
			t.Errorf("Build(%+v) succeeded, want error", o.Files)
		}
	}
}
