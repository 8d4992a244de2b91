package flux

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"maps"
	"strconv"
	"strings"
	"text/template"
	"unicode"

	sprig "github.com/go-task/slim-sprig/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kjson "k8s.io/apimachinery/pkg/util/json"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// What a ResourceSet's render computes, without a cluster: its input sets
// (InputSets) and the objects its templates make of them (Build), by the
// Flux Operator's rules, so that names made from << inputs.id >> are the
// ones the operator makes.

// InputID is the Flux Operator's id of an input set: the Adler-32
// checksum of s, in decimal.
func InputID(s string) string {
	return strconv.FormatUint(uint64(adler32.Checksum([]byte(s))), 10)
}

// NormalizeInputKey is the key under which Permute puts a provider's input
// set: its name in lower case, spaces and punctuation made "_", other
// characters than [a-z0-9_] dropped, and runs of "_" (and those at either
// end) reduced, as the Flux Operator's.
func NormalizeInputKey(name string) string {
	mapped := strings.Map(func(r rune) rune {
		r = unicode.ToLower(r)
		switch {
		case unicode.IsSpace(r) || unicode.IsPunct(r):
			return '_'
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			return r
		}
		return -1
	}, name)
	var words []string
	for w := range strings.SplitSeq(mapped, "_") {
		if w != "" {
			words = append(words, w)
		}
	}
	return strings.Join(words, "_")
}

// providerInputs is one provider's input sets, for a strategy.
type providerInputs struct {
	name string
	sets []map[string]any
}

// InputSets returns the input sets rs's templates are evaluated with:
// its own spec.inputs, then each provider's (providers as Graph.Sources
// returns them: by namespace and name), combined by rs's InputStrategy.
// Every set carries `provider` (apiVersion, kind, name, namespace of where
// it came from). A Static provider exports one set, its defaultValues with
// `id`: the InputID of its name (the Flux Operator's controller hashes
// the object's UID, which a run has not; its `build` command hashes the
// name, as here). A provider of another type is an error naming it.
func (rs *ResourceSet) InputSets(providers []*ResourceSetInputProvider) ([]map[string]any, error) {
	all := []providerInputs{{name: rs.ID.Name, sets: withProvider(rs.Meta, rs.Inputs)}}
	for _, p := range providers {
		if p.Type != InputProviderStatic {
			return nil, fmt.Errorf("spec.inputsFrom: %s is of type %s, which gitsync does not run (only %s providers are): "+
				"its inputs come from a service the Flux Operator polls", p.ID, p.Type, InputProviderStatic)
		}
		set := map[string]any{}
		for k, v := range p.DefaultValues {
			set[k] = deepCopy(v)
		}
		set["id"] = InputID(p.ID.Name)
		all = append(all, providerInputs{name: p.ID.Name, sets: withProvider(p.Meta, []map[string]any{set})})
	}
	if rs.InputStrategy != InputStrategyPermute {
		var out []map[string]any
		for _, p := range all {
			out = append(out, p.sets...)
		}
		return out, nil
	}
	return permute(all, rs.IncludeEmptyProviders)
}

// withProvider returns copies of sets, each with `provider` naming m.
func withProvider(m Meta, sets []map[string]any) []map[string]any {
	out := make([]map[string]any, len(sets))
	for i, s := range sets {
		c := deepCopy(s).(map[string]any)
		c["provider"] = map[string]any{"apiVersion": m.APIVersion, "kind": m.ID.Kind, "name": m.ID.Name, "namespace": m.ID.Namespace}
		out[i] = c
	}
	return out
}

// permute returns the Cartesian product of the providers' sets, the first
// provider's varying slowest. Each set holds every provider's chosen set
// under NormalizeInputKey of its name, and `id`: the InputID of
// "name=i/name=j/...", the normalised names and the chosen indexes. A
// provider without sets is left out, unless includeEmpty (then there is no
// set at all).
func permute(all []providerInputs, includeEmpty bool) ([]map[string]any, error) {
	var kept []providerInputs
	total := uint64(0)
	for _, p := range all {
		if len(p.sets) == 0 && !includeEmpty {
			continue
		}
		if len(kept) == 0 {
			total = uint64(len(p.sets))
		} else {
			total *= uint64(len(p.sets))
		}
		if total > MaxPermutations {
			return nil, fmt.Errorf("spec.inputStrategy Permute: with the %d input sets of %s there would be %d, more than %d",
				len(p.sets), p.name, total, MaxPermutations)
		}
		key := NormalizeInputKey(p.name)
		if key == "" {
			return nil, fmt.Errorf("spec.inputStrategy Permute: the name %q normalises to nothing", p.name)
		}
		p.name = key
		kept = append(kept, p)
	}
	if len(kept) == 0 || total == 0 {
		return nil, nil
	}
	var out []map[string]any
	idx := make([]int, len(kept))
	for {
		set := map[string]any{}
		parts := make([]string, len(kept))
		for i, p := range kept {
			set[p.name] = deepCopy(p.sets[idx[i]])
			parts[i] = p.name + "=" + strconv.Itoa(idx[i])
		}
		set["id"] = InputID(strings.Join(parts, "/"))
		out = append(out, set)
		i := len(kept) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < len(kept[i].sets) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return out, nil
		}
	}
}

