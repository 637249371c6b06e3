package router

import (
	"bytes"
	"sync/atomic"
)

// framingGuard follows the HTTP/1 requests a client sends on one
// connection — heads, Content-Length and chunked bodies, framed as
// net/http's server frames them — to find the first head whose framing is
// ambiguous. It only observes the bytes the server reads; when it cannot
// follow (an HTTP/2 preface, a head or chunk line it cannot parse, which
// the server rejects anyway) it stops.
type framingGuard struct {
	maxHead  int
	firstBad atomic.Int64 // index of the first ambiguous head; -1 none

	state int
	heads int64  // heads completed
	line  []byte // the current line, while in a line state
	hsize int    // bytes of the current head
	left  int64  // bytes of body or chunk data still to skip

	// Of the current head.
	first, http10, sawCL, sawTE, chunked bool
	cl                                   int64
}

// Guard states.
const (
	gHead = iota
	gBody
	gChunkSize
	gChunkData
	gChunkEnd
	gTrailer
	gDead
)

// scan follows p, the next bytes the server reads.
func (g *framingGuard) scan(p []byte) {
	for len(p) > 0 {
		switch g.state {
		case gDead:
			return
		case gBody, gChunkData:
			n := int64(len(p))
			if n > g.left {
				n = g.left
			}
			g.left -= n
			p = p[n:]
			if g.left == 0 {
				if g.state == gBody {
					g.state = gHead
				} else {
					g.state, g.left = gChunkEnd, 2
				}
			}
		case gChunkEnd: // the CRLF after chunk data
			c := p[0]
			p = p[1:]
			if (g.left == 2 && c != '\r') || (g.left == 1 && c != '\n') {
				g.state = gDead
				continue
			}
			if g.left--; g.left == 0 {
				g.state = gChunkSize
			}
		default: // line states
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				g.appendLine(p)
				return
			}
			var line []byte
			if len(g.line) == 0 { // the whole line is in p: no copy
				if g.grow(i) {
					return
				}
				line = p[:i]
			} else {
				g.appendLine(p[:i])
				if g.state == gDead {
					return
				}
				line = g.line
			}
			p = p[i+1:]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			g.endLine(line)
			g.line = g.line[:0]
		}
	}
}

func (g *framingGuard) appendLine(b []byte) {
	if g.grow(len(b)) {
		return
	}
	g.line = append(g.line, b...)
}

// grow accounts n more bytes of the current line and reports (and
// enters) the dead state when a line or head grows past its bound.
func (g *framingGuard) grow(n int) bool {
	g.hsize += n + 1
	if len(g.line)+n > 16<<10 || (g.state == gHead || g.state == gTrailer) && g.hsize > g.maxHead {
		g.state = gDead
		return true
	}
	return false
}

func (g *framingGuard) endLine(line []byte) {
	switch g.state {
	case gHead:
		g.headLine(line)
	case gChunkSize:
		size, ok := parseChunkSize(line)
		switch {
		case !ok:
			g.state = gDead
		case size == 0:
			g.state, g.hsize = gTrailer, 0
		default:
			g.state, g.left = gChunkData, size
		}
	case gTrailer:
		if len(line) == 0 {
			g.state = gHead
		}
	}
}

func (g *framingGuard) headLine(line []byte) {
	if !g.first {
		if len(line) == 0 {
			return // blank lines before a request line are skipped
		}
		if bytes.HasPrefix(line, []byte("PRI * HTTP/2")) {
			g.state = gDead // HTTP/2 with prior knowledge
			return
		}
		g.first = true
		g.http10 = bytes.HasSuffix(line, []byte(" HTTP/1.0"))
		return
	}
	if len(line) > 0 {
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			return // the server rejects it
		}
		name := line[:i]
		if len(name) != len("Content-Length") && len(name) != len("Transfer-Encoding") {
			return
		}
		v := bytes.Trim(line[i+1:], " \t")
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, ok := parseContentLength(string(v))
			if !ok || (g.sawCL && n != g.cl) {
				g.state = gDead // the server answers 400
				return
			}
			g.sawCL, g.cl = true, n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			g.sawTE = true
			g.chunked = bytes.EqualFold(v, []byte("chunked"))
		}
		return
	}
	// End of the head.
	idx := g.heads
	g.heads++
	sawCL, sawTE, chunked, http10, cl := g.sawCL, g.sawTE, g.chunked, g.http10, g.cl
	g.first, g.http10, g.sawCL, g.sawTE, g.chunked, g.cl, g.hsize = false, false, false, false, false, 0, 0
	switch {
	case sawTE && (sawCL || http10):
		g.firstBad.Store(idx)
		g.state = gDead
	case sawTE && !chunked:
		g.state = gDead // the server answers 501
	case sawTE:
		g.state = gChunkSize
	case cl > 0:
		g.state, g.left = gBody, cl
	}
}

// parseChunkSize parses a chunk-size line: hex digits, then optional
// whitespace and chunk extensions.
func parseChunkSize(line []byte) (int64, bool) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}
