package process

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
)

// LogWriterCommand is the hidden berth subcommand that runs a task's log
// writer: `berth __tasklog PATH MAX_BYTES FILES`, reading the task's output
// on standard input.
const LogWriterCommand = "__tasklog"

// Defaults of the log writer's rotation: a task keeps at most
// DefaultLogMaxBytes * (DefaultLogFiles + 1) bytes of logs.
const (
	DefaultLogMaxBytes = 10 << 20
	DefaultLogFiles    = 3
)

// logQueue is how many chunks of output wait for the file before the
// writer drops lines: a task never waits for its log file (a slow or
// frozen disk), it loses lines instead, and they are counted.
const logQueue = 4096

// maxChunk bounds one queued chunk (a line, or part of a longer one).
const maxChunk = 64 << 10

// DroppedSuffix is appended to a log's path to name the file holding how
// many lines its writer dropped (a decimal number).
const DroppedSuffix = ".dropped"

// LogWriterMain runs the log writer of one task: it copies standard input
// (the task's stdout and stderr) to PATH, rotating it to PATH.1 … PATH.FILES
// when it would grow past MAX_BYTES, and never makes the task wait: when
// the file cannot keep up, whole lines are dropped and counted in
// PATH.dropped, and a line saying so is written once it can. It ignores
// SIGTERM and SIGINT (they are for the task, which shares its process
// group) and exits when every writer of its input is gone. Its standard
// output is the current log file, which is how Sweep finds it.
func LogWriterMain(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: berth %s PATH MAX_BYTES FILES", LogWriterCommand)
	}
	maxBytes, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil || maxBytes <= 0 {
		return fmt.Errorf("max bytes %q: want a positive number", args[1])
	}
	files, err := strconv.Atoi(args[2])
	if err != nil || files < 0 {
		return fmt.Errorf("files %q: want 0 or more", args[2])
	}
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	w := &rotatingLog{path: args[0], maxBytes: maxBytes, files: files}
	if err := w.open(); err != nil {
		return err
	}
	return copyDropping(os.Stdin, w, logQueue)
}

// copyDropping copies r to w through a queue of at most queue chunks; when
// the queue is full, a chunk (and the rest of its line) is dropped and
// counted instead of waiting.
func copyDropping(r io.Reader, w *rotatingLog, queue int) error {
	q := make(chan []byte, queue)
	done := make(chan error, 1)
	var dropped atomic.Uint64
	go func() { done <- w.drain(q, &dropped) }()
	br := bufio.NewReaderSize(r, maxChunk)
	skipping := false // dropping the rest of a line
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			endsLine := chunk[len(chunk)-1] == '\n'
			switch {
			case skipping:
			default:
				select {
				case q <- append([]byte(nil), chunk...):
				default:
					dropped.Add(1)
					skipping = !endsLine
				}
			}
			if skipping && endsLine {
				skipping = false
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			break
		}
	}
	close(q)
	return <-done
}

// rotatingLog is a task's log file, rotated by size.
type rotatingLog struct {
	path     string
	maxBytes int64
	files    int
	f        *os.File
	size     int64
}

func (l *rotatingLog) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log: %w", err)
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.size = f, fi.Size()
	// Standard output is the current file, so Sweep recognises the writer.
	_ = setStdout(int(f.Fd()))
	return nil
}

// rotate moves PATH.(i) to PATH.(i+1), dropping the oldest, and PATH to
// PATH.1, then opens a new PATH. With files 0 the file is truncated.
func (l *rotatingLog) rotate() error {
	if l.files == 0 {
		if err := l.f.Truncate(0); err != nil {
			return err
		}
		l.size = 0
		return nil
	}
	for i := l.files - 1; i >= 1; i-- {
		_ = os.Rename(l.path+"."+strconv.Itoa(i), l.path+"."+strconv.Itoa(i+1))
	}
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		return err
	}
	return l.open()
}

// drain writes the queued chunks, rotating as needed, and records drops.
func (l *rotatingLog) drain(q <-chan []byte, dropped *atomic.Uint64) error {
	var reported uint64
	write := func(b []byte) {
		if l.size > 0 && l.size+int64(len(b)) > l.maxBytes {
			if err := l.rotate(); err != nil {
				fmt.Fprintf(os.Stderr, "berth log writer: rotate %s: %v\n", l.path, err)
			}
		}
		n, _ := l.f.Write(b)
		l.size += int64(n)
	}
	for chunk := range q {
		if d := dropped.Load(); d != reported {
			write([]byte(fmt.Sprintf("berth: dropped %d lines of this task's output: its log could not keep up\n", d-reported)))
			reported = d
			writeDropped(l.path, d)
		}
		write(chunk)
	}
	if d := dropped.Load(); d != reported {
		write([]byte(fmt.Sprintf("berth: dropped %d lines of this task's output: its log could not keep up\n", d-reported)))
		writeDropped(l.path, d)
	}
	return l.f.Close()
}

// writeDropped records the total of dropped lines beside the log.
func writeDropped(path string, n uint64) {
	tmp := path + DroppedSuffix + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(n, 10)), 0o640); err == nil {
		_ = os.Rename(tmp, path+DroppedSuffix)
	}
}

// readDropped returns how many lines the log writer of the log at path
// dropped (0 when none, or unknown).
func readDropped(path string) uint64 {
	b, err := os.ReadFile(path + DroppedSuffix)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(string(b), 10, 64)
	return n
}