// Build evaluates rs's templates with each input set (Go text/template
// with the delimiters << and >>, slim-sprig's hermetic functions, inputs,
// toYaml and mustToYaml, a missing key an error) and returns the objects,
// as the Flux Operator: spec.resources first, then spec.resourcesTemplate,
// an object made twice (same group, kind, namespace and name) kept once,
// the first; without input sets each template is evaluated once, with no
// inputs. Objects annotated fluxcd.controlplane.io/reconcile: disabled are
// left out; commonMetadata is set on the others. An error names the
// template (spec.resources[i], or spec.resourcesTemplate with its line),
// the input set and the document.
func (rs *ResourceSet) Build(sets []map[string]any) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	keys := map[string]bool{}
	add := func(o *unstructured.Unstructured, dedup bool) error {
		if strings.EqualFold(o.GetAnnotations()[AnnotationOperatorReconcile], "disabled") {
			return nil
		}
		key := strings.Join([]string{o.GroupVersionKind().Group, o.GetKind(), o.GetNamespace(), o.GetName()}, "/")
		if dedup && keys[key] {
			return nil
		}
		keys[key] = true
		for a, why := range operatorRefusedAnnotations {
			if _, ok := o.GetAnnotations()[a]; ok {
				return fmt.Errorf("%s: annotation %s: %s: %w", objectName(o), a, why, ErrUnsupported)
			}
		}
		if cm := rs.CommonMetadata; cm != nil {
			if len(cm.Labels) > 0 {
				l := o.GetLabels()
				if l == nil {
					l = map[string]string{}
				}
				maps.Copy(l, cm.Labels)
				o.SetLabels(l)
			}
			if len(cm.Annotations) > 0 {
				a := o.GetAnnotations()
				if a == nil {
					a = map[string]string{}
				}
				maps.Copy(a, cm.Annotations)
				o.SetAnnotations(a)
			}
		}
		out = append(out, o)
		return nil
	}
	runs := sets
	if len(runs) == 0 {
		runs = []map[string]any{nil}
	}
	for i, res := range rs.Resources {
		doc, err := sigsyaml.Marshal(res)
		if err != nil {
			return nil, fmt.Errorf("spec.resources[%d]: %w", i, err)
		}
		name := fmt.Sprintf("spec.resources[%d]", i)
		for j, set := range runs {
			objs, err := evaluate(name, string(doc), set)
			if err == nil && len(objs) != 1 {
				err = fmt.Errorf("makes %d objects, not one", len(objs))
			}
			if err != nil {
				return nil, fmt.Errorf("%s%s: %w", name, inputSetNote(sets, j), err)
			}
			if err := add(objs[0], len(sets) > 0); err != nil {
				return nil, fmt.Errorf("%s%s: %w", name, inputSetNote(sets, j), err)
			}
		}
	}
	if rs.ResourcesTemplate != "" {
		const name = "spec.resourcesTemplate"
		for j, set := range runs {
			objs, err := evaluate(name, rs.ResourcesTemplate, set)
			if err != nil {
				return nil, fmt.Errorf("%s%s: %w", name, inputSetNote(sets, j), err)
			}
			for _, o := range objs {
				if err := add(o, true); err != nil {
					return nil, fmt.Errorf("%s%s: %w", name, inputSetNote(sets, j), err)
				}
			}
		}
	}
	return out, nil
}

// inputSetNote names input set j of sets, with its id when it has one.
func inputSetNote(sets []map[string]any, j int) string {
	if len(sets) == 0 {
		return " (no input set)"
	}
	if id, ok := sets[j]["id"].(string); ok {
		return fmt.Sprintf(" with input set %d (id %s)", j, id)
	}
	return fmt.Sprintf(" with input set %d", j)
}

func objectName(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return o.GetKind() + "/" + ns + "/" + o.GetName()
	}
	return o.GetKind() + "/" + o.GetName()
}

// templateFuncs are the functions of a ResourceSet's templates besides
// slim-sprig's; inputs is set per evaluation.
func templateFuncs(set map[string]any) template.FuncMap {
	return template.FuncMap{
		"inputs":     func() any { return set },
		"toYaml":     toYAML,
		"mustToYaml": mustToYAML,
		"slugify": func(string) (string, error) {
			return "", errors.New("slugify is not supported by gitsync yet")
		},
	}
}

func toYAML(v any) string {
	s, _ := mustToYAML(v)
	return s
}

func mustToYAML(v any) (string, error) {
	b, err := sigsyaml.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// evaluate executes template text (named name) with input set set and
// reads the YAML documents it makes as objects.
func evaluate(name, text string, set map[string]any) ([]*unstructured.Unstructured, error) {
	t, err := template.New(name).Delims("<<", ">>").Funcs(sprig.HermeticTxtFuncMap()).Funcs(templateFuncs(set)).
		Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, nil); err != nil {
		return nil, err
	}
	return readObjects(b.Bytes())
}

// readObjects reads the YAML documents of data as objects; an empty
// document is skipped, anything else must be an object with apiVersion,
// kind and metadata.name.
func readObjects(data []byte) ([]*unstructured.Unstructured, error) {
	r := kyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*unstructured.Unstructured
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		js, err := sigsyaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		if t := strings.TrimSpace(string(js)); t == "null" || t == "" {
			continue
		}
		var v any
		if err := kjson.Unmarshal(js, &v); err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("document %d: not an object but %s", n, describe(v))
		}
		o := &unstructured.Unstructured{Object: m}
		var missing []string
		if s, _ := m["apiVersion"].(string); s == "" {
			missing = append(missing, "apiVersion")
		}
		if s, _ := m["kind"].(string); s == "" {
			missing = append(missing, "kind")
		}
		if o.GetName() == "" {
			missing = append(missing, "metadata.name")
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("document %d: not a Kubernetes object: %s missing", n, strings.Join(missing, ", "))
		}
		out = append(out, o)
	}
}
