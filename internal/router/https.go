package router

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ACMEChallengePrefix is the path of ACME HTTP-01 challenges, which are
// never redirected to HTTPS.
const ACMEChallengePrefix = "/.well-known/acme-challenge/"

// HTTPSRedirect answers plain-HTTP requests for hosts isTLS reports with a
// permanent redirect to the same URL over HTTPS on httpsPort (the port is
// left out when it is 443); other hosts, and ACME challenges (answered by
// challenge first when it is set), go to next.
func HTTPSRedirect(next http.Handler, isTLS func(host string) bool, httpsPort int, challenge func(http.ResponseWriter, *http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, ACMEChallengePrefix) {
			if challenge != nil && challenge(w, req) {
				return
			}
			next.ServeHTTP(w, req)
			return
		}
		host := req.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(strings.TrimSuffix(host, "."))
		if host == "" || !isTLS(host) {
			next.ServeHTTP(w, req)
			return
		}
		target := "https://" + host
		if strings.Contains(host, ":") {
			target = "https://[" + host + "]"
		}
		if httpsPort != 443 && httpsPort != 0 {
			target += ":" + strconv.Itoa(httpsPort)
		}
		target += req.URL.RequestURI()
		w.Header().Set("Location", target)
		// 308 keeps the method and body; a GET is told 301 for old clients.
		code := http.StatusPermanentRedirect
		if req.Method == http.MethodGet || req.Method == http.MethodHead {
			code = http.StatusMovedPermanently
		}
		w.WriteHeader(code)
	})
}

// HSTS adds Strict-Transport-Security with maxAge to every response of
// next (on the TLS listener; browsers ignore it over plain HTTP).
func HSTS(next http.Handler, maxAge time.Duration) http.Handler {
	v := "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Strict-Transport-Security", v)
		next.ServeHTTP(w, req)
	})
}
