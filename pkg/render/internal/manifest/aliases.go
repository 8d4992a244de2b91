package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	yaml "go.yaml.in/yaml/v3"
)

// ErrAliasBomb is wrapped by the error CheckAliases returns for a file
// whose YAML aliases expand past the limit ("billion laughs").
var ErrAliasBomb = errors.New("YAML aliases expand too far")

// MaxAliasNodes is how many nodes the aliases of one file may add to it
// when expanded, unless the file itself has more than a tenth as many
// nodes: then ten times its own count. kustomize expands every alias into
// a copy (about half a KiB of memory and a few microseconds a node), so a
// file of a few hundred bytes whose anchors nest nine deep expands to 9^9
// nodes and exhausts the Job's memory before anything reports an error.
const MaxAliasNodes = 100_000

// CheckAliases returns an error wrapping ErrAliasBomb when the YAML
// documents in data expand, through their aliases, past MaxAliasNodes
// added nodes. It counts without expanding: each anchored node's expanded
// size is computed once. Data that is not YAML, or has no alias, passes:
// the reader that parses it reports its own errors.
func CheckAliases(data []byte) error {
	// An alias needs an anchor (&) and a reference (*).
	if bytes.IndexByte(data, '*') < 0 || bytes.IndexByte(data, '&') < 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var own, expanded int64
	for doc := 1; ; doc++ {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return nil // not YAML: the reader that parses it says why
		}
		c := counter{memo: map[*yaml.Node]int64{}}
		own += c.own(&n)
		expanded = sat(expanded + c.expanded(&n))
		limit := max(MaxAliasNodes, 10*own)
		if added := expanded - own; added > limit {
			return fmt.Errorf("document %d (line %d): %w: %d nodes expand to more than %d (the limit is %d added nodes)",
				doc, n.Line, ErrAliasBomb, own, own+limit, limit)
		}
	}
}

// saturation is where the counts stop growing (no overflow whatever the
// nesting).
const saturation = int64(1) << 50

func sat(n int64) int64 { return min(n, saturation) }

// counter counts nodes of one document.
type counter struct {
	memo map[*yaml.Node]int64
}

// own counts the nodes written in the file; an alias is one node.
func (c *counter) own(n *yaml.Node) int64 {
	total := int64(1)
	for _, ch := range n.Content {
		total += c.own(ch)
	}
	return total
}

// expanded counts the nodes of n with every alias replaced by a copy of
// its anchor's node.
func (c *counter) expanded(n *yaml.Node) int64 {
	if n == nil {
		return 0
	}
	if n.Kind == yaml.AliasNode {
		return c.expanded(n.Alias)
	}
	if v, ok := c.memo[n]; ok {
		return v
	}
	c.memo[n] = 1 // a node reached from inside itself counts once
	total := int64(1)
	for _, ch := range n.Content {
		total = sat(total + c.expanded(ch))
	}
	c.memo[n] = total
	return total
}
