package router

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strings"
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
	// trailerLimit bounds the trailer section of a chunked body.
	trailerLimit int
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
			budget := b.trailerLimit
			if terr := readTrailers(b.br, b.trailer, &budget); terr != nil {
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

// errHeadTooLarge marks a response head (or trailer section) larger than
// the configured maximum; the client gets 502 and the connection is closed.
var errHeadTooLarge = fmt.Errorf("%w: response header too large", errBadResponse)

// readResponse reads response heads until a final one, skipping interim
// 1xx responses (100 Continue, 103 Early Hints), stores its end-to-end
// headers in h and its status and framing in resp. head is the request
// method being HEAD. limit bounds the bytes of all heads read, status
// lines included (and, separately, the trailers of a chunked body).
func readResponse(resp *upResponse, br *bufio.Reader, h http.Header, head bool, limit int) error {
	budget := limit
	for range 16 {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		if budget -= len(line) + 2; budget < 0 {
			return errHeadTooLarge
		}
		status, minor, err := parseStatusLine(line)
		if err != nil {
			return err
		}
		if status >= 100 && status < 200 {
			if status == http.StatusSwitchingProtocols {
				return fmt.Errorf("%w: 101 to a request that asked for no upgrade", errBadResponse)
			}
			if err := readFields(br, nil, "", &budget, false); err != nil {
				return err
			}
			continue
		}
		*resp = upResponse{status: status, length: -1, close: minor == 0}
		return readHead(resp, br, h, head, minor, budget, limit)
	}
	return fmt.Errorf("%w: too many interim responses", errBadResponse)
}

// fieldReader yields the header lines of a response head. When the whole
// head is already buffered (the usual case) it is copied into one string
// that every value is a substring of, with one backing array for the value
// slices: two allocations per response instead of two per field.
type fieldReader struct {
	br     *bufio.Reader
	budget int      // head bytes still allowed
	whole  bool     // the head was buffered whole and is parsed from head
	head   string   // the remaining field lines, each ending in LF
	vals   []string // backing for single-value slices
}

func (fr *fieldReader) start() {
	buf, _ := fr.br.Peek(fr.br.Buffered())
	if len(buf) >= 2 && buf[0] == '\r' && buf[1] == '\n' && fr.budget >= 2 {
		fr.whole = true
		_, _ = fr.br.Discard(2)
		return
	}
	// The head ends at the first empty line; a bare-LF one (tolerated)
	// takes the line-by-line path.
	end := bytes.Index(buf, []byte("\n\r\n"))
	if end < 0 || bytes.Contains(buf[:end], []byte("\n\n")) || (len(buf) > 0 && buf[0] == '\n') {
		return
	}
	if end+3 > fr.budget {
		return // the line-by-line path reports the overflow
	}
	fr.budget -= end + 3
	fr.whole = true
	fr.head = string(buf[:end+1])
	fr.vals = make([]string, bytes.Count(buf[:end+1], []byte("\n")))
	_, _ = fr.br.Discard(end + 3)
}

// next returns the next field's canonical name and value, or ok=false at
// the end of the head.
func (fr *fieldReader) next() (k, v string, ok bool, err error) {
	if !fr.whole {
		line, err := readLine(fr.br)
		if err == nil {
			if fr.budget -= len(line) + 2; fr.budget < 0 {
				err = errHeadTooLarge
			}
		}
		if err != nil || len(line) == 0 {
			return "", "", false, err
		}
		k, vb, err := splitField(line)
		return k, string(vb), err == nil, err
	}
	if fr.head == "" {
		return "", "", false, nil
	}
	i := strings.IndexByte(fr.head, '\n')
	line := fr.head[:i]
	fr.head = fr.head[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return splitFieldString(line)
}

// values returns a one-element slice holding v.
func (fr *fieldReader) values(v string) []string {
	if len(fr.vals) == 0 {
		return []string{v}
	}
	fr.vals[0] = v
	out := fr.vals[:1:1]
	fr.vals = fr.vals[1:]
	return out
}

// readHead reads the header fields of a final response and decides how
// its body is framed (RFC 9112 §6.3).
//
// Framing anomalies are errors, never guesses: Content-Length that is not
// plain digits (RFC 9110 §8.6: no sign, no spaces, no list of different
// values), a Transfer-Encoding other than a single "chunked", and both
// framing headers together (RFC 9112 §6.3 rule 3 lets a proxy treat that
// as an error; the connection could not be trusted afterwards).
func readHead(resp *upResponse, br *bufio.Reader, h http.Header, head bool, minor, budget, limit int) error {
	var (
		chunked, sawLength, sawTE bool
		connTokens                string
	)
	fr := fieldReader{br: br, budget: budget}
	fr.start()
	for {
		k, v, ok, err := fr.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		switch k {
		case "Content-Length":
			n, ok := parseContentLength(v)
			if !ok || (sawLength && n != resp.length) {
				return fmt.Errorf("%w: bad Content-Length %q", errBadResponse, v)
			}
			if sawLength {
				continue
			}
			sawLength, resp.length = true, n
		case "Transfer-Encoding":
			if sawTE || !strings.EqualFold(v, "chunked") {
				return fmt.Errorf("%w: unsupported Transfer-Encoding %q", errBadResponse, v)
			}
			sawTE, chunked = true, true
			continue
		case "Connection":
			for tok := range strings.SplitSeq(v, ",") {
				tok = strings.TrimSpace(tok)
				switch {
				case strings.EqualFold(tok, "close"):
					resp.close = true
				case strings.EqualFold(tok, "keep-alive"):
					if minor == 0 {
						resp.close = false
					}
				}
			}
			connTokens += v + ","
			continue
		case "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Upgrade":
			continue // hop-by-hop
		}
		if vv, seen := h[k]; seen {
			h[k] = append(vv, v)
		} else {
			h[k] = fr.values(v)
		}
	}
	if sawLength && sawTE {
		return fmt.Errorf("%w: both Content-Length and Transfer-Encoding", errBadResponse)
	}
	if sawTE && minor == 0 {
		return fmt.Errorf("%w: Transfer-Encoding in an HTTP/1.0 response", errBadResponse)
	}
	if connTokens != "" {
		removeConnectionTokens(h, http.Header{"Connection": {connTokens}})
	}
	resp.body = upBody{br: br, trailerLimit: limit}
	switch {
	case head || resp.status == http.StatusNoContent || resp.status == http.StatusNotModified:
		resp.body.mode = bodyNone
		if !sawLength {
			resp.length = 0
		}
		if resp.status != http.StatusNotModified && !head && (sawLength && resp.length != 0 || sawTE) {
			// A 204 that announces a body: whatever follows cannot be
			// framed, so the connection is not reused.
			resp.close = true
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
	return nil
}

// readLine returns the next line without its CRLF (or LF). The slice is
// valid until the next read from br.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, _, err := readTerminatedLine(br)
	return line, err
}

// readTerminatedLine is readLine that also says whether the line ended in
// CRLF rather than a bare LF.
func readTerminatedLine(br *bufio.Reader) (line []byte, crlf bool, err error) {
	line, err = br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, false, fmt.Errorf("%w: header line longer than %d bytes", errBadResponse, br.Size())
		}
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, false, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1], true, nil
	}
	return line, false, nil
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
// (when not nil) under prefix+canonical name, and charging their bytes to
// budget.
func readFields(br *bufio.Reader, h http.Header, prefix string, budget *int, crlf bool) error {
	for {
		line, ended, err := readTerminatedLine(br)
		if err != nil {
			return err
		}
		if crlf && !ended {
			return fmt.Errorf("%w: trailer line not ended by CRLF", errBadResponse)
		}
		if *budget -= len(line) + 2; *budget < 0 {
			return errHeadTooLarge
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

// readTrailers reads a chunked body's trailer section into h under
// http.TrailerPrefix, dropping fields a trailer must not carry.
func readTrailers(br *bufio.Reader, h http.Header, budget *int) error {
	t := http.Header{}
	// A trailer section ends in CRLF lines only: net/http refuses one a
	// bare LF ends, and the router must not frame a body it would not.
	if err := readFields(br, t, "", budget, true); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the body ended before its trailer section
		}
		return err
	}
	for k, vv := range t {
		if forbiddenTrailer(k) {
			continue
		}
		h[http.TrailerPrefix+k] = append(h[http.TrailerPrefix+k], vv...)
	}
	return nil
}

// forbiddenTrailer reports whether a field may not be sent as a trailer
// (RFC 9110 §6.5.1: framing, routing, request modifiers, authentication,
// response control and content metadata), as net/http's list plus cookies
// and Location.
func forbiddenTrailer(k string) bool {
	switch k {
	case "Authorization", "Cache-Control", "Connection", "Content-Encoding", "Content-Length",
		"Content-Range", "Content-Type", "Cookie", "Expect", "Host", "Keep-Alive", "Location",
		"Max-Forwards", "Pragma", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
		"Range", "Realm", "Set-Cookie", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Www-Authenticate":
		return true
	}
	return false
}

// parseContentLength accepts only 1*DIGIT (RFC 9110 §8.6), at most 18
// digits so it cannot overflow: no sign, no spaces, no hex.
func parseContentLength(v string) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
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
	if err := checkField(name, v); err != nil {
		return "", nil, err
	}
	canonicalize(name)
	return internKey(name), v, nil
}

// splitFieldString is splitField over a string; the name is a substring
// of line when already canonical.
func splitFieldString(line string) (k, v string, ok bool, err error) {
	i := strings.IndexByte(line, ':')
	if i <= 0 {
		return "", "", false, fmt.Errorf("%w: header line %q", errBadResponse, line)
	}
	name, v := line[:i], trimOWS(line[i+1:])
	if err := checkField(name, v); err != nil {
		return "", "", false, err
	}
	if s, ok := commonKeys[name]; ok {
		return s, v, true, nil
	}
	if !isCanonical(name) {
		b := []byte(name)
		canonicalize(b)
		return internKey(b), v, true, nil
	}
	return name, v, true, nil
}

// trimOWS trims the optional whitespace (SP, HTAB) around a field value.
func trimOWS(v string) string {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

func checkField[T string | []byte](name, v T) error {
	for i := 0; i < len(name); i++ {
		if !isTokenByte(name[i]) {
			return fmt.Errorf("%w: header name %q", errBadResponse, name)
		}
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return fmt.Errorf("%w: control byte in header %q", errBadResponse, name)
		}
	}
	return nil
}

// canonicalize rewrites a header name as http.CanonicalHeaderKey would.
func canonicalize(name []byte) {
	upper := true
	for j, c := range name {
		switch {
		case upper && 'a' <= c && c <= 'z':
			name[j] = c - ('a' - 'A')
		case !upper && 'A' <= c && c <= 'Z':
			name[j] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
}

func isCanonical(name string) bool {
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}

func isTokenByte(c byte) bool { return tokenBytes[c] }

// tokenBytes marks the bytes allowed in a header name (RFC 9110 tchar).
var tokenBytes = func() (t [256]bool) {
	for c := range 256 {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			t[c] = true
		}
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] = true
	}
	return t
}()

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
