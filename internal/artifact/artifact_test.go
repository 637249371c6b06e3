package artifact

import (
	"context"
	"os"
	"strings"
	"testing"
)

func TestBuild_ContentAddressedAndReused(t *testing.T) {
	state := t.TempDir()
	req := Request{Service: "web", Command: `printf hello > "$BERTH_ARTIFACT"`, Dir: t.TempDir(), StateDir: state}
	a, err := Build(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("identical builds gave %v and %v", a, b)
	}
	data, err := os.ReadFile(a.Path)
	if err != nil || string(data) != "hello" {
		t.Fatalf("artifact content %q, %v", data, err)
	}
	req.Command = `printf other > "$BERTH_ARTIFACT"`
	c, err := Build(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if c.Digest == a.Digest || c.Path == a.Path {
		t.Fatalf("different content, same artifact: %v", c)
	}
	if _, err := os.Stat(a.Path); err != nil {
		t.Fatalf("earlier artifact removed: %v", err)
	}
}

func TestBuild_Errors(t *testing.T) {
	_, err := Build(context.Background(), Request{Service: "web", Command: "echo boom; exit 3", Dir: t.TempDir(), StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("failed build error = %v", err)
	}
	_, err = Build(context.Background(), Request{Service: "web", Command: "true", Dir: t.TempDir(), StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "did not write $BERTH_ARTIFACT") {
		t.Fatalf("missing artifact error = %v", err)
	}
}
