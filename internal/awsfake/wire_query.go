package awsfake

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

const (
	elbVersion = "2015-12-01"
	stsVersion = "2011-06-15"
)

// qmap is an awsQuery request decoded into a tree: values are string, qmap
// or []any (of string or qmap). "Name.member.N" keys become lists ordered
// by N; "Name.entry.N.key/value" keys become lists of {key, value} qmaps.
type qmap map[string]any

// queryHandler answers one awsQuery operation: the decoded form in, the
// contents of <OpResult> out (nil for an empty result).
type queryHandler func(in qmap) (*xmlNode, error)

// parseQueryForm decodes awsQuery form fields into a qmap. It ignores
// malformed keys (empty segments, out-of-range list indexes) rather than
// failing: the SDK never sends them.
func parseQueryForm(form url.Values) qmap {
	root := map[string]any{}
	for k, vs := range form {
		if len(vs) == 0 || k == "" {
			continue
		}
		parts := strings.Split(k, ".")
		cur := root
		for i, p := range parts {
			if p == "" {
				break
			}
			if i == len(parts)-1 {
				if _, isMap := cur[p].(map[string]any); !isMap {
					cur[p] = vs[0]
				}
				break
			}
			next, isMap := cur[p].(map[string]any)
			if !isMap {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
	}
	out := qmap{}
	for k, v := range root { // the root is a structure, never a list
		out[k] = normalizeQuery(v)
	}
	return out
}

// normalizeQuery turns {member: {1: a, 2: b}} into [a, b] and plain maps
// into qmaps, recursively.
func normalizeQuery(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if len(m) == 1 {
		for k, inner := range m {
			if k != "member" && k != "entry" {
				break
			}
			im, ok := inner.(map[string]any)
			if !ok {
				break
			}
			idx := make([]int, 0, len(im))
			byIdx := map[int]any{}
			for ks, iv := range im {
				n, err := strconv.Atoi(ks)
				if err != nil || n < 1 || n > 10000 {
					continue
				}
				idx = append(idx, n)
				byIdx[n] = iv
			}
			sort.Ints(idx)
			list := make([]any, 0, len(idx))
			for _, n := range idx {
				list = append(list, normalizeQuery(byIdx[n]))
			}
			return list
		}
	}
	out := qmap{}
	for k, iv := range m {
		out[k] = normalizeQuery(iv)
	}
	return out
}

func (q qmap) str(key string) string {
	s, _ := q[key].(string)
	return s
}

func (q qmap) has(key string) bool {
	_, ok := q[key]
	return ok
}

func (q qmap) int(key string) (int, bool) {
	n, err := strconv.Atoi(q.str(key))
	return n, err == nil
}

func (q qmap) m(key string) qmap {
	m, _ := q[key].(qmap)
	return m
}

func (q qmap) list(key string) []qmap {
	var out []qmap
	l, _ := q[key].([]any)
	for _, v := range l {
		if m, ok := v.(qmap); ok {
			out = append(out, m)
		}
	}
	return out
}

func (q qmap) strs(key string) []string {
	var out []string
	l, _ := q[key].([]any)
	for _, v := range l {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// xmlNode is an element of an awsQuery XML response.
type xmlNode struct {
	Name     string
	Text     string
	Children []*xmlNode
}

// el builds an element from children; nil children are skipped.
func el(name string, children ...*xmlNode) *xmlNode {
	n := &xmlNode{Name: name}
	for _, c := range children {
		if c != nil {
			n.Children = append(n.Children, c)
		}
	}
	return n
}

// txt builds a text element; an empty value gives nil (omitted).
func txt(name, value string) *xmlNode {
	if value == "" {
		return nil
	}
	return &xmlNode{Name: name, Text: value}
}

// members builds <name><member>…</member>…</name>; each item is renamed.
func members(name string, items ...*xmlNode) *xmlNode {
	n := &xmlNode{Name: name}
	for _, it := range items {
		if it == nil {
			continue
		}
		it.Name = "member"
		n.Children = append(n.Children, it)
	}
	return n
}

// fromQuery renders a decoded request subtree back as response XML (the
// field names are the same on both sides of awsQuery).
func fromQuery(name string, v any) *xmlNode {
	switch t := v.(type) {
	case string:
		return &xmlNode{Name: name, Text: t}
	case []any:
		n := &xmlNode{Name: name}
		for _, it := range t {
			c := fromQuery("member", it)
			n.Children = append(n.Children, c)
		}
		return n
	case qmap:
		n := &xmlNode{Name: name}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			n.Children = append(n.Children, fromQuery(k, t[k]))
		}
		return n
	}
	return nil
}

func (n *xmlNode) write(b *bytes.Buffer) {
	b.WriteString("<" + n.Name + ">")
	if len(n.Children) == 0 {
		_ = xml.EscapeText(b, []byte(n.Text))
	}
	for _, c := range n.Children {
		c.write(b)
	}
	b.WriteString("</" + n.Name + ">")
}

func writeQueryResult(w http.ResponseWriter, op string, result *xmlNode) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<" + op + "Response>")
	if result == nil {
		result = el(op + "Result")
	}
	result.Name = op + "Result"
	result.write(&b)
	b.WriteString("<ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>")
	b.WriteString("</" + op + "Response>")
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write(b.Bytes())
}

func writeQueryError(w http.ResponseWriter, status int, code, message string) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<ErrorResponse>")
	el("Error", txt("Type", "Sender"), txt("Code", code), &xmlNode{Name: "Message", Text: message}).write(&b)
	b.WriteString("<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>")
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
