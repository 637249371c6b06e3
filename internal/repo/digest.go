package repo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
)

// digestVersion is mixed into every digest so a change of the scheme never
// matches an image built under the old one.
const digestVersion = "berth-inputs-v1"

// InputsDigests returns, per service name, a digest of the service's
// inputs at rev: its directory, shared paths and build inputs, identified
// by git's object names (tree hashes for directories, blob hashes for
// files), so no file is read and uncommitted changes do not count. The same
// inputs at any commit give the same digest, so a builder can reuse an
// image built for it; a missing path counts too, so adding it later changes
// the digest. The digest is 64 lowercase hex digits (SHA-256). LiveCommit
// is ignored.
//
// All paths of all services are looked up in one git invocation.
func (r *Repo) InputsDigests(ctx context.Context, rev string, services []ServiceInput) (map[string]string, error) {
	svcs, err := cleanServices(services)
	if err != nil {
		return nil, fmt.Errorf("inputs digests: %w", err)
	}
	if rev == "" {
		rev = "HEAD"
	}
	// Look up rev itself first, then every distinct path under it.
	names := []string{rev + "^{commit}"}
	slot := make(map[string]int)
	lookup := func(p string) {
		if _, ok := slot[p]; !ok {
			slot[p] = len(names)
			names = append(names, rev+"^{commit}:"+p)
		}
	}
	for _, s := range svcs {
		lookup(s.dir)
		for _, p := range s.shared {
			lookup(p)
		}
		for _, p := range s.buildInputs {
			lookup(p)
		}
	}
	objs, err := r.objects(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("inputs digests at %s: %w", rev, err)
	}
	if objs[0].OID == "" {
		return nil, fmt.Errorf("inputs digests at %s: %w", rev, ErrUnknownRev)
	}
	out := make(map[string]string, len(svcs))
	for _, s := range svcs {
		var lines []string
		for _, p := range append(append([]string(nil), s.shared...), s.buildInputs...) {
			lines = append(lines, "input "+p+"\x00"+objectID(objs[slot[p]]))
		}
		sort.Strings(lines)
		h := sha256.New()
		fmt.Fprintf(h, "%s\ndir %s\x00%s\n", digestVersion, s.dir, objectID(objs[slot[s.dir]]))
		prev := ""
		for _, l := range lines {
			if l != prev {
				fmt.Fprintf(h, "%s\n", l)
			}
			prev = l
		}
		out[s.in.Name] = hex.EncodeToString(h.Sum(nil))
	}
	return out, nil
}

// objectID renders a looked-up object for hashing; "missing" when absent.
func objectID(o object) string {
	if o.OID == "" {
		return "missing"
	}
	return o.Type + " " + o.OID
}
