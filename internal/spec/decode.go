package spec

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// position is where a key (or a sequence item) sits in the spec file.
type position struct{ line, column int }

// decoder fills Go values from yaml.Nodes, strictly: unknown keys, wrong
// types, bad durations and percentages, values outside their enum or range
// are all reported (not just the first). Decoding onto a value that already
// holds something merges: struct fields and map keys present in the node
// replace what was there, the rest is kept. That is how defaults layer.
type decoder struct {
	ps *problems // nil: decode quietly (the node was already checked)
	// failed records the key paths that had a problem, so later checks do
	// not pile consequences on top of it.
	failed map[string]bool
	// set records the position of every key path present in the file.
	set map[string]position
}

var (
	durationType  = reflect.TypeFor[Duration]()
	percentType   = reflect.TypeFor[Percent]()
	stepType      = reflect.TypeFor[Step]()
	buildPtrType  = reflect.TypeFor[*Build]()
	healthPtrType = reflect.TypeFor[*Health]()
	volumeType    = reflect.TypeFor[Volume]()
	portType      = reflect.TypeFor[PortMapping]()
	sizeType      = reflect.TypeFor[Size]()
)

// field is one yaml key of a struct.
type field struct {
	key   string
	index int
	typ   reflect.Type
}

// fieldsOf lists the yaml keys of struct type t, in declaration order.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			continue // Step's fields: Step is decoded from a scalar
		}
		out = append(out, field{key: name, index: i, typ: f.Type})
	}
	return out
}

func (d *decoder) fail(n *yaml.Node, path, msg, hint string) {
	if d.ps == nil {
		return
	}
	if d.failed == nil {
		d.failed = map[string]bool{}
	}
	d.failed[path] = true
	d.ps.add(Problem{Line: n.Line, Column: n.Column, Path: path, Message: msg, Hint: hint})
}

func (d *decoder) mark(path string, n *yaml.Node) {
	if d.set == nil {
		d.set = map[string]position{}
	}
	if _, ok := d.set[path]; !ok {
		d.set[path] = position{n.Line, n.Column}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	if key == "" {
		return path
	}
	return path + "." + key
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "something else"
}

// parsed fills v from a scalar n with parse, reporting what was expected
// when n is not a scalar or does not parse.
func (d *decoder) parsed(n *yaml.Node, v reflect.Value, path, want string, parse func(string) (any, error)) {
	if !d.scalar(n, path, want) {
		return
	}
	x, err := parse(n.Value)
	if err != nil {
		d.fail(n, path, err.Error(), "")
		return
	}
	v.Set(reflect.ValueOf(x))
}

// decode fills v (addressable) from n. A null node leaves v as it is.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	n = resolve(n)
	if n == nil || isNull(n) {
		return
	}
	switch v.Type() {
	case durationType:
		d.parsed(n, v, path, "a duration like 30s", func(s string) (any, error) { return ParseDuration(s) })
		return
	case percentType:
		d.parsed(n, v, path, "a percentage like 10%", func(s string) (any, error) { return ParsePercent(s) })
		return
	case sizeType:
		d.parsed(n, v, path, "a size like 64k or 1m", func(s string) (any, error) { return ParseSize(s) })
		return
	case stepType:
		d.parsed(n, v, path, "a percentage like 10% or pause", func(s string) (any, error) { return ParseStep(s) })
		return
	case volumeType:
		d.parsed(n, v, path, "a volume like data:/var/lib/data or ./dir:/dir", func(s string) (any, error) { return ParseVolume(s) })
		return
	case portType:
		d.parsed(n, v, path, "a port like 5432 or 15432:5432", func(s string) (any, error) { return ParsePortMapping(s) })
		return
	case healthPtrType:
		if n.Kind == yaml.ScalarNode {
			if n.Value != HealthNone {
				d.fail(n, path, "expected a mapping or none, got "+kindName(n), "write `health: none` for a service with no health check, or a mapping such as {path: /health}, {tcp: true} or {command: [...]}")
				return
			}
			h := &Health{}
			if !v.IsNil() {
				*h = *v.Interface().(*Health)
			}
			h.None, h.Path, h.TCP, h.Command = true, "", false, nil
			v.Set(reflect.ValueOf(h))
			return
		}
		if n.Kind == yaml.MappingNode && !v.IsNil() {
			// A mapping that names a kind of check replaces the kind it
			// is layered on (defaults, or health: none).
			h := v.Interface().(*Health)
			for _, kv := range pairs(n) {
				switch resolve(kv[0]).Value {
				case "path", "tcp", "command":
					c := *h
					c.None, c.Path, c.TCP, c.Command = false, "", false, nil
					v.Set(reflect.ValueOf(&c))
				}
			}
		}
	case buildPtrType:
		if n.Kind == yaml.ScalarNode {
			v.Set(reflect.ValueOf(&Build{Command: n.Value}))
			return
		}
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "expected a command string or a mapping, got "+kindName(n), "")
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "expected a list, got "+kindName(n), "")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.mark(p, item)
			d.decode(item, s.Index(i), p)
		}
		v.Set(s)
	case reflect.String:
		if d.scalar(n, path, "a string") {
			v.SetString(n.Value)
		}
	case reflect.Int:
		if !d.scalar(n, path, "an integer") {
			return
		}
		var i int
		if n.Tag != "!!int" || n.Decode(&i) != nil {
			d.fail(n, path, "expected an integer, got "+kindName(n), "")
			return
		}
		v.SetInt(int64(i))
	case reflect.Bool:
		if !d.scalar(n, path, "true or false") {
			return
		}
		var b bool
		if n.Tag != "!!bool" || n.Decode(&b) != nil {
			d.fail(n, path, "expected true or false, got "+kindName(n), "")
			return
		}
		v.SetBool(b)
	default:
		panic("spec: no decoder for " + v.Type().String())
	}
}

