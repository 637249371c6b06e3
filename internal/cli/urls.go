package cli

import (
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/berth-dev/berth/internal/spec"
)

// printURLs lists where each routed service answers.
func printURLs(out io.Writer, sp *spec.Spec, routerURL string) {
	fmt.Fprintln(out, "services:")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(routerURL, "http://"))
	for _, n := range sp.Order {
		s := sp.Services[n]
		if s.Route == nil {
			fmt.Fprintf(out, "  %-10s (no route)\n", n)
			continue
		}
		var urls []string
		r := s.Route
		switch {
		case r.Host != "":
			urls = append(urls, fmt.Sprintf("http://%s:%s%s", r.Host, port, r.Path))
		case r.Path != "":
			urls = append(urls, routerURL+strings.TrimSuffix(r.Path, "/")+"/")
		case r.Default:
			urls = append(urls, routerURL+"/")
		}
		for _, h := range r.Hosts {
			urls = append(urls, fmt.Sprintf("http://%s:%s/", h, port))
		}
		fmt.Fprintf(out, "  %-10s %s\n", n, strings.Join(urls, "  "))
	}
}
