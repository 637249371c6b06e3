package build

import (
	"fmt"
	"net"
	"regexp"
	"strings"
)

// Image labels berth sets on every image it builds.
const (
	LabelRevision = "org.opencontainers.image.revision"
	LabelSource   = "org.opencontainers.image.source"
	LabelCreated  = "org.opencontainers.image.created"
	// LabelInputs holds the digest of everything the image was built from;
	// Find looks images up by it so unchanged services are never rebuilt.
	LabelInputs  = "berth.inputs"
	LabelProject = "berth.project"
	LabelService = "berth.service"
)

// Repository is the image repository of a service:
// <registry>/<project>/<service>, or <project>/<service> with no registry.
func Repository(registry, project, service string) string {
	repo := strings.ToLower(project + "/" + service)
	if registry == "" {
		return repo
	}
	return strings.TrimSuffix(registry, "/") + "/" + repo
}

var invalidTagChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// Tag turns a commit or branch name into a valid image tag: characters
// outside [A-Za-z0-9_.-] become '-', it may not start with '.' or '-', and it
// is at most 128 characters. An empty result means no tag.
func Tag(s string) string {
	t := invalidTagChars.ReplaceAllString(s, "-")
	t = strings.TrimLeft(t, ".-")
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}

// Tags returns the references a build of req is tagged with, the primary
// (commit) tag first.
func Tags(req Request) ([]string, error) {
	commit := Tag(req.Commit)
	if commit == "" {
		return nil, fmt.Errorf("service %s: no commit to tag the image with", req.Service)
	}
	repo := Repository(req.Registry, req.Project, req.Service)
	tags := []string{repo + ":" + commit}
	if b := Tag(req.Branch); b != "" && b != commit {
		tags = append(tags, repo+":"+b)
	}
	return tags, nil
}

// isLoopbackRegistry reports whether a registry host (host[:port]) is on
// this machine, where plain http is allowed.
func isLoopbackRegistry(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}