func (d *decoder) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "expected "+want+", got "+kindName(n), "")
		return false
	}
	return true
}

// pairs returns the key/value pairs of mapping n, with the pairs of YAML
// merge keys (<<) first so the mapping's own keys win.
func pairs(n *yaml.Node) [][2]*yaml.Node {
	var merged, own [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag == "!!merge" {
			val = resolve(val)
			srcs := []*yaml.Node{val}
			if val.Kind == yaml.SequenceNode {
				srcs = val.Content
			}
			for _, s := range srcs {
				if s = resolve(s); s.Kind == yaml.MappingNode {
					merged = append(merged, pairs(s)...)
				}
			}
			continue
		}
		own = append(own, [2]*yaml.Node{k, val})
	}
	return append(merged, own...)
}

// keyOf checks a mapping key and returns it, or false after reporting it.
// Only keys written directly in the mapping (own) can be duplicates; keys
// merged in with << are overridden silently, as YAML specifies.
func (d *decoder) keyOf(k *yaml.Node, path string, seen map[string]*yaml.Node, own bool) (string, bool) {
	k = resolve(k)
	if k.Kind != yaml.ScalarNode {
		d.fail(k, path, "expected a string key, got "+kindName(k), "")
		return "", false
	}
	if own {
		if first, dup := seen[k.Value]; dup {
			d.fail(k, join(path, k.Value), fmt.Sprintf("duplicate key %q (first at line %d)", k.Value, first.Line), "")
			return "", false
		}
		seen[k.Value] = k
	}
	return k.Value, true
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got "+kindName(n), "")
		return
	}
	t := v.Type()
	fields := fieldsOf(t)
	seen := map[string]*yaml.Node{}
	own := ownKeys(n)
	for _, kv := range pairs(n) {
		key, ok := d.keyOf(kv[0], path, seen, own[kv[0]])
		if !ok {
			continue
		}
		i := slices.IndexFunc(fields, func(f field) bool { return f.key == key })
		if i < 0 {
			if path == "" && strings.HasPrefix(key, "x-") {
				continue // extension keys, for YAML anchors
			}
			names := make([]string, len(fields))
			for j, f := range fields {
				names[j] = f.key
			}
			d.fail(kv[0], join(path, key), fmt.Sprintf("unknown key %q", key), Suggest(key, names))
			continue
		}
		f := fields[i]
		p := join(path, key)
		d.mark(p, kv[0])
		fv := v.Field(f.index)
		d.decode(kv[1], fv, p)
		m := metaOf(t, key)
		d.check(m, resolve(kv[1]), fv, p)
		d.checkKeys(m, resolve(kv[1]), p)
	}
}

