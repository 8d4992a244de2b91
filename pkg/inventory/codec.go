package inventory

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gitsync/gitsync/pkg/object"
)

// formatV1 names the entry encoding below; a reader refuses any other.
const formatV1 = "gitsync.io/inventory/v1"

// The v1 encoding is one JSON document, written with a line per type and
// per group so that a small inventory stays readable with kubectl get -o
// yaml, and laid out so that a large one compresses well:
//
//	{"format":"gitsync.io/inventory/v1","count":3,
//	"types":[
//	{"version":"v1","resource":"namespaces","kind":"Namespace"},
//	{"group":"apps","version":"v1","resource":"deployments","kind":"Deployment","namespaced":true}
//	],
//	"groups":[
//	{"t":0,"n":["web"]},
//	{"ns":"web","t":1,"n":["backend","frontend"]}
//	],
//	"fingerprints":["","9e8d7c6b5a4f3e2d","3f2a9c0d1e2b4a5c"]}
//
// "types" holds each distinct resource type once. Each group lists the
// names of one type ("t", an index into types) in one namespace ("ns",
// absent for cluster-scoped objects). Groups are ordered by namespace, then
// type, names sorted within a group: the objects of one app (Deployment,
// Service, ConfigMap ... with the same name) then sit within gzip's 32 KiB
// window of each other. "fingerprints" are the entries' fingerprints in the
// order of the names, absent when all are empty; kept apart from the names
// because they are random and compress differently. "count" lets the
// reader detect a truncated or inconsistent value.
type document struct {
	Format       string       `json:"format"`
	Count        int          `json:"count"`
	Types        []headerType `json:"types"`
	Groups       []group      `json:"groups"`
	Fingerprints []string     `json:"fingerprints,omitempty"`
}

type headerType struct {
	Group      string `json:"group,omitempty"`
	Version    string `json:"version"`
	Resource   string `json:"resource"`
	Kind       string `json:"kind"`
	Namespaced bool   `json:"namespaced,omitempty"`
}

type group struct {
	Namespace string   `json:"ns,omitempty"`
	Type      int      `json:"t"`
	Names     []string `json:"n"`
}

// encodingOrder orders entries by namespace, then as object.Less does.
func encodingOrder(a, b Entry) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return compare(a, b)
}

// encodeEntries writes entries in the v1 encoding. Equal inventories encode
// to equal bytes whatever the order of entries. It refuses entries that
// decodeEntries would refuse, so that a run never writes an inventory the
// next run cannot read.
func encodeEntries(entries []Entry) ([]byte, error) {
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, encodingOrder)
	for i, e := range sorted {
		if err := checkEntry(e); err != nil {
			return nil, err
		}
		if i > 0 && sorted[i-1].ID == e.ID {
			return nil, fmt.Errorf("%s: listed twice", e.ID)
		}
	}
	doc := document{Format: formatV1, Count: len(sorted), Types: []headerType{}, Groups: []group{}}
	index := map[headerType]int{}
	anyFingerprint := false
	for _, e := range sorted {
		t := headerType{Group: e.Group, Version: e.Version, Resource: e.Resource, Kind: e.Kind, Namespaced: e.Namespaced}
		n, ok := index[t]
		if !ok {
			n = len(doc.Types)
			index[t] = n
			doc.Types = append(doc.Types, t)
		}
		if last := len(doc.Groups) - 1; last < 0 || doc.Groups[last].Type != n || doc.Groups[last].Namespace != e.Namespace {
			doc.Groups = append(doc.Groups, group{Namespace: e.Namespace, Type: n})
		}
		g := &doc.Groups[len(doc.Groups)-1]
		g.Names = append(g.Names, e.Name)
		anyFingerprint = anyFingerprint || e.Fingerprint != ""
	}
	if anyFingerprint {
		doc.Fingerprints = make([]string, len(sorted))
		for i, e := range sorted {
			doc.Fingerprints[i] = e.Fingerprint
		}
	}

	// Written by hand only to put line breaks between types and groups;
	// every value is still marshalled by encoding/json.
	var buf bytes.Buffer
	write := func(v any) error {
		b, err := json.Marshal(v)
		buf.Write(b)
		return err
	}
	fmt.Fprintf(&buf, "{\"format\":%q,\"count\":%d,\n\"types\":[\n", doc.Format, doc.Count)
	for i, t := range doc.Types {
		if i > 0 {
			buf.WriteString(",\n")
		}
		if err := write(t); err != nil {
			return nil, err
		}
	}
	buf.WriteString("\n],\n\"groups\":[\n")
	for i, g := range doc.Groups {
		if i > 0 {
			buf.WriteString(",\n")
		}
		if err := write(g); err != nil {
			return nil, err
		}
	}
	buf.WriteString("\n]")
	if doc.Fingerprints != nil {
		buf.WriteString(",\n\"fingerprints\":")
		if err := write(doc.Fingerprints); err != nil {
			return nil, err
		}
	}
	buf.WriteString("}\n")
	return buf.Bytes(), nil
}

