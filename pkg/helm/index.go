package helm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	yaml3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// A repository's index.yaml lists every version of every chart, and large
// repositories publish indexes of tens of megabytes. Parsing such a file
// whole into a YAML tree costs many times its size in memory, yet a sync
// needs the entries of one chart. readIndex therefore reads the index as a
// stream of lines, keeps only the lines of the wanted chart (the lines of
// one chart are contiguous under entries:) and parses just those. The
// memory it needs is a read buffer plus the size of that one chart's
// section, whatever the size of the index.
//
// The line reader understands the block layout Helm writes (and any
// indentation of it): a top-level entries: mapping whose keys are chart
// names at one indentation, each holding a block sequence. An index in
// JSON (which is also valid YAML) is read with a streaming JSON decoder
// instead. A YAML index in any other layout (flow style, tabs) is parsed
// whole when it is at most fallbackMax bytes, and refused with an error
// that says why when larger. Anchors that one chart's entries share with
// another's are only found when the chart's section is parsed; the index
// is then parsed whole if it is at most confirmedKeep bytes.

const (
	// fallbackMax is the largest index parsed whole when its layout is
	// not the block layout the line reader understands.
	fallbackMax = 16 << 20
	// confirmedKeep is how much of the index is kept for a whole parse
	// once the block layout is confirmed (a chart name was read): only
	// anchors shared between charts can still need it, and keeping 16 MiB
	// of every large index for that would double the memory a read needs.
	confirmedKeep = 1 << 20
	// maxLinePrefix is how much of a line the reader looks at to classify
	// it; longer lines are only copied when they belong to the chart.
	maxLinePrefix = 64 << 10
)

// indexEntry is one chart version of a repository index: the fields Resolve
// needs.
type indexEntry struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	URLs    []string `json:"urls"`
	Digest  string   `json:"digest"`
	Removed bool     `json:"removed"`
}

// indexStats describes one read of an index.
type indexStats struct {
	Bytes  int64  // bytes read
	Charts int    // charts listed (block and JSON layouts)
	Layout string // "block", "json" or "whole"
}

// errLayout marks an index the line reader does not understand.
var errLayout = errors.New("index layout not understood by the streaming reader")

// countingReader counts bytes and fails past limit.
type countingReader struct {
	r     io.Reader
	n     int64
	limit int64
	// keep holds a copy of what was read while that is at most keepMax
	// bytes, for parsing the index whole; nil once exceeded.
	keep    *bytes.Buffer
	keepMax int
}

// confirm lowers what is kept once the layout is known to be block.
func (c *countingReader) confirm() {
	c.keepMax = confirmedKeep
	if c.keep != nil && c.keep.Len() > c.keepMax {
		c.keep = nil
	}
}

// Read reads from the underlying reader, counting, keeping and limiting.
func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.limit > 0 && c.n > c.limit {
		return n, fmt.Errorf("index is larger than %d bytes: %w", c.limit, ErrTooLarge)
	}
	if c.keep != nil {
		if c.keep.Len()+n > c.keepMax {
			c.keep = nil
		} else {
			c.keep.Write(p[:n])
		}
	}
	return n, err
}

// readIndex reads an index from r, at most limit bytes (0: no limit), and
// returns the entries of chart: nil when the index does not list it.
func readIndex(r io.Reader, chart string, limit int64) ([]indexEntry, indexStats, error) {
	cr := &countingReader{r: r, limit: limit, keep: &bytes.Buffer{}, keepMax: fallbackMax}
	br := bufio.NewReaderSize(cr, maxLinePrefix)
	first, err := firstByte(br)
	if err != nil {
		return nil, indexStats{Bytes: cr.n}, err
	}
	var entries []indexEntry
	st := indexStats{}
	if first == '{' {
		st.Layout = "json"
		entries, st.Charts, err = readJSONIndex(br, chart)
	} else {
		st.Layout = "block"
		entries, st.Charts, err = readBlockIndex(br, chart, cr.confirm)
		if errors.Is(err, errLayout) {
			entries, st.Charts, err = readWholeIndex(br, cr, chart, err)
			st.Layout = "whole"
		}
	}
	st.Bytes = cr.n
	return entries, st, err
}

// firstByte returns the first byte that is not white space or a UTF-8 byte
// order mark, without consuming it; io.EOF is reported as an empty index.
func firstByte(br *bufio.Reader) (byte, error) {
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	for {
		b, err := br.ReadByte()
		if errors.Is(err, io.EOF) {
			return 0, errors.New("index is empty")
		}
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b, br.UnreadByte()
	}
}

