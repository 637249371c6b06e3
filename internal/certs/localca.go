package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// File names of the local CA inside its directory.
const (
	CAFile    = "ca.pem"
	CAKeyFile = "ca-key.pem"
)

// Validity of the local CA's root and of the leaves it issues. A leaf is
// issued again once a third of its life is left.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 30 * 24 * time.Hour
)

// LocalCA is a certificate authority berth creates in the state directory
// for names no public CA certifies. Developers trust its root (`berth tls
// ca` prints it); the CLI pins it for the TCP API.
type LocalCA struct {
	dir  string
	cert *x509.Certificate
	key  crypto.Signer
	now  func() time.Time

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

// OpenLocalCA loads the local CA kept in dir, creating it (0600 files in
// a 0700 directory) when there is none.
func OpenLocalCA(dir string) (*LocalCA, error) {
	ca := &LocalCA{dir: dir, now: time.Now, leaves: map[string]*tls.Certificate{}}
	certPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if errors.Is(err, fs.ErrNotExist) {
		if err := ca.create(); err != nil {
			return nil, err
		}
		return ca, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read local CA: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("read local CA key: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("local CA in %s: %w (move the directory aside to make a new one)", dir, err)
	}
	ca.cert = pair.Leaf
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("local CA key in %s cannot sign", dir)
	}
	ca.key = signer
	return ca, nil
}

func (ca *LocalCA) create() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate local CA key: %w", err)
	}
	now := ca.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "berth local CA " + now.UTC().Format("2006-01-02"), Organization: []string{"berth"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("create local CA: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode local CA key: %w", err)
	}
	if err := os.MkdirAll(ca.dir, 0o700); err != nil {
		return fmt.Errorf("create local CA directory: %w", err)
	}
	if err := writeFile(filepath.Join(ca.dir, CAKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(ca.dir, CAFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return err
	}
	ca.cert, _ = x509.ParseCertificate(der)
	ca.key = key
	return nil
}

// RootPEM is the CA's root certificate, PEM-encoded.
func (ca *LocalCA) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// Root is the CA's root certificate.
func (ca *LocalCA) Root() *x509.Certificate { return ca.cert }

// Pool is a pool holding only the CA's root.
func (ca *LocalCA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Leaf returns a server certificate for names (DNS names or IP
// addresses), issued by the CA and kept in memory; it is issued again once
// a third of its life is left.
func (ca *LocalCA) Leaf(names ...string) (*tls.Certificate, error) {
	if len(names) == 0 {
		return nil, errors.New("local CA: a certificate needs at least one name")
	}
	key := strings.Join(names, ",")
	now := ca.now()
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c := ca.leaves[key]; c != nil && now.Before(c.Leaf.NotAfter.Add(-leafValidity/3)) {
		return c, nil
	}
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("local CA: generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pk.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("local CA: issue certificate for %s: %w", key, err)
	}
	leaf, _ := x509.ParseCertificate(der)
	c := &tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: pk, Leaf: leaf}
	ca.leaves[key] = c
	return c, nil
}

// NeedsLocalCA reports whether no public CA can certify name: localhost
// names, .local/.internal/.test style names and IP addresses.
func NeedsLocalCA(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if net.ParseIP(name) != nil || !strings.Contains(name, ".") {
		return true
	}
	for _, suffix := range []string{".localhost", ".local", ".internal", ".home.arpa", ".invalid", ".test"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

// writeFile writes b to path with mode 0600, replacing it atomically.
func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