func checkEntry(e Entry) error {
	switch {
	case e.Kind == "" || e.Name == "" || e.Version == "" || e.Resource == "":
		return fmt.Errorf("%s: kind, name, version and resource must be set (version %q, resource %q)", e.ID, e.Version, e.Resource)
	case e.Namespaced && e.Namespace == "":
		return fmt.Errorf("%s: namespaced but no namespace", e.ID)
	case !e.Namespaced && e.Namespace != "":
		return fmt.Errorf("%s: cluster-scoped but has a namespace", e.ID)
	}
	return nil
}

// decodeEntries reads the v1 encoding and returns the entries sorted.
func decodeEntries(data []byte) ([]Entry, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc document
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the document")
	}
	if doc.Format != formatV1 {
		return nil, fmt.Errorf("format %q: want %q", doc.Format, formatV1)
	}
	if doc.Count < 0 {
		return nil, fmt.Errorf("count %d is negative", doc.Count)
	}
	total := 0
	for _, g := range doc.Groups {
		total += len(g.Names)
	}
	if total != doc.Count {
		return nil, fmt.Errorf("%d names, count says %d", total, doc.Count)
	}
	if doc.Fingerprints != nil && len(doc.Fingerprints) != doc.Count {
		return nil, fmt.Errorf("%d fingerprints, count says %d", len(doc.Fingerprints), doc.Count)
	}
	entries := make([]Entry, 0, doc.Count)
	for i, g := range doc.Groups {
		if g.Type < 0 || g.Type >= len(doc.Types) {
			return nil, fmt.Errorf("group %d: type index %d out of range [0,%d)", i, g.Type, len(doc.Types))
		}
		t := doc.Types[g.Type]
		for _, name := range g.Names {
			e := Entry{
				ID:         object.ID{Group: t.Group, Kind: t.Kind, Namespace: g.Namespace, Name: name},
				Version:    t.Version,
				Resource:   t.Resource,
				Namespaced: t.Namespaced,
			}
			if doc.Fingerprints != nil {
				e.Fingerprint = doc.Fingerprints[len(entries)]
			}
			if err := checkEntry(e); err != nil {
				return nil, fmt.Errorf("group %d: %w", i, err)
			}
			entries = append(entries, e)
		}
	}
	Sort(entries)
	return entries, nil
}

// compress gzips data at the best compression: the inventory is written a
// few times per run, and every byte saved is room for more objects.
func compress(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decompressRatio is how many times its compressed size the entry encoding
// may inflate to. Real inventories compress 3 to 7 times (measured on
// realisticEntries: 3.1 with fingerprints at 60,000 entries, 7.3 without at
// 1,000); 16 leaves room for unusually repetitive names.
const decompressRatio = 16

// maxDecompressed bounds what decompress inflates, and what encode is
// willing to write: the ConfigMap size limit times decompressRatio
// (16 MiB). It must stay far below the Job's memory limit (256 MiB): a gzip
// bomb of under 1 MiB inflates to a gibibyte, and a cap as high as the
// limit would let it kill every run before the cap fires.
const maxDecompressed = decompressRatio * MaxDataSize

func decompress(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	out, err := readAtMost(zr, maxDecompressed, decompressRatio*len(data))
	if err != nil {
		return nil, err
	}
	if len(out) > maxDecompressed {
		return nil, fmt.Errorf("inflates to more than %d bytes (%d times the ConfigMap size limit); refusing it", maxDecompressed, decompressRatio)
	}
	if err := zr.Close(); err != nil {
		return nil, err
	}
	return out, nil
}

// readAtMost reads r to its end but no further than limit+1 bytes, into a
// buffer that starts at hint bytes and never grows beyond limit+1, so that
// finding out that r is too long costs at most limit+1 bytes of memory
// (io.ReadAll's growth would allocate several times that on the way).
func readAtMost(r io.Reader, limit, hint int) ([]byte, error) {
	buf := make([]byte, 0, min(max(hint, 512), limit+1))
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				return buf, nil
			}
			bigger := make([]byte, len(buf), min(2*cap(buf), limit+1))
			copy(bigger, buf)
			buf = bigger
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
