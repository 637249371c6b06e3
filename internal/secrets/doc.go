// Package secrets keeps secrets encrypted at rest, versioned, and resolves
// references for injection into tasks.
//
// Values are sealed with XChaCha20-Poly1305 under a key derived from the
// master key (LoadKey: BERTH_MASTER_KEY or <state dir>/master.key). Each
// stored version is an envelope
//
//	format (1 byte) | key fingerprint (8) | nonce (24) | ciphertext+tag
//
// whose additional data binds the secret's name and version, so a ciphertext
// copied to another name or version does not decrypt. The fingerprint tells a
// wrong master key apart from a corrupt or tampered ciphertext.
//
// The package persists nothing itself: a Backend (internal/store) keeps the
// envelopes. Plaintext never appears in errors or logs; the Value type prints
// as "[redacted]".
package secrets
