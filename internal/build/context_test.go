package build

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteContextOverlaysArtifact(t *testing.T) {
	ctxDir, overlay := t.TempDir(), t.TempDir()
	files := map[string]string{
		filepath.Join(ctxDir, "static.txt"):        "static",
		filepath.Join(ctxDir, "app"):               "stale app from the source tree",
		filepath.Join(ctxDir, "sub", "nested.txt"): "nested",
		filepath.Join(ctxDir, ".git", "HEAD"):      "ref: refs/heads/main",
		filepath.Join(overlay, "app"):              "fresh binary",
	}
	for p, content := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := writeContext(&buf, []byte("FROM scratch\n"), ctxDir, overlay); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if _, dup := got[hdr.Name]; dup {
			t.Errorf("%s written twice", hdr.Name)
		}
		b, _ := io.ReadAll(tr)
		got[hdr.Name] = string(b)
	}
	want := map[string]string{
		"static.txt":      "static",
		"sub/nested.txt":  "nested",
		"app":             "fresh binary",
		contextDockerfile: "FROM scratch\n",
	}
	if !maps.Equal(got, want) {
		t.Errorf("context files = %v\nwant %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
	}
}

func TestReadDockerfile(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "Custom.Dockerfile"), []byte("FROM scratch AS custom\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		req     Request
		want    string
		wantErr bool
	}{
		{name: "command without Dockerfile gets the default", req: Request{Root: root, Command: "true"}, want: DefaultDockerfile},
		{name: "named Dockerfile", req: Request{Root: root, Dockerfile: "Custom.Dockerfile"}, want: "FROM scratch AS custom\n"},
		{name: "no command, no Dockerfile", req: Request{Root: root}, wantErr: true},
		{name: "named but missing", req: Request{Root: root, Command: "true", Dockerfile: "Nope"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readDockerfile(tt.req, contextDir(tt.req))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Errorf("Dockerfile = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestWriteContextLeavesOutBerthState: `build: {context: .}` beside the spec
// sends the project, never berth's state directory (database, keys, logs)
// nor its control socket, which the tar writer cannot take and which used to
// fail the build as "cannot reach the Docker engine".
func TestWriteContextLeavesOutBerthState(t *testing.T) {
	dir := t.TempDir()
	for p, content := range map[string]string{
		"main.go":               "package main",
		".berth/state.db":       "state",
		".berth/berth.log":      "log",
		"svc/.berth/master.key": "key",
	} {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A socket outside .berth too (an editor's, a dev server's): skipped.
	for _, sock := range []string{filepath.Join(dir, ".berth", "berth.sock"), filepath.Join(dir, "dev.sock")} {
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
	}
	var buf bytes.Buffer
	if err := writeContext(&buf, []byte("FROM scratch\n"), dir); err != nil {
		t.Fatalf("writeContext with berth's state and socket beside the spec: %v", err)
	}
	var names []string
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
	}
	want := []string{contextDockerfile, "main.go", "svc/"}
	if slices.Sort(names); !slices.Equal(names, want) {
		t.Errorf("context = %q, want %q", names, want)
	}
}
