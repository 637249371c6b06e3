package secrets

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// envelopeV1 is the only envelope format so far.
const envelopeV1 byte = 1

// headerSize is format byte + key fingerprint.
const headerSize = 1 + fingerprintSize

// aadLabel separates berth's additional data from any other use of the key.
const aadLabel = "berth/secret/v1"

// errUnknownFormat is returned by open for an envelope format it cannot read.
var errUnknownFormat = errors.New("unknown envelope format")

// seal encrypts plaintext for one name and version:
// format | fingerprint | nonce | ciphertext+tag.
func seal(k Key, name string, version int, plaintext []byte) ([]byte, error) {
	if k.IsZero() {
		return nil, fmt.Errorf("seal secret %s: %w: no master key loaded", name, ErrBadKey)
	}
	aead, err := chacha20poly1305.NewX(k.aead[:])
	if err != nil {
		return nil, fmt.Errorf("seal secret %s: %w", name, err)
	}
	out := make([]byte, headerSize+chacha20poly1305.NonceSizeX, headerSize+chacha20poly1305.NonceSizeX+len(plaintext)+aead.Overhead())
	out[0] = envelopeV1
	copy(out[1:headerSize], k.fp[:])
	nonce := out[headerSize:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal secret %s: nonce: %w", name, err)
	}
	return aead.Seal(out, nonce, plaintext, additionalData(out[:headerSize], name, version)), nil
}

// open decrypts an envelope sealed for name and version. It returns
// ErrWrongKey when the envelope names another key's fingerprint, ErrCorrupt
// when authentication fails, and errUnknownFormat for a newer format.
func open(k Key, name string, version int, envelope []byte) ([]byte, error) {
	if k.IsZero() {
		return nil, fmt.Errorf("%w: no master key loaded", ErrBadKey)
	}
	if len(envelope) < 1 {
		return nil, ErrCorrupt
	}
	if envelope[0] != envelopeV1 {
		return nil, fmt.Errorf("%w %d", errUnknownFormat, envelope[0])
	}
	aead, err := chacha20poly1305.NewX(k.aead[:])
	if err != nil {
		return nil, err
	}
	if len(envelope) < headerSize+chacha20poly1305.NonceSizeX+aead.Overhead() {
		return nil, ErrCorrupt
	}
	if subtle.ConstantTimeCompare(envelope[1:headerSize], k.fp[:]) != 1 {
		return nil, ErrWrongKey
	}
	nonce := envelope[headerSize : headerSize+chacha20poly1305.NonceSizeX]
	sealed := envelope[headerSize+chacha20poly1305.NonceSizeX:]
	plaintext, err := aead.Open(nil, nonce, sealed, additionalData(envelope[:headerSize], name, version))
	if err != nil {
		return nil, ErrCorrupt
	}
	return plaintext, nil
}

// additionalData binds the header, the secret name and the version into the
// authentication tag. Name is length-prefixed so no two (name, version)
// pairs share an encoding.
func additionalData(header []byte, name string, version int) []byte {
	ad := make([]byte, 0, len(aadLabel)+1+len(header)+4+len(name)+8)
	ad = append(ad, aadLabel...)
	ad = append(ad, 0)
	ad = append(ad, header...)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(name)))
	ad = append(ad, name...)
	ad = binary.BigEndian.AppendUint64(ad, uint64(version))
	return ad
}
