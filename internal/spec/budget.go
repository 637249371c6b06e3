package spec

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Expansion budget. YAML aliases and merge keys (<<) let a few hundred
// bytes stand for billions of nodes; decoding walks the expanded tree, so
// before anything is decoded the loader counts how many nodes the document
// expands to and refuses one that expands to more than its budget.
const (
	// minExpansionBudget is the smallest budget, whatever the file's size.
	minExpansionBudget = 200_000
	// expansionRatio is how many times its own node count a document may
	// expand to through aliases and merge keys when that is more than
	// minExpansionBudget.
	expansionRatio = 4
)

// expansion counts the nodes of a YAML tree as decoding would see them
// (every alias and merge key expanded), memoizing the size of each node so
// the count costs one visit per distinct node however much it expands.
type expansion struct {
	limit int
	// size memoizes the expanded size of mapping and sequence nodes.
	size map[*yaml.Node]int
	// visits counts the nodes whose size was computed (not taken from
	// size); tests assert it stays linear in the file.
	visits int
	// at is the alias or merge key whose expansion crossed limit.
	at *yaml.Node
}

// countNodes is the number of distinct nodes written in the document.
func countNodes(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	c := 1
	for _, ch := range n.Content {
		c += countNodes(ch)
	}
	return c
}

// expansionBudget is the budget of a document with the given node count.
func expansionBudget(written int) int {
	return max(minExpansionBudget, expansionRatio*written)
}

// sizeOf returns the expanded size of n, saturating at limit+1.
func (e *expansion) sizeOf(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	if s, ok := e.size[n]; ok {
		return s
	}
	e.visits++
	var s int
	switch n.Kind {
	case yaml.AliasNode:
		s = e.sizeOf(n.Alias)
		if s > e.limit && e.at == nil {
			e.at = n
		}
	case yaml.ScalarNode:
		return 1
	default:
		s = 1
		for i, ch := range n.Content {
			c := e.sizeOf(ch)
			if n.Kind == yaml.MappingNode && i%2 == 0 && ch.Kind == yaml.ScalarNode && ch.Tag == "!!merge" {
				c = 1 // the << key itself; its value counts as its pairs
			}
			s = min(s+c, e.limit+1)
			if s > e.limit && e.at == nil {
				e.at = ch
			}
		}
	}
	if e.size == nil {
		e.size = map[*yaml.Node]int{}
	}
	e.size[n] = s
	return s
}

// checkExpansion reports a problem when top expands past its budget.
func checkExpansion(top *yaml.Node) (Problem, bool) {
	e := &expansion{limit: expansionBudget(countNodes(top))}
	if e.sizeOf(top) <= e.limit {
		return Problem{}, false
	}
	p := Problem{
		Message: fmt.Sprintf("the spec expands to more than %d YAML nodes through aliases and merge keys (<<)", e.limit),
		Hint:    "write the repeated values out, or use fewer nested anchors",
	}
	if e.at != nil {
		p.Line, p.Column = e.at.Line, e.at.Column
	}
	return p, true
}
