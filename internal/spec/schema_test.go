package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var schemaFile = filepath.Join("..", "..", "schema", "berth.schema.json")

func TestSchema_FileMatches(t *testing.T) {
	got := Schema()
	if *update {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/spec -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date: run go test ./internal/spec -update", schemaFile)
	}
}

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	var s map[string]any
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", s["$schema"])
	}
	return s
}

// objectProps returns the properties of a schema (following $ref and the
// object branch of oneOf), or nil when it is not an object with properties.
func objectProps(root, node map[string]any) map[string]any {
	if r, ok := node["$ref"].(string); ok {
		name := strings.TrimPrefix(r, "#/$defs/")
		return objectProps(root, root["$defs"].(map[string]any)[name].(map[string]any))
	}
	if p, ok := node["properties"].(map[string]any); ok {
		return p
	}
	if alts, ok := node["oneOf"].([]any); ok {
		for _, a := range alts {
			if p := objectProps(root, a.(map[string]any)); p != nil {
				return p
			}
		}
	}
	return nil
}

// TestSchema_KeysMatchLoader checks both directions: every key the loader
// accepts (the yaml keys of the Go types) is in the schema, and every key
// the schema allows parses without an "unknown key" problem.
func TestSchema_KeysMatchLoader(t *testing.T) {
	root := loadSchema(t)

	// Loader → schema.
	var walkType func(reflect.Type, map[string]any, string)
	walkType = func(ty reflect.Type, props map[string]any, path string) {
		var keys []string
		for _, f := range fieldsOf(ty) {
			keys = append(keys, f.key)
			p, ok := props[f.key].(map[string]any)
			if !ok {
				t.Errorf("schema lacks %s.%s", path, f.key)
				continue
			}
			if _, ok := p["description"]; !ok {
				t.Errorf("schema key %s.%s has no description", path, f.key)
			}
			ft := f.typ
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			sub := p
			if ft.Kind() == reflect.Map && ft.Elem().Kind() != reflect.String {
				ft = ft.Elem().Elem()
				sub = p["additionalProperties"].(map[string]any)
			} else if items, ok := p["items"].(map[string]any); ok {
				sub = items
			}
			if ft.Kind() == reflect.Struct && ft != stepType {
				walkType(ft, objectProps(root, sub), path+"."+f.key)
			}
		}
		if len(keys) != len(props) {
			var schemaKeys []string
			for k := range props {
				schemaKeys = append(schemaKeys, k)
			}
			sort.Strings(schemaKeys)
			sort.Strings(keys)
			t.Errorf("%s: schema keys %v, loader keys %v", path, schemaKeys, keys)
		}
	}
	walkType(reflect.TypeFor[Spec](), root["properties"].(map[string]any), "berth.yaml")

	// Schema → loader: a document holding each key must not be rejected as
	// unknown.
	var docs []any
	var walkSchema func(node map[string]any, wrap func(any) any)
	walkSchema = func(node map[string]any, wrap func(any) any) {
		for key, p := range objectProps(root, node) {
			key, p := key, p.(map[string]any)
			here := func(v any) any { return wrap(map[string]any{key: v}) }
			docs = append(docs, here(nil))
			if objectProps(root, p) != nil {
				walkSchema(p, here)
			}
			if ap, ok := p["additionalProperties"].(map[string]any); ok && objectProps(root, ap) != nil {
				walkSchema(ap, func(v any) any { return here(map[string]any{"x1": v}) })
			}
			if items, ok := p["items"].(map[string]any); ok && objectProps(root, items) != nil {
				walkSchema(items, func(v any) any { return here([]any{v}) })
			}
		}
	}
	walkSchema(root, func(v any) any { return v })
	if len(docs) < 60 {
		t.Fatalf("walked only %d keys of the schema", len(docs))
	}
	for _, doc := range docs {
		b, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		_, err = parse(t, string(b))
		var e *Error
		if errors.As(err, &e) {
			for _, p := range e.Problems {
				if strings.Contains(p.Message, "unknown key") {
					t.Errorf("schema allows what the loader rejects: %s\n%s", p, b)
				}
			}
		}
	}
}
