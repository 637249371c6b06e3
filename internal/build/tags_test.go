package build

import (
	"slices"
	"strings"
	"testing"
)

func TestTags(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want []string
	}{
		{
			name: "registry and branch",
			req:  Request{Registry: "127.0.0.1:5000", Project: "shop", Service: "web", Commit: "a1b2c3d", Branch: "main"},
			want: []string{"127.0.0.1:5000/shop/web:a1b2c3d", "127.0.0.1:5000/shop/web:main"},
		},
		{
			name: "no registry",
			req:  Request{Project: "shop", Service: "web", Commit: "a1b2c3d"},
			want: []string{"shop/web:a1b2c3d"},
		},
		{
			name: "branch with slash and upper-case project",
			req:  Request{Registry: "reg.example.com/", Project: "Shop", Service: "api", Commit: "abc", Branch: "feature/Login"},
			want: []string{"reg.example.com/shop/api:abc", "reg.example.com/shop/api:feature-Login"},
		},
		{
			name: "detached head has no branch tag",
			req:  Request{Project: "shop", Service: "web", Commit: "abc", Branch: ""},
			want: []string{"shop/web:abc"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Tags(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Tags = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := Tags(Request{Project: "shop", Service: "web"}); err == nil {
		t.Error("Tags without a commit: want error")
	}
}

func TestTag(t *testing.T) {
	tests := map[string]string{
		"main":                   "main",
		"feature/x":              "feature-x",
		"-leading":               "leading",
		".hidden":                "hidden",
		"v1.2_rc":                "v1.2_rc",
		strings.Repeat("a", 200): strings.Repeat("a", 128),
	}
	for in, want := range tests {
		if got := Tag(in); got != want {
			t.Errorf("Tag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsLoopbackRegistry(t *testing.T) {
	tests := map[string]bool{
		"127.0.0.1:5000":  true,
		"localhost:5000":  true,
		"localhost":       true,
		"[::1]:5000":      true,
		"10.0.0.1:5000":   false,
		"ghcr.io":         false,
		"reg.example.com": false,
	}
	for host, want := range tests {
		if got := isLoopbackRegistry(host); got != want {
			t.Errorf("isLoopbackRegistry(%q) = %v, want %v", host, got, want)
		}
	}
}