// blockScan is the state of readBlockIndex.
type blockScan struct {
	chart       string
	lineNo      int
	state       int // 0 before entries:, 1 inside, 2 after
	chartIndent int // indentation of chart keys; -1 until seen
	collecting  bool
	found       bool
	charts      int
	section     bytes.Buffer
	confirm     func()
}

// readBlockIndex reads a block-layout YAML index line by line.
// confirm is called once the first chart name was read.
func readBlockIndex(br *bufio.Reader, chart string, confirm func()) ([]indexEntry, int, error) {
	s := &blockScan{chart: chart, chartIndent: -1, confirm: confirm}
	for {
		line, err := br.ReadSlice('\n')
		truncated := errors.Is(err, bufio.ErrBufferFull)
		if err != nil && !truncated && !errors.Is(err, io.EOF) {
			return nil, s.charts, err
		}
		if len(line) == 0 && errors.Is(err, io.EOF) {
			break
		}
		s.lineNo++
		keep, lerr := s.line(line)
		if lerr != nil {
			return nil, s.charts, fmt.Errorf("index line %d: %w", s.lineNo, lerr)
		}
		if keep {
			s.appendLine(line)
		}
		for truncated {
			// The rest of a long line: copied only into the section.
			line, err = br.ReadSlice('\n')
			truncated = errors.Is(err, bufio.ErrBufferFull)
			if err != nil && !truncated && !errors.Is(err, io.EOF) {
				return nil, s.charts, err
			}
			if keep {
				s.section.Write(line)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if !s.found {
		return nil, s.charts, nil
	}
	var m map[string][]indexEntry
	if err := yaml.Unmarshal(s.section.Bytes(), &m); err != nil {
		if strings.Contains(err.Error(), "unknown anchor") {
			return nil, s.charts, fmt.Errorf("entries of chart %s: %w: %w", chart, errLayout, err)
		}
		return nil, s.charts, fmt.Errorf("entries of chart %s: %w", chart, err)
	}
	return m[chart], s.charts, nil
}

// appendLine adds a line of the wanted chart to the section, without the
// chart keys' indentation so that the section parses as a document. Lines
// indented less are blank lines or comments.
func (s *blockScan) appendLine(line []byte) {
	if indentOf(line) >= s.chartIndent {
		s.section.Write(line[s.chartIndent:])
		return
	}
	s.section.WriteByte('\n')
}

// indentOf counts the leading spaces of line.
func indentOf(line []byte) int {
	n := 0
	for n < len(line) && line[n] == ' ' {
		n++
	}
	return n
}

// line classifies one line (or the first maxLinePrefix bytes of a long one)
// and reports whether it belongs to the wanted chart's section.
func (s *blockScan) line(line []byte) (bool, error) {
	text := bytes.TrimRight(line, "\r\n")
	indent := indentOf(text)
	rest := text[indent:]
	if len(rest) > 0 && rest[0] == '\t' {
		return false, fmt.Errorf("%w: tab in indentation", errLayout)
	}
	if len(rest) == 0 || rest[0] == '#' {
		// Blank lines and comments change nothing; inside the chart's
		// section they may be content of a block scalar.
		return s.collecting, nil
	}
	if indent == 0 {
		return false, s.topLevel(rest)
	}
	switch s.state {
	case 0, 2:
		// Content of another top-level key (apiVersion, generated,
		// serverInfo, annotations).
		return false, nil
	}
	if s.chartIndent < 0 {
		s.chartIndent = indent
	}
	switch {
	case indent > s.chartIndent, indent == s.chartIndent && isSeqItem(rest):
		return s.collecting, nil
	case indent < s.chartIndent:
		return false, fmt.Errorf("%w: indentation %d is less than that of the chart names (%d)", errLayout, indent, s.chartIndent)
	}
	name, err := mappingKey(rest)
	if err != nil {
		return false, err
	}
	s.charts++
	if s.charts == 1 {
		s.confirm()
	}
	s.collecting = name == s.chart
	if s.collecting {
		if s.found {
			return false, fmt.Errorf("chart %s is listed twice", s.chart)
		}
		s.found = true
	}
	return s.collecting, nil
}

// topLevel handles a line at column 0.
func (s *blockScan) topLevel(rest []byte) error {
	s.collecting = false
	if bytes.HasPrefix(rest, []byte("---")) || bytes.HasPrefix(rest, []byte("...")) {
		if s.state != 0 || len(bytes.TrimSpace(rest)) > 3 {
			return fmt.Errorf("%w: document marker after content", errLayout)
		}
		return nil
	}
	if s.state == 1 {
		s.state = 2
	}
	key, err := mappingKey(rest)
	if err != nil {
		return err
	}
	if key != "entries" {
		return nil
	}
	if s.state != 0 {
		return errors.New("entries is listed twice")
	}
	s.state = 1
	value := bytes.TrimSpace(rest[bytes.IndexByte(rest, ':')+1:])
	switch {
	case len(value) == 0, value[0] == '#':
		return nil
	case bytes.HasPrefix(value, []byte("{}")):
		s.state = 2 // no charts at all
		return nil
	}
	return fmt.Errorf("%w: entries in flow style", errLayout)
}

// isSeqItem reports whether a line's content starts a sequence item.
func isSeqItem(rest []byte) bool {
	return rest[0] == '-' && (len(rest) == 1 || rest[1] == ' ')
}

// mappingKey returns the key of a "key: value" line, unquoting a quoted
// key.
func mappingKey(rest []byte) (string, error) {
	switch rest[0] {
	case '"', '\'':
		end := closingQuote(rest)
		if end < 0 || end+1 >= len(rest) || rest[end+1] != ':' {
			return "", fmt.Errorf("%w: quoted key without ':'", errLayout)
		}
		var key string
		if err := yaml3.Unmarshal(rest[:end+1], &key); err != nil {
			return "", fmt.Errorf("%w: %w", errLayout, err)
		}
		return key, nil
	case '?', '[', '{', '&', '*', '!', '|', '>', '-':
		return "", fmt.Errorf("%w: line starts with %q", errLayout, rest[0])
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] == ':' && (i+1 == len(rest) || rest[i+1] == ' ' || rest[i+1] == '\t') {
			return string(bytes.TrimRight(rest[:i], " \t")), nil
		}
	}
	return "", fmt.Errorf("%w: not a \"key:\" line", errLayout)
}

// closingQuote returns the index of the quote closing the quoted scalar at
// the start of b, or -1.
func closingQuote(b []byte) int {
	q := b[0]
	for i := 1; i < len(b); i++ {
		switch {
		case q == '"' && b[i] == '\\':
			i++
		case b[i] == q && q == '\'' && i+1 < len(b) && b[i+1] == '\'':
			i++ // '' is an escaped quote
		case b[i] == q:
			return i
		}
	}
	return -1
}

// readWholeIndex parses the index whole after the line reader gave up with
// cause, if it is small enough to have been kept.
func readWholeIndex(br *bufio.Reader, cr *countingReader, chart string, cause error) ([]indexEntry, int, error) {
	if cr.keep == nil {
		return nil, 0, fmt.Errorf("%w, and the index is too large to parse whole", cause)
	}
	// Read the rest, which the counting reader keeps.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, 0, err
	}
	if cr.keep == nil {
		return nil, 0, fmt.Errorf("%w, and the index is too large to parse whole", cause)
	}
	var idx struct {
		Entries map[string][]indexEntry `json:"entries"`
	}
	if err := yaml.Unmarshal(cr.keep.Bytes(), &idx); err != nil {
		return nil, 0, fmt.Errorf("index: %w", err)
	}
	return idx.Entries[chart], len(idx.Entries), nil
}

// readJSONIndex reads an index written as JSON with a streaming decoder.
func readJSONIndex(r io.Reader, chart string) ([]indexEntry, int, error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return nil, 0, err
	}
	var entries []indexEntry
	charts := 0
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return nil, charts, err
		}
		if key != "entries" {
			if err := skipValue(dec); err != nil {
				return nil, charts, err
			}
			continue
		}
		if err := expectDelim(dec, '{'); err != nil {
			return nil, charts, err
		}
		for dec.More() {
			name, err := stringToken(dec)
			if err != nil {
				return nil, charts, err
			}
			charts++
			if name != chart {
				if err := skipValue(dec); err != nil {
					return nil, charts, err
				}
				continue
			}
			if err := dec.Decode(&entries); err != nil {
				return nil, charts, fmt.Errorf("index: entries of chart %s: %w", chart, err)
			}
		}
		if err := expectDelim(dec, '}'); err != nil {
			return nil, charts, err
		}
	}
	return entries, charts, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("index: expected %q, found %v", want, t)
	}
	return nil
}

func stringToken(dec *json.Decoder) (string, error) {
	t, err := dec.Token()
	if err != nil {
		return "", fmt.Errorf("index: %w", err)
	}
	s, ok := t.(string)
	if !ok {
		return "", fmt.Errorf("index: expected a key, found %v", t)
	}
	return s, nil
}

// skipValue consumes the next JSON value token by token, so that skipped
// charts are never held in memory.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("index: %w", err)
		}
		if d, ok := t.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			default:
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}
