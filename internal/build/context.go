package build

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// contextDockerfile is the name the Dockerfile gets inside the build context
// berth sends, wherever it came from.
const contextDockerfile = ".berth.Dockerfile"

// DefaultDockerfile is used when a service has a build command but no
// Dockerfile: the static binary the command produced, alone in the image.
const DefaultDockerfile = "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"

// writeContext writes a build context tar to w: the contents of each dir in
// order, a later dir's file replacing an earlier one of the same path, then
// the Dockerfile under contextDockerfile. Empty dirs are skipped; .git and
// berth's own state directory (.berth: its database, keys, logs and control
// socket) are never sent, nor are sockets, pipes and devices, which no
// image can hold.
func writeContext(w io.Writer, dockerfile []byte, dirs ...string) error {
	tw := tar.NewWriter(w)
	// Later dirs win: remember what they hold so earlier dirs skip it.
	shadowed := make([]map[string]bool, len(dirs))
	for i := len(dirs) - 1; i >= 0; i-- {
		shadowed[i] = map[string]bool{contextDockerfile: true}
		for j := i + 1; j < len(dirs); j++ {
			if dirs[j] == "" {
				continue
			}
			if err := filepath.WalkDir(dirs[j], func(p string, e fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if e.IsDir() && skipDir(e.Name()) {
					return filepath.SkipDir
				}
				rel, _ := filepath.Rel(dirs[j], p)
				shadowed[i][filepath.ToSlash(rel)] = true
				return nil
			}); err != nil {
				return fmt.Errorf("read build context %s: %w", dirs[j], err)
			}
		}
	}
	for i, dir := range dirs {
		if dir == "" {
			continue
		}
		if err := addDir(tw, dir, shadowed[i]); err != nil {
			return fmt.Errorf("read build context %s: %w", dir, err)
		}
	}
	hdr := &tar.Header{Name: contextDockerfile, Mode: 0o644, Size: int64(len(dockerfile)), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write build context: %w", err)
	}
	if _, err := tw.Write(dockerfile); err != nil {
		return fmt.Errorf("write build context: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write build context: %w", err)
	}
	return nil
}

// StateDirName is the name of berth's state directory beside a spec. It is
// never part of a build context.
const StateDirName = ".berth"

// skipDir reports whether a directory is never part of a build context.
func skipDir(name string) bool { return name == ".git" || name == StateDirName }

// addDir adds dir's tree to tw, skipping .git, .berth, files that are not
// regular files, directories or symlinks, and the files in skip.
// Directories are always written; the engine merges repeated ones.
func addDir(tw *tar.Writer, dir string, skip map[string]bool) error {
	return filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if e.IsDir() && skipDir(e.Name()) {
			return filepath.SkipDir
		}
		if skip[rel] && !e.IsDir() {
			return nil
		}
		if e.Type()&(fs.ModeSocket|fs.ModeNamedPipe|fs.ModeDevice|fs.ModeCharDevice|fs.ModeIrregular) != 0 {
			return nil // a socket (berth's own, an editor's) or a pipe: nothing to copy
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if e.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
}
