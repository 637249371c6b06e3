package router

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strconv"
)

// errBadResponse marks a response head the router refuses to forward.
var errBadResponse = errors.New("malformed response from target")

// upResponse is a target's final response: its status and framing. Its
// end-to-end headers were stored straight into the client's header map
// while parsing, so the response is never copied.
type upResponse struct {
	status int
	length int64 // Content-Length, or -1 when the body ends with its last chunk or the connection
	close  bool  // the connection cannot carry another request
	body   upBody
}

// Body framing modes of upBody.
const (
	bodyNone = iota
	bodyLength
	bodyChunked
	bodyUntilClose
)

// upBody reads a response body off the connection's buffer. A chunked
// body's trailers are stored, once it ends, in the client's header map
// under http.TrailerPrefix so the server sends them as trailers.
type upBody struct {
	br      *bufio.Reader
	mode    int
	left    int64     // bodyLength: bytes still to read
	chunks  io.Reader // bodyChunked
	trailer http.Header
	eof     bool // read to its end; the connection may be reused
}

func (b *upBody) Read(p []byte) (int, error) {
	switch b.mode {
	case bodyNone:
		b.eof = true
		return 0, io.EOF
	case bodyLength:
		if b.left <= 0 {
			b.eof = true
			return 0, io.EOF
		}
		if int64(len(p)) > b.left {
			p = p[:b.left]
		}
		n, err := b.br.Read(p)
		b.left -= int64(n)
		if b.left == 0 {
			b.eof = true
			return n, io.EOF
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	case bodyChunked:
		n, err := b.chunks.Read(p)
		if err == io.EOF {
			if terr := readFields(b.br, b.trailer, http.TrailerPrefix); terr != nil {
				return n, terr
			}
			b.eof = true
		}
		return n, err
	default: // bodyUntilClose
		n, err := b.br.Read(p)
		if err == io.EOF {
			b.eof = true
		}
		return n, err
	}
}

// readResponse reads response heads until a final one, skipping interim
// 1xx responses (100 Continue, 103 Early Hints), and stores its
// end-to-end headers in h. head is the request method being HEAD.
func readResponse(br *bufio.Reader, h http.Header, head bool) (upResponse, error) {
	for range 16 {
		line, err := readLine(br)
		if err != nil {
			return upResponse{}, err
		}
		status, minor, err := parseStatusLine(line)
		if err != nil {
			return upResponse{}, err
		}
		if status >= 100 && status < 200 {
			if status == http.StatusSwitchingProtocols {
				return upResponse{}, fmt.Errorf("%w: 101 to a request that asked for no upgrade", errBadResponse)
			}
			if err := readFields(br, nil, ""); err != nil {
				return upResponse{}, err
			}
			continue
		}
		return readHead(br, h, head, status, minor)
	}
	return upResponse{}, fmt.Errorf("%w: too many interim responses", errBadResponse)
}

// readHead reads the header fields of a final response and decides how
// its body is framed (RFC 9112 §6.3).
func readHead(br *bufio.Reader, h http.Header, head bool, status, minor int) (upResponse, error) {
	resp := upResponse{status: status, length: -1, close: minor == 0}
	var (
		chunked, sawLength, sawTE bool
		connTokens                []byte
	)
	for {
		line, err := readLine(br)
		if err != nil {
			return resp, err
		}
		if len(line) == 0 {
			break
		}
		k, v, err := splitField(line)
		if err != nil {
			return resp, err
		}
		switch k {
		case "Content-Length":
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || n < 0 || (sawLength && n != resp.length) {
				return resp, fmt.Errorf("%w: bad Content-Length %q", errBadResponse, v)
			}
			if sawLength {
				continue
			}
			sawLength, resp.length = true, n
		case "Transfer-Encoding":
			if sawTE || !bytes.EqualFold(v, []byte("chunked")) {
				return resp, fmt.Errorf("%w: unsupported Transfer-Encoding %q", errBadResponse, v)
			}
			sawTE, chunked = true, true
			continue
		case "Connection":
			for tok := range bytes.SplitSeq(v, []byte(",")) {
				tok = bytes.TrimSpace(tok)
				switch {
				case bytes.EqualFold(tok, []byte("close")):
					resp.close = true
				case bytes.EqualFold(tok, []byte("keep-alive")):
					if minor == 0 {
						resp.close = false
					}
				}
			}
			connTokens = append(append(connTokens, v...), ',')
			continue
		case "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Upgrade":
			continue // hop-by-hop
		}
		h[k] = append(h[k], string(v))
	}
	if connTokens != nil {
		removeConnectionTokens(h, http.Header{"Connection": {string(connTokens)}})
	}
	switch {
	case head || status == http.StatusNoContent || status == http.StatusNotModified:
		resp.body.mode = bodyNone
		if !sawLength {
			resp.length = 0
		}
	case chunked:
		delete(h, "Content-Length")
		resp.length = -1
		resp.body.mode = bodyChunked
		resp.body.chunks = httputil.NewChunkedReader(br)
		resp.body.trailer = h
	case sawLength:
		resp.body.mode = bodyLength
		resp.body.left = resp.length
	default:
		resp.body.mode = bodyUntilClose
		resp.close = true
	}
	resp.body.br = br
	return resp, nil
}

// readLine returns the next line without its CRLF (or LF). The slice is
// valid until the next read from br.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: header line longer than %d bytes", errBadResponse, br.Size())
		}
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// parseStatusLine parses "HTTP/1.x NNN reason".
func parseStatusLine(line []byte) (status, minor int, err error) {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' ||
		(line[7] != '0' && line[7] != '1') || (len(line) > 12 && line[12] != ' ') {
		return 0, 0, fmt.Errorf("%w: status line %q", errBadResponse, line)
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, 0, fmt.Errorf("%w: status line %q", errBadResponse, line)
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 {
		return 0, 0, fmt.Errorf("%w: status line %q", errBadResponse, line)
	}
	return status, int(line[7] - '0'), nil
}

// readFields reads header fields up to the blank line, storing them in h
// (when not nil) under prefix+canonical name.
func readFields(br *bufio.Reader, h http.Header, prefix string) error {
	for {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		k, v, err := splitField(line)
		if err != nil {
			return err
		}
		if h != nil {
			h[prefix+k] = append(h[prefix+k], string(v))
		}
	}
}

// splitField splits "Name: value", canonicalising the name in place and
// trimming the value. Names must be tokens and values free of control
// bytes, so nothing can smuggle a header or a response to the client.
func splitField(line []byte) (string, []byte, error) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return "", nil, fmt.Errorf("%w: header line %q", errBadResponse, line)
	}
	name, v := line[:i], bytes.Trim(line[i+1:], " \t")
	upper := true
	for j, c := range name {
		if !isTokenByte(c) {
			return "", nil, fmt.Errorf("%w: header name %q", errBadResponse, name)
		}
		switch {
		case upper && 'a' <= c && c <= 'z':
			name[j] = c - ('a' - 'A')
		case !upper && 'A' <= c && c <= 'Z':
			name[j] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
	for _, c := range v {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return "", nil, fmt.Errorf("%w: control byte in header %q", errBadResponse, name)
		}
	}
	return internKey(name), v, nil
}

func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0
}

// commonKeys interns frequent response header names so parsing them
// allocates nothing.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept-Ranges", "Access-Control-Allow-Origin", "Age", "Cache-Control", "Connection",
		"Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
		"Content-Location", "Content-Range", "Content-Security-Policy", "Content-Type", "Date",
		"Etag", "Expires", "Keep-Alive", "Last-Modified", "Link", "Location", "Retry-After",
		"Server", "Set-Cookie", "Strict-Transport-Security", "Trailer", "Transfer-Encoding",
		"Vary", "Www-Authenticate", "X-Content-Type-Options", "X-Frame-Options", "X-Request-Id",
		"Traceparent",
	} {
		m[k] = k
	}
	return m
}()

func internKey(b []byte) string {
	if s, ok := commonKeys[string(b)]; ok {
		return s
	}
	return string(b)
}
