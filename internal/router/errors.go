package router

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
)

// StatusClientClosedRequest is logged and counted (nginx's 499) when the
// client goes away before the target answers; nothing is written.
const StatusClientClosedRequest = 499

var (
	// ErrNoRoute means no route matched the request's host and path.
	ErrNoRoute = errors.New("no route matches")
	// ErrNoTargets means the matched route has no targets at all.
	ErrNoTargets = errors.New("route has no targets")
	// ErrNoHealthyTargets means every target of the matched route is
	// failing its health checks or ejected.
	ErrNoHealthyTargets = errors.New("route has no healthy targets")
	// ErrNoTable means no routing table was published yet.
	ErrNoTable = errors.New("no routing table published yet")
)

// failure maps a proxy failure to the status the client gets and a short
// phrase for the plain-text body. This is the one place that decides.
func failure(reqCtx context.Context, err error) (status int, cause string) {
	var re *requestError
	switch {
	case errors.As(err, &re):
		return re.status, re.msg
	case errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge, "request body too large (router: max_request_body)"
	case errors.Is(err, errClientBody) && isTimeout(err):
		// net/http cancels the request when a read fails, even on a
		// deadline: the client is still there to be told.
		return http.StatusRequestTimeout, "timed out reading the request body"
	case errors.Is(reqCtx.Err(), context.Canceled):
		return StatusClientClosedRequest, "client closed the request"
	case errors.Is(err, errClientBody):
		return http.StatusBadRequest, "could not read the request body"
	case errors.Is(err, errHeadTooLarge):
		return http.StatusBadGateway, "target sent a response header over the limit (router: max_response_header)"
	case errors.Is(err, ErrNoRoute):
		return http.StatusNotFound, "no route matches this host and path"
	case errors.Is(err, ErrNoTable):
		return http.StatusServiceUnavailable, "no routing table published yet"
	case errors.Is(err, ErrNoTargets):
		return http.StatusServiceUnavailable, "route has no targets"
	case errors.Is(err, ErrNoHealthyTargets):
		return http.StatusServiceUnavailable, "route has no healthy targets"
	case isTimeout(err):
		return http.StatusGatewayTimeout, "timed out waiting for the target to answer"
	case errors.Is(err, syscall.ECONNREFUSED):
		return http.StatusBadGateway, "target refused the connection"
	case isDialError(err):
		return http.StatusBadGateway, "could not connect to the target"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadGateway, "target closed the connection before answering"
	default:
		return http.StatusBadGateway, "target sent an invalid response"
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
