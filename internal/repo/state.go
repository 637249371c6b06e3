package repo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// StateDirName is the name of berth's state directory beside a spec: its
// database, master key, logs and control socket. It is never a change.
const StateDirName = ".berth"

// InStateDir reports whether the slash-separated path rel lies in a berth
// state directory (a .berth segment anywhere in it).
func InStateDir(rel string) bool {
	for _, seg := range strings.Split(rel, "/") {
		if seg == StateDirName {
			return true
		}
	}
	return false
}

// ignoreLine is what IgnoreState adds to a .gitignore: a trailing slash
// only, so it matches a .berth directory at any depth below the file.
const ignoreLine = StateDirName + "/"

// IgnoreState makes sure dir/.gitignore ignores berth's state directory,
// creating the file when there is none. It reports whether it changed the
// file, so the caller can say so ("added .berth/ to .gitignore").
func IgnoreState(dir string) (bool, error) {
	if gitIgnores(dir, StateDirName+"/") {
		return false, nil // a .gitignore above (the repository's own) has it
	}
	path := filepath.Join(dir, ".gitignore")
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	if ignoresState(old) {
		return false, nil
	}
	var b bytes.Buffer
	b.Write(old)
	if len(old) > 0 && old[len(old)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.WriteString("# berth's local state: database, keys, logs, socket (never commit it)\n")
	b.WriteString(ignoreLine + "\n")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	return true, nil
}

// gitIgnores reports whether git, asked in dir, already ignores rel: any
// .gitignore of the repository, or its exclude files, may say so. Outside
// a repository, or without git, it reports false.
func gitIgnores(dir, rel string) bool {
	_, err := runGit(context.Background(), nil, dir, nil, "check-ignore", "-q", "--no-index", rel)
	return err == nil
}

// ignoresState reports whether a .gitignore's content already has a line
// ignoring .berth (.berth, .berth/, /.berth, /.berth/, **/.berth/).
func ignoresState(content []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(content))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		line = strings.TrimPrefix(line, "**/")
		line = strings.TrimPrefix(line, "/")
		line = strings.TrimSuffix(line, "/")
		if line == StateDirName {
			return true
		}
	}
	return false
}
