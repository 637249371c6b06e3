package spec

import (
	"encoding/json"
	"reflect"
)

// SchemaID is the $id of berth.yaml's JSON Schema.
const SchemaID = "https://berth.dev/schema/berth.schema.json"

// Schema returns the JSON Schema (draft 2020-12) of berth.yaml, generated
// from the same types and key metadata the loader uses, so it accepts the
// same keys. Objects set additionalProperties false, so editors flag
// unknown keys. schema/berth.schema.json holds the same bytes.
func Schema() []byte {
	g := &schemaGen{defs: map[string]any{
		"duration": map[string]any{
			"description": "A duration such as 500ms, 30s, 1m or 1h30m (or 0).",
			"oneOf": []any{
				map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`},
				map[string]any{"const": 0},
			},
		},
		"percent": map[string]any{
			"description": "A percentage such as 10% or 0.5%; a bare number means percent.",
			"oneOf": []any{
				map[string]any{"type": "string", "pattern": `^[0-9]+(\.[0-9]+)?%$`},
				map[string]any{"type": "number", "minimum": 0, "maximum": 100},
			},
		},
		"size": map[string]any{
			"description": "A byte count such as 512, 64k, 1m or 2g (powers of 1024), or unlimited.",
			"oneOf": []any{
				map[string]any{"type": "string", "pattern": `^([0-9]+ *([bB]|[kKmMgG]([iI]?[bB])?)?|unlimited)$`},
				map[string]any{"type": "integer", "minimum": 0},
			},
		},
		"volume": map[string]any{
			"description": "A mount: name:/path (a named volume, kept across deploys) or ./dir:/path, /dir:/path (a bind mount), optionally followed by :ro.",
			"type":        "string",
			"pattern":     `^[^:]+:/[^:]*(:(ro|rw))?$`,
		},
		"port": map[string]any{
			"description": "A port published on loopback: CONTAINER_PORT, HOST_PORT:CONTAINER_PORT or 127.0.0.1:HOST_PORT:CONTAINER_PORT, optionally with /tcp or /udp.",
			"oneOf": []any{
				map[string]any{"type": "string", "pattern": `^((127\.0\.0\.1|\[::1\]):)?([0-9]{1,5}:)?[0-9]{1,5}(/(tcp|udp))?$`},
				map[string]any{"type": "integer", "minimum": 1, "maximum": 65535},
			},
		},
		"step": map[string]any{
			"description": "A canary step: a whole percentage from 1% to 100%, or pause (a manual gate released by berth promote).",
			"oneOf": []any{
				map[string]any{"type": "string", "pattern": `^[0-9]{1,3}%$`},
				map[string]any{"type": "integer", "minimum": 1, "maximum": 100},
				map[string]any{"const": "pause"},
			},
		},
	}}
	root := g.object(reflect.TypeFor[Spec]())
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "berth.yaml"
	root["description"] = "The berth deployment spec. See docs/spec.md."
	root["required"] = []string{"project"}
	root["patternProperties"] = map[string]any{"^x-": map[string]any{"description": "Extension keys are ignored (use them for YAML anchors)."}}
	root["$defs"] = g.defs
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		panic("spec: schema: " + err.Error())
	}
	return append(b, '\n')
}

// schemaGen builds schemas of Go types into shared $defs.
type schemaGen struct{ defs map[string]any }

// scalarValue is what an env-like map accepts as a value.
var scalarValue = map[string]any{"type": []string{"string", "number", "boolean", "null"}}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	for _, f := range fieldsOf(t) {
		s := g.typ(f.typ)
		m := metaOf(t, f.key)
		if m.desc != "" {
			s["description"] = m.desc
		}
		if len(m.enum) > 0 {
			s["enum"] = m.enum
		}
		if m.min != nil {
			s["minimum"] = *m.min
		}
		if m.max != nil {
			s["maximum"] = *m.max
		}
		if m.keys != nil {
			s["propertyNames"] = map[string]any{"pattern": m.keys.String()}
		}
		if m.scalarItems {
			s["items"] = map[string]any{"type": []string{"string", "number", "boolean"}}
		}
		props[f.key] = s
	}
	return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
}

// typ returns a fresh schema for t (callers may add keys to it).
func (g *schemaGen) typ(t reflect.Type) map[string]any {
	switch t {
	case durationType:
		return ref("duration")
	case percentType:
		return ref("percent")
	case stepType:
		return ref("step")
	case sizeType:
		return ref("size")
	case volumeType:
		return ref("volume")
	case portType:
		return ref("port")
	case healthPtrType:
		if _, ok := g.defs["Health"]; !ok {
			g.defs["Health"] = map[string]any{} // placeholder against recursion
			g.defs["Health"] = g.object(t.Elem())
		}
		return map[string]any{"oneOf": []any{
			map[string]any{"const": "none", "description": "No health check: a running task counts as healthy (workers)."},
			ref("Health"),
		}}
	case buildPtrType:
		if _, ok := g.defs["Build"]; !ok {
			g.defs["Build"] = map[string]any{
				"oneOf": []any{
					map[string]any{"type": "string", "description": "A shell command producing $BERTH_ARTIFACT."},
					g.object(t.Elem()),
				},
			}
		}
		return ref("Build")
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.typ(t.Elem())
	case reflect.Struct:
		if _, ok := g.defs[t.Name()]; !ok {
			g.defs[t.Name()] = map[string]any{} // placeholder against recursion
			g.defs[t.Name()] = g.object(t)
		}
		return ref(t.Name())
	case reflect.Map:
		if t.Elem().Kind() == reflect.String {
			return map[string]any{"type": "object", "additionalProperties": scalarValue}
		}
		return map[string]any{"type": "object", "additionalProperties": g.typ(t.Elem())}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.typ(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int:
		return map[string]any{"type": "integer"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	}
	panic("spec: no schema for " + t.String())
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/$defs/" + name} }
