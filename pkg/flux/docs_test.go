package flux

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated field tables of docs/flux.md")

const (
	docsFile  = "../../docs/flux.md"
	docsBegin = "<!-- BEGIN GENERATED FIELD TABLES: go test ./pkg/flux -run TestDocsTables -update -->\n"
	docsEnd   = "<!-- END GENERATED FIELD TABLES -->\n"
)

// fieldTables renders the schema as the Markdown tables of docs/flux.md.
func fieldTables() string {
	var b strings.Builder
	for _, s := range schemas() {
		fmt.Fprintf(&b, "### %s\n\n`%s` %s\n\n", s.kind, s.group, strings.Join(s.versions, ", "))
		b.WriteString("| Field | Versions | gitsync | What gitsync does |\n|---|---|---|---|\n")
		row := func(path, versions, how, note string) {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", path, versions, how, strings.ReplaceAll(note, "|", `\|`))
		}
		row("`metadata.name`", "all", "mapped", "the unit's or source's name")
		row("`metadata.namespace`", "all", "mapped", "its namespace; an object without one gets the namespace the render "+
			"gives its other objects (the parent's `targetNamespace`, else the sync's namespace)")
		row("`metadata.labels`, `metadata.annotations`", "all", "mapped", "kept with the decoded object")
		row("other `metadata` fields", "all", "ignored", "Kubernetes' own metadata; nothing of a Flux object is created in the cluster")
		var walk func(fields []field, path string, parentNote string, parentVersions []string)
		walk = func(fields []field, path string, parentNote string, parentVersions []string) {
			for i := range fields {
				f := &fields[i]
				p := path + "." + f.name
				vs := f.versions
				if vs == nil {
					vs = parentVersions
				}
				versions := "all"
				if vs != nil {
					versions = strings.Join(vs, ", ")
				}
				note := f.note
				if note == "" {
					note = parentNote
				}
				var how string
				switch f.how {
				case mapped:
					how = "mapped"
				case ignored:
					how = "ignored"
				case refused:
					how = "**refused**"
					if f.issue != "" {
						how = fmt.Sprintf("**refused** (until [issue %s](#issues))", f.issue)
					}
				}
				if f.refuseNote != "" {
					how += "; some values **refused**"
					note += "; " + f.refuseNote
				}
				if f.required {
					note += "; required"
				}
				row("`"+p+"`", versions, how, strings.TrimPrefix(note, "; "))
				sub := p
				if f.typ == tObjects {
					sub += "[]"
				}
				if f.how == ignored && f.note != "" {
					walk(f.fields, sub, "see `"+p+"`", vs)
				} else {
					walk(f.fields, sub, parentNote, vs)
				}
			}
		}
		walk(s.spec, "spec", "", nil)
		row("`status`", "all", "ignored", "written by Flux's controllers; gitsync keeps its own state (see [Unit state](#unit-state))")
		b.WriteString("\n")
	}
	return b.String()
}

// TestDocsTables keeps docs/flux.md's field tables equal to the schema
// Decode uses.
func TestDocsTables(t *testing.T) {
	data, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	before, rest, ok1 := strings.Cut(doc, docsBegin)
	old, after, ok2 := strings.Cut(rest, docsEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s has no generated section between %q and %q", docsFile, docsBegin, docsEnd)
	}
	want := fieldTables()
	if old == want {
		return
	}
	if *update {
		if err := os.WriteFile(docsFile, []byte(before+docsBegin+want+docsEnd+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the field tables of %s differ from the schema; run go test ./pkg/flux -run TestDocsTables -update", docsFile)
}
