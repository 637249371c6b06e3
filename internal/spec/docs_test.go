package spec

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// docBlock is one fenced YAML block of a Markdown file.
type docBlock struct {
	file   string
	line   int    // line of the opening fence
	marker string // the <!-- ... --> comment on the line before, if any
	body   string
}

var fence = regexp.MustCompile("^\\s*```\\s*(\\S*)\\s*$")

// yamlBlocks extracts the ```yaml / ```yml blocks of a Markdown file with
// the HTML comment written just before each (blank lines between allowed).
func yamlBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []docBlock
	var cur *docBlock
	lastComment := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		m := fence.FindStringSubmatch(line)
		switch {
		case cur != nil && m != nil && m[1] == "":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.body += line + "\n"
		case m != nil && (m[1] == "yaml" || m[1] == "yml"):
			cur = &docBlock{file: path, line: n, marker: lastComment}
			lastComment = ""
		case m != nil:
			// Another language's block: skip it whole.
			for sc.Scan() {
				n++
				if fm := fence.FindStringSubmatch(sc.Text()); fm != nil && fm[1] == "" {
					break
				}
			}
			lastComment = ""
		case strings.HasPrefix(strings.TrimSpace(line), "<!--"):
			lastComment = strings.TrimSpace(line)
		case strings.TrimSpace(line) != "":
			lastComment = ""
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// marker parses "<!-- spec-fragment: KIND; files: a, b -->" or
// "<!-- not-a-spec -->".
func parseMarker(m string) (kind string, files []string) {
	m = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(m, "<!--"), "-->"))
	if m == "not-a-spec" {
		return "not-a-spec", nil
	}
	rest, ok := strings.CutPrefix(m, "spec-fragment:")
	if !ok {
		return "", nil
	}
	parts := strings.Split(rest, ";")
	kind = strings.TrimSpace(parts[0])
	for _, p := range parts[1:] {
		if fs, ok := strings.CutPrefix(strings.TrimSpace(p), "files:"); ok {
			for _, f := range strings.Split(fs, ",") {
				files = append(files, strings.TrimSpace(f))
			}
		}
	}
	return kind, files
}

// dedent removes the indentation common to every non-blank line.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		ind := len(l) - len(strings.TrimLeft(l, " "))
		if common < 0 || ind < common {
			common = ind
		}
	}
	for i, l := range lines {
		if len(l) >= common && common > 0 {
			lines[i] = l[common:]
		}
	}
	return strings.Join(lines, "\n")
}

func indent(s, by string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = by + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// topKeys are the top-level keys of a YAML mapping document.
func topKeys(t *testing.T, src string) map[string]bool {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(src), &m); err != nil {
		return nil
	}
	keys := map[string]bool{}
	for k := range m {
		keys[k] = true
	}
	return keys
}

// specOf turns a doc block into a whole berth.yaml as its marker says.
func specOf(t *testing.T, b docBlock) (src string, files []string, ok bool) {
	kind, files := parseMarker(b.marker)
	switch kind {
	case "not-a-spec":
		return "", nil, false
	case "":
		return b.body, files, true
	case "top":
		body := dedent(b.body)
		keys := topKeys(t, body)
		if !keys["project"] {
			body = "project: docs\n" + body
		}
		if !keys["services"] && !keys["services_from"] {
			body += "services:\n  example: {run: ./example}\n"
		}
		return body, files, true
	case "service":
		body := dedent(b.body)
		keys := topKeys(t, body)
		if !keys["run"] && !keys["image"] && !keys["build"] {
			body = "run: ./example\n" + body
		}
		return "project: docs\nservices:\n  example:\n" + indent(body, "    "), files, true
	}
	t.Errorf("%s:%d: unknown marker %q: use <!-- spec-fragment: top|service[; files: a, b] --> or <!-- not-a-spec -->", b.file, b.line, b.marker)
	return "", nil, false
}