// ownKeys is the set of key nodes written directly in n (not merged in).
func ownKeys(n *yaml.Node) map[*yaml.Node]bool {
	own := map[*yaml.Node]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		own[n.Content[i]] = true
	}
	return own
}

// check applies a field's enum and range constraints.
func (d *decoder) check(m meta, n *yaml.Node, v reflect.Value, path string) {
	if n == nil || isNull(n) {
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		if len(m.enum) > 0 && !slices.Contains(m.enum, v.String()) {
			hint := Suggest(v.String(), m.enum)
			if hint == "" {
				hint = "one of " + strings.Join(m.enum, ", ")
			}
			d.fail(n, path, fmt.Sprintf("invalid value %q", v.String()), hint)
		}
	case reflect.Int:
		if m.min != nil && v.Int() < int64(*m.min) {
			d.fail(n, path, fmt.Sprintf("must be at least %d, got %d", *m.min, v.Int()), "")
		}
		if m.max != nil && v.Int() > int64(*m.max) {
			d.fail(n, path, fmt.Sprintf("must be at most %d, got %d", *m.max, v.Int()), "")
		}
	}
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got "+kindName(n), "")
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	elem := v.Type().Elem()
	seen := map[string]*yaml.Node{}
	own := ownKeys(n)
	for _, kv := range pairs(n) {
		key, ok := d.keyOf(kv[0], path, seen, own[kv[0]])
		if !ok {
			continue
		}
		p := join(path, key)
		d.mark(p, kv[0])
		val := resolve(kv[1])
		kv0 := reflect.ValueOf(key)
		if elem.Kind() == reflect.String {
			// env-like maps: any scalar is its text (PORT: 8080 is "8080").
			if val.Kind != yaml.ScalarNode {
				d.fail(val, p, "expected a string, got "+kindName(val), "")
				continue
			}
			s := val.Value
			if isNull(val) {
				s = ""
			}
			v.SetMapIndex(kv0, reflect.ValueOf(s))
			continue
		}
		// map of pointers to structs: decode onto the existing entry.
		cur := v.MapIndex(kv0)
		ptr := reflect.New(elem).Elem()
		if cur.IsValid() && !cur.IsNil() {
			ptr.Set(cur)
		} else {
			ptr.Set(reflect.New(elem.Elem()))
		}
		d.decode(val, ptr, p)
		v.SetMapIndex(kv0, ptr)
	}
}

// nameHints explains the name patterns of fields.go.
var nameHints = map[*regexp.Regexp]string{
	serviceName:     "use lower-case letters, digits and '-', starting with a letter, at most 63 characters",
	envName:         "use letters, digits and '_', not starting with a digit",
	environmentName: "use letters, digits, '-' and '_'",
}

// checkKeys reports map keys that do not match the field's name pattern.
func (d *decoder) checkKeys(m meta, n *yaml.Node, path string) {
	if m.keys == nil || n == nil || n.Kind != yaml.MappingNode {
		return
	}
	for _, kv := range pairs(n) {
		k := resolve(kv[0])
		if k.Kind == yaml.ScalarNode && !m.keys.MatchString(k.Value) {
			d.fail(k, join(path, k.Value), fmt.Sprintf("invalid name %q", k.Value), nameHints[m.keys])
		}
	}
}
