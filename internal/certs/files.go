package certs

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// FilePair names a certificate chain and its key in PEM files.
type FilePair struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// fileCert is a certificate read from a FilePair, read again when either
// file's size or modification time changes. A pair that fails to load
// (half written, key not matching) keeps the previous certificate.
type fileCert struct {
	pair FilePair

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // sizes and mtimes of both files when cert was read
	lastErr error
}

// load reads the pair if its files changed since the last read; it
// reports whether a new certificate was loaded.
func (f *fileCert) load() (bool, error) {
	stamp, err := fileStamp(f.pair.Cert, f.pair.Key)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.lastErr = err
		return false, err
	}
	if stamp == f.stamp && f.cert != nil {
		return false, nil
	}
	c, err := tls.LoadX509KeyPair(f.pair.Cert, f.pair.Key)
	if err != nil {
		f.lastErr = fmt.Errorf("load certificate %s with key %s: %w", f.pair.Cert, f.pair.Key, err)
		return false, f.lastErr
	}
	f.cert, f.stamp, f.lastErr = &c, stamp, nil
	return true, nil
}

func (f *fileCert) current() (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cert == nil {
		return nil, f.lastErr
	}
	return f.cert, nil
}

// err is the last failure to load the pair ("" when the last load worked).
func (f *fileCert) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastErr
}

func fileStamp(paths ...string) (string, error) {
	s := ""
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("certificate file: %w", err)
		}
		s += fmt.Sprintf("%d/%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return s, nil
}

// defaultReloadEvery is how often certificate files are checked for
// changes.
const defaultReloadEvery = 2 * time.Second
