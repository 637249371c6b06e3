package router

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// requestError is a client request the router refuses before routing it;
// failure answers it with status.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// checkRequest validates what the router writes into the request line and
// Host header of the forwarded request — over HTTP/2 these arrive as
// pseudo-headers that no HTTP/1.1 parser has checked — and normalises the
// path in place (req.URL and req.RequestURI), so routes match, and targets
// receive, the path a normalising backend would serve.
func (r *Router) checkRequest(req *http.Request) error {
	if req.Method == "" || !isToken(req.Method) {
		return badRequest("invalid method %q", req.Method)
	}
	if !validHost(req.Host) {
		return badRequest("invalid Host %q", req.Host)
	}
	if req.ProtoMajor == 1 && ambiguousFraming(req.Context()) {
		return badRequest("ambiguous framing: Transfer-Encoding with Content-Length or in HTTP/1.0")
	}
	if max := r.cfg.MaxRequestBodyBytes; max >= 0 && req.ContentLength > max {
		return &requestError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes is over the limit of %d (router: max_request_body)", req.ContentLength, max)}
	}
	if req.RequestURI == "*" && req.Method == http.MethodOptions {
		return nil
	}
	raw, query := req.RequestURI, ""
	if raw == "" || raw[0] != '/' { // absolute form, or a request built in-process
		raw, query = req.URL.EscapedPath(), req.URL.RawQuery
		if req.URL.ForceQuery || query != "" {
			query = "?" + query
		}
	} else if i := strings.IndexByte(raw, '?'); i >= 0 {
		raw, query = raw[:i], raw[i:]
	}
	if raw == "" || raw[0] != '/' {
		return badRequest("request target %q is not an absolute path", raw)
	}
	if i := badTargetByte(raw); i >= 0 {
		return badRequest("invalid byte %q in the request path", raw[i])
	}
	if i := badTargetByte(query); i >= 0 {
		return badRequest("invalid byte %q in the query", query[i])
	}
	clean, err := cleanPath(raw, r.cfg.EncodedSlashes)
	if err != nil {
		return err
	}
	if clean == raw && req.RequestURI != "" && req.RequestURI[0] == '/' {
		return nil // already normal: the common case allocates nothing
	}
	dec, err := url.PathUnescape(clean)
	if err != nil {
		return badRequest("invalid escape in the request path")
	}
	req.URL.Path, req.URL.RawPath = dec, clean
	req.RequestURI = clean + query
	return nil
}

// isToken reports whether s is an RFC 9110 token (a method or field name).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !tokenBytes[s[i]] {
			return false
		}
	}
	return s != ""
}

// validHost accepts what RFC 3986 allows in a host[:port] (reg-name,
// IPv4, [IPv6]) and nothing that could end a header line or a request
// line. An empty Host (an HTTP/1.0 request) is accepted.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if !hostBytes[h[i]] {
			return false
		}
	}
	return true
}

var hostBytes = func() (t [256]bool) {
	for c := range 256 {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			t[c] = true
		}
	}
	for _, c := range []byte("-._~!$&'()*+,;=:%[]") {
		t[c] = true
	}
	return t
}()

// badTargetByte returns the index of the first byte that may not appear
// in a request target (controls, space, DEL, '#'), or -1.
func badTargetByte(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '#' {
			return i
		}
	}
	return -1
}

// forwardHeaderName reports whether a client header name may be sent on:
// an RFC 9110 token, without '_' unless allowed (backends that read '_' as
// '-' would otherwise see Transfer_Encoding as a framing header).
func forwardHeaderName(k string, allowUnderscore bool) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !tokenBytes[c] || (c == '_' && !allowUnderscore) {
			return false
		}
	}
	return true
}

// validFieldValue reports whether v holds no byte that could end a header
// line (CR, LF, NUL).
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// cleanPath normalises an escaped absolute path as RFC 3986 §5.2.4 and
// nginx do: "." and ".." segments (also percent-encoded) are resolved,
// runs of "/" merged, and "%2F" decoded, kept or rejected as slashes
// says. A trailing slash is kept.
func cleanPath(raw, slashes string) (string, error) {
	if isCleanPath(raw) {
		return raw, nil
	}
	if hasEncodedSlash(raw) {
		switch slashes {
		case SlashesReject:
			return "", badRequest("encoded slash in the request path")
		case SlashesDecode:
			raw = replaceEncodedSlashes(raw)
		}
	}
	out := make([]string, 0, 8)
	segs := strings.Split(raw[1:], "/")
	trailing := false
	for i, seg := range segs {
		last := i == len(segs)-1
		switch dotSegment(seg) {
		case 1:
			trailing = last
			continue
		case 2:
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			trailing = last
			continue
		}
		if seg == "" {
			trailing = last
			continue
		}
		out = append(out, seg)
		trailing = false
	}
	var b strings.Builder
	b.Grow(len(raw))
	for _, seg := range out {
		b.WriteByte('/')
		b.WriteString(seg)
	}
	if trailing || len(out) == 0 {
		b.WriteByte('/')
	}
	return b.String(), nil
}

// isCleanPath reports, in one pass, that raw needs no normalisation: no
// empty segment, no segment starting with '.' or an encoded '.', no
// encoded '/'.
func isCleanPath(raw string) bool {
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '/':
			if i+1 < len(raw) && (raw[i+1] == '/' || raw[i+1] == '.') {
				return false
			}
		case '%':
			if i+2 < len(raw) && raw[i+1] == '2' {
				switch raw[i+2] {
				case 'e', 'E', 'f', 'F':
					return false
				}
			}
		}
	}
	return true
}

func hasEncodedSlash(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '%' && s[i+1] == '2' && (s[i+2] == 'f' || s[i+2] == 'F') {
			return true
		}
	}
	return false
}

func replaceEncodedSlashes(s string) string {
	return strings.NewReplacer("%2f", "/", "%2F", "/").Replace(s)
}

// dotSegment returns 1 for a "." segment, 2 for "..", 0 otherwise,
// reading "%2e" as '.'.
func dotSegment(seg string) int {
	if len(seg) > 6 || seg == "" {
		return 0
	}
	n := 0
	for i := 0; i < len(seg); {
		switch {
		case seg[i] == '.':
			i++
		case i+2 < len(seg) && seg[i] == '%' && seg[i+1] == '2' && (seg[i+2] == 'e' || seg[i+2] == 'E'):
			i += 3
		default:
			return 0
		}
		n++
	}
	if n > 2 {
		return 0
	}
	return n
}

// extendBodyRead moves the client connection's read deadline before a
// read of the request body, so a client that stalls mid-body is cut after
// Config.ClientBodyTimeout (only when less than 63/64 of it is left).
func (f *forwardReq) extendBodyRead() {
	if f.rc == nil || f.bodyIdle <= 0 {
		return
	}
	now := time.Now()
	if fresh(f.rdl.Sub(now), f.bodyIdle) {
		return
	}
	f.rdl = now.Add(f.bodyIdle)
	if err := f.rc.SetReadDeadline(f.rdl); err != nil && !errors.Is(err, http.ErrNotSupported) {
		f.rc = nil
	}
}
