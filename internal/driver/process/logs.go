package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/berth-dev/berth/internal/driver"
)

// followInterval is how often a followed log file is re-read for new data.
const followInterval = 200 * time.Millisecond

// Logs returns the task's combined stdout and stderr from its log file: the
// last o.Tail lines (all when 0) and, with o.Follow, whatever is appended
// afterwards until ctx ends or the reader is closed.
func (d *Driver) Logs(ctx context.Context, h driver.Handle, o driver.LogOptions) (io.ReadCloser, error) {
	if h.LogPath == "" {
		return nil, fmt.Errorf("logs of task %s: %w: no log path", h.TaskID, ErrInvalidHandle)
	}
	f, err := os.Open(h.LogPath)
	if err != nil {
		return nil, fmt.Errorf("logs of task %s: %w", h.TaskID, err)
	}
	off, err := tailOffset(f, o.Tail)
	if err == nil {
		_, err = f.Seek(off, io.SeekStart)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("logs of task %s: %w", h.TaskID, err)
	}
	if !o.Follow {
		return f, nil
	}
	// Following ends once the task has exited and its last lines are read,
	// so a follower of a service does not keep stopped tasks open.
	var exited <-chan struct{}
	if t, err := d.track(h); err == nil {
		exited = t.done
	} else if errors.Is(err, driver.ErrNotFound) {
		gone := make(chan struct{})
		close(gone)
		exited = gone
	}
	pr, pw := io.Pipe()
	stop := context.AfterFunc(ctx, func() { _ = pw.Close() })
	go func() {
		defer stop()
		pw.CloseWithError(follow(ctx, f, h.LogPath, pw, exited))
	}()
	return pr, nil
}

// follow copies f (opened from path) to w, re-reading it every
// followInterval, until ctx ends, w fails, or exited is closed and the file
// is read to its end. It starts over when the file was truncated, and goes
// on with the new file at path when the log writer rotated it. It closes
// the file it holds.
func follow(ctx context.Context, f *os.File, path string, w io.Writer, exited <-chan struct{}) error {
	defer func() { f.Close() }()
	ticker := time.NewTicker(followInterval)
	defer ticker.Stop()
	for {
		select {
		case <-exited:
			// The writer is gone: what the file holds now is all there is.
			_, err := io.Copy(w, f)
			if errors.Is(err, io.ErrClosedPipe) {
				return nil
			}
			return err
		default:
		}
		if _, err := io.Copy(w, f); err != nil {
			if errors.Is(err, io.ErrClosedPipe) {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-exited:
			continue
		case <-ticker.C:
		}
		pos, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if cur, err := os.Stat(path); err == nil && !os.SameFile(fi, cur) {
			// Rotated: finish the old file, then follow the new one.
			if _, err := io.Copy(w, f); err != nil {
				return err
			}
			nf, err := os.Open(path)
			if err != nil {
				return err
			}
			f.Close()
			f = nf
			continue
		}
		if fi.Size() < pos {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
		}
	}
}

// tailOffset returns the offset in f where its last n lines begin (0 for
// n <= 0, or when f has fewer lines). A final line without a newline counts.
func tailOffset(f *os.File, n int) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	if size == 0 {
		return 0, nil
	}
	buf := make([]byte, 32*1024)
	need := n
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, size-1); err != nil {
		return 0, err
	}
	if last[0] == '\n' {
		need++ // the file's final newline ends the last line; it does not start one
	}
	found := 0
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] != '\n' {
				continue
			}
			found++
			if found == need {
				return start + int64(i) + 1, nil
			}
		}
		end = start
	}
	return 0, nil
}
