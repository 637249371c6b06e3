package process

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/berth-dev/berth/internal/driver"
)

func TestParseStat(t *testing.T) {
	// Fields 3..24 after the command name; field 22 (start time) is 4242.
	const rest = " S 1 100 100 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 4242 1000000 55"
	for _, tc := range []struct {
		name    string
		stat    string
		want    procStat
		wantErr bool
	}{
		{name: "plain", stat: "123 (server)" + rest, want: procStat{State: 'S', UTime: 7, STime: 3, StartTime: 4242, RSSPages: 55}},
		{name: "spaces and parens in comm", stat: "123 (my (odd) ) name)" + rest, want: procStat{State: 'S', UTime: 7, STime: 3, StartTime: 4242, RSSPages: 55}},
		{name: "comm is ') S 1 2'", stat: "123 () S 1 2)" + rest, want: procStat{State: 'S', UTime: 7, STime: 3, StartTime: 4242, RSSPages: 55}},
		{name: "zombie", stat: "9 (x)" + " Z" + rest[2:], want: procStat{State: 'Z', UTime: 7, STime: 3, StartTime: 4242, RSSPages: 55}},
		{name: "no parens", stat: "123 server S 1", wantErr: true},
		{name: "truncated", stat: "123 (server) S 1 100", wantErr: true},
		{name: "not a number", stat: "123 (server) S 1 100 100 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 x 1000000 55", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.stat + "\n"))
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseStat err = %v; wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("parseStat = %+v; want %+v", got, tc.want)
			}
		})
	}
}

func TestReadStatOfSelf(t *testing.T) {
	st, err := readStat(os.Getpid())
	if err != nil || st.StartTime == 0 || st.exited() {
		t.Fatalf("readStat(self) = %+v, %v", st, err)
	}
	if _, err := readStat(1 << 30); err != errNoProcess {
		t.Errorf("readStat(no such pid) err = %v; want errNoProcess", err)
	}
}

func TestTailOffset(t *testing.T) {
	big := make([]byte, 0, 100_000)
	for len(big) < 90_000 {
		big = append(big, "0123456789abcdef\n"...)
	}
	for _, tc := range []struct {
		name    string
		content string
		n       int
		want    string
	}{
		{"empty", "", 3, ""},
		{"all", "a\nb\nc\n", 0, "a\nb\nc\n"},
		{"last two", "a\nb\nc\n", 2, "b\nc\n"},
		{"more than there are", "a\nb\n", 5, "a\nb\n"},
		{"exactly all", "a\nb\n", 2, "a\nb\n"},
		{"unterminated last line", "a\nb\nc", 2, "b\nc"},
		{"blank lines count", "a\n\n\n", 2, "\n\n"},
		{"across chunks", string(big) + "last\n", 2, "0123456789abcdef\nlast\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			off, err := tailOffset(f, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.content[off:]; got != tc.want {
				t.Errorf("tail %d = %q; want %q", tc.n, got, tc.want)
			}
		})
	}
}

func TestTaskEnv(t *testing.T) {
	parent := []string{"PATH=/bin", "HOME=/root", "BERTH_MASTER_KEY=k", "BERTH_TOKEN=t", "PORT=1", "NOEQUALS",
		"AWS_SECRET_ACCESS_KEY=s", "AWS_ACCESS_KEY_ID=a", "GITHUB_TOKEN=g", "TZ=UTC", "LC_ALL=C", "LANG=C.UTF-8"}
	spec := driver.TaskSpec{
		ID: "web-1", Service: "web", Release: 3, Commit: "abc", Artifact: "/a/web",
		Env: map[string]string{"DB_URL": "x=y", "BERTH_ENV": "dev", "PORT": "2", "PATH": "/usr/bin"},
	}
	got, err := taskEnv(parent, spec, 8080)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"BERTH_ARTIFACT=/a/web", "BERTH_COMMIT=abc", "BERTH_ENV=dev", "BERTH_RELEASE=3",
		"BERTH_SERVICE=web", "BERTH_TASK=web-1", "DB_URL=x=y", "HOME=/root", "LANG=C.UTF-8", "LC_ALL=C",
		"PATH=/usr/bin", "PORT=8080", "TZ=UTC",
	}
	if !slices.Equal(got, want) {
		t.Errorf("taskEnv =\n%q\nwant\n%q", got, want)
	}
	// Without PATH in the parent a task still finds its commands.
	got, err = taskEnv(nil, driver.TaskSpec{ID: "w"}, 1)
	if err != nil || !slices.Contains(got, "PATH="+defaultPath) {
		t.Errorf("taskEnv without a parent PATH = %q, %v; want PATH=%s", got, err, defaultPath)
	}
}