// TestDocs_EveryYAMLExampleIsAValidSpec extracts every YAML block of
// README.md and docs/*.md and loads it as a berth.yaml: as written, or as
// the fragment its marker comment says it is. An example must load with
// no problem and no warning.
func TestDocs_EveryYAMLExampleIsAValidSpec(t *testing.T) {
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, "../../README.md")
	checked := 0
	for _, doc := range docs {
		for _, b := range yamlBlocks(t, doc) {
			name := fmt.Sprintf("%s:%d", strings.TrimPrefix(b.file, "../../"), b.line)
			t.Run(name, func(t *testing.T) {
				src, files, ok := specOf(t, b)
				if !ok {
					return
				}
				checked++
				dir := t.TempDir()
				for _, f := range files {
					p := filepath.Join(dir, f)
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, nil, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				s, err := Parse(filepath.Join(dir, "berth.yaml"), []byte(src))
				if err != nil {
					t.Fatalf("%s: the example is not a valid spec (mark a fragment with <!-- spec-fragment: top|service -->):\n%v\n--- as loaded:\n%s", name, err, src)
				}
				for _, w := range s.Warnings {
					t.Errorf("%s: warning: %s", name, w)
				}
			})
		}
	}
	if checked < 10 {
		t.Errorf("checked only %d examples: is the extraction broken?", checked)
	}
}

func TestYAMLBlocks_FindsMarkersAndSkipsOtherLanguages(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.md")
	src := "# t\n\n<!-- spec-fragment: service -->\n\n```yaml\na: 1\n```\n\n```sh\n```yaml\n```\n\ntext\n```yml\nb: 2\n```\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got := yamlBlocks(t, p)
	if len(got) != 2 || got[0].marker != "<!-- spec-fragment: service -->" || got[0].body != "a: 1\n" || got[1].marker != "" || got[1].body != "b: 2\n" {
		t.Errorf("blocks = %+v", got)
	}
}

// compiledSchema compiles Schema() with a JSON Schema validator.
func compiledSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatalf("compile the schema: %v", err)
	}
	return s
}

// schemaInstance is a YAML document as the JSON value editors validate.
func schemaInstance(t *testing.T, src string) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(src), &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("YAML as JSON: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// TestSchema_AcceptsWhatTheLoaderAccepts validates, with a JSON Schema
// validator, every doc example and the full test spec the loader accepts:
// an editor using schema/berth.schema.json must not flag a valid spec.
// And specs the loader refuses for a value the schema can express are
// refused by the schema too.
func TestSchema_AcceptsWhatTheLoaderAccepts(t *testing.T) {
	sch := compiledSchema(t)
	var srcs []string
	full, err := os.ReadFile("testdata/full/berth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srcs = append(srcs, string(full))
	docs, _ := filepath.Glob("../../docs/*.md")
	for _, doc := range append(docs, "../../README.md") {
		for _, b := range yamlBlocks(t, doc) {
			if src, _, ok := specOf(t, b); ok {
				srcs = append(srcs, src)
			}
		}
	}
	srcs = append(srcs, `project: p
services:
  db: {image: postgres:16, health: {tcp: true}, volumes: [data:/d, "./x:/y:ro"], ports: [5432, "15432:5432", "127.0.0.1:1:2/udp"]}
  w: {run: x, health: none, heal: {max_restarts: 2, window: 1m}, max_count: 5, scale: {min: 0, max: 5, target: {p99: 300ms}, up_cooldown: 0}}
  c: {run: x, health: {command: [true]}, deploy: {strategy: bluegreen, steps: [pause], bake: 1m}}
`)
	for i, src := range srcs {
		if err := sch.Validate(schemaInstance(t, src)); err != nil {
			t.Errorf("spec %d is refused by the schema:\n%v\n--- spec:\n%s", i, err, src)
		}
	}
	for _, bad := range []string{
		"project: p\nservices: {a: {run: x, health: nope}}\n",
		"project: p\nservices: {a: {image: x, volumes: [data]}}\n",
		"project: p\nservices: {a: {image: x, ports: [\"0.0.0.0:80:80\"]}}\n",
		"project: p\nmax_count: 0\nservices: {a: {run: x}}\n",
		"project: p\nservices: {a: {run: x, scale: {max: 2, target: {rps: 3}}}}\n",
	} {
		if _, err := parse(t, bad); err == nil {
			t.Errorf("the loader accepts %q", bad)
		}
		if err := sch.Validate(schemaInstance(t, bad)); err == nil {
			t.Errorf("the schema accepts what the loader refuses:\n%s", bad)
		}
	}
}
