package lockrules

import (
	"bytes"
	"encoding/binary"

	"github.com/coord-io/coord/coord/wire"
)

// The read-write rules of locks: shared owners beside the exclusive ones
// of the FIFO (see "Read-write locks" in doc.go). A lock that never had a
// shared owner takes the exclusive paths of rules.go and rules_fifo.go
// unchanged; these rules run as soon as a shared marker exists.

// MaxStatusOwners bounds each of the Holders and Queue lists of a lock's
// status; Readers and Waiters still count them all.
const MaxStatusOwners = 100

// SharedKey returns the key of the shared marker of the owner of lock
// name that queued at revision rev (Prefix + "s/" + rev as 8 bytes
// big-endian). It exists exactly while that owner is a live shared owner;
// its value is empty while the owner waits and its grant (a Holder
// record, see DecodeGrant) once it holds.
func SharedKey(name string, rev int64) []byte {
	f := &FIFO{kind: kind, name: name, prefix: Prefix(name)}
	return f.sharedKey(rev)
}

// GrantKey returns the key whose put tells that ownerKey, an owner key of
// lock name, holds the lock: HolderKey(name) for an exclusive owner,
// SharedKey for a shared one. A waiting Lock (and its Resume) watches it
// with DecodeGrant until the decoded Holder's Key is ownerKey. ownerKey
// must be an owner key of name (OwnerName).
func GrantKey(name string, ownerKey []byte, shared bool) []byte {
	if !shared {
		return HolderKey(name)
	}
	return SharedKey(name, ownerRevision(ownerKey))
}

// DecodeGrant decodes the value of a GrantKey: a holder record, or a
// shared marker (empty while waiting: a Holder with no Key; once granted
// a holder record naming the owner key, its token and lease).
func DecodeGrant(value []byte) (Holder, error) {
	if len(value) == 0 {
		return Holder{}, nil
	}
	return DecodeHolder(value)
}

// sharedPrefix returns the prefix of the shared markers.
func (f *FIFO) sharedPrefix() []byte { return append(f.Prefix(), 's', '/') }

// sharedKey returns the shared marker of the owner that arrived at rev.
func (f *FIFO) sharedKey(rev int64) []byte {
	return binary.BigEndian.AppendUint64(f.sharedPrefix(), uint64(rev))
}

// rwOwner is a live owner of a lock with its mode and, for a shared
// owner, its marker.
type rwOwner struct {
	kv     *wire.KeyValue // the owner key
	shared bool
	grant  Holder // a shared owner's grant (Key nil: waiting)
}

// markers returns the live shared markers of the lock, in key (arrival)
// order.
func (f *FIFO) markers(r Reader, limit int) ([]*wire.KeyValue, error) {
	p := f.sharedPrefix()
	return r.Range(p, ownerEnd(p), limit)
}

// hasShared reports whether the lock has a live shared owner: whether the
// read-write rules apply.
func (f *FIFO) hasShared(r Reader) (bool, error) {
	m, err := f.markers(r, 1)
	return len(m) > 0, err
}

// rwOwners returns every live owner of the lock in arrival order, with
// its mode: the owner keys merged with the shared markers (both sorted by
// the same revision).
func (f *FIFO) rwOwners(r Reader) ([]rwOwner, error) {
	p := f.ownerPrefix()
	kvs, err := r.Range(p, ownerEnd(p), 0)
	if err != nil {
		return nil, err
	}
	ms, err := f.markers(r, 0)
	if err != nil {
		return nil, err
	}
	out := make([]rwOwner, len(kvs))
	j := 0
	for i, kv := range kvs {
		out[i].kv = kv
		rev := ownerRevision(kv.Key)
		for j < len(ms) && ownerRevision(ms[j].Key) < rev {
			j++ // a marker without an owner key: never written so
		}
		if j < len(ms) && ownerRevision(ms[j].Key) == rev {
			g, err := DecodeGrant(ms[j].Value)
			if err != nil {
				return nil, err
			}
			out[i].shared, out[i].grant = true, g
			j++
		}
	}
	return out, nil
}

// holding returns how many of owners, from the first, hold the lock: 1
// for an exclusive head, else the run of shared owners up to the first
// exclusive one (writer preference: shared owners behind a waiting
// exclusive one wait).
func holding(owners []rwOwner) int {
	if len(owners) == 0 {
		return 0
	}
	if !owners[0].shared {
		return 1
	}
	n := 0
	for n < len(owners) && owners[n].shared {
		n++
	}
	return n
}

// applySharedLock is ApplyLock for req.Shared: a shared owner is granted
// at once when every owner before it is shared (all of them hold), else
// it waits; with Try it then fails with wire.CodeLocked, writing nothing.
func applySharedLock(st Store, f *FIFO, req *wire.LockRequest) (*wire.LockResponse, *wire.Error, error) {
	h, held, err := f.Holder(st)
	if err != nil {
		return nil, nil, err
	}
	grant := !held
	if held {
		p := f.ownerPrefix()
		owners, err := st.Count(p, ownerEnd(p))
		if err != nil {
			return nil, nil, err
		}
		q := f.sharedPrefix()
		shared, err := st.Count(q, ownerEnd(q))
		if err != nil {
			return nil, nil, err
		}
		grant = owners == shared
	}
	if req.Try && !grant {
		werr, err := f.lockedError(st, h)
		return nil, werr, err
	}
	rev := st.Revision()
	key := f.ownerKey(rev)
	if err := st.Put(key, req.Owner, req.Lease); err != nil {
		return nil, nil, err
	}
	var marker []byte
	if grant {
		marker = Holder{Key: key, Token: rev, Lease: req.Lease}.Encode()
	}
	if err := st.Put(f.sharedKey(rev), marker, req.Lease); err != nil {
		return nil, nil, err
	}
	if held {
		h.Tail = rev
	} else {
		h = Holder{Key: key, Token: rev, Lease: req.Lease, Tail: rev, Owner: bytes.Clone(req.Owner)}
	}
	if err := st.Put(f.HolderKey(), h.Encode(), 0); err != nil {
		return nil, nil, err
	}
	resp := &wire.LockResponse{Key: key}
	if grant {
		resp.Token = rev
	}
	return resp, nil, nil
}

// lockedError is the wire.CodeLocked error of a Try that cannot be
// granted while h is the holder record.
func (f *FIFO) lockedError(r Reader, h Holder) (*wire.Error, error) {
	m, err := r.Get(f.sharedKey(ownerRevision(h.Key)))
	if err != nil {
		return nil, err
	}
	if m == nil {
		return wire.Errorf(wire.CodeLocked, "lock %q is held by %q (token %d)", f.name, h.Owner, h.Token), nil
	}
	owners, err := f.rwOwners(r)
	if err != nil {
		return nil, err
	}
	n := holding(owners)
	if n < len(owners) {
		return wire.Errorf(wire.CodeLocked, "lock %q is held shared by %d owner(s) and an exclusive owner waits (shared owners queue behind it)", f.name, n), nil
	}
	return wire.Errorf(wire.CodeLocked, "lock %q is held shared by %d owner(s)", f.name, n), nil
}

// leaveLock is FIFO.Leave for a lock: owner key leaves with its shared
// marker (if any), and the lock is handed on (lockOwnerGone).
func (f *FIFO) leaveLock(st Store, key []byte) (bool, error) {
	if !f.isOwnerKey(key) {
		return false, nil
	}
	marker, err := st.Get(f.sharedKey(ownerRevision(key)))
	if err != nil {
		return false, err
	}
	deleted, err := st.Delete(key)
	if err != nil || !deleted {
		return false, err
	}
	if marker != nil {
		if _, err := st.Delete(marker.Key); err != nil {
			return false, err
		}
		return true, f.lockOwnerGone(st, key)
	}
	// An exclusive owner left: the exclusive rule, with point reads of
	// the markers of the owner that holds next (no scan of the markers:
	// a lock never taken shared, the common case, pays one point read).
	return true, f.ownerGone(st, key, func(owner []byte) (bool, error) {
		m, err := st.Get(f.sharedKey(ownerRevision(owner)))
		return m != nil, err
	})
}

// lockOwnerGone hands lock f on after owner key (and its marker) was
// deleted: by the exclusive rule of FIFO.OwnerGone when no shared owner
// is left, else by regrant.
func (f *FIFO) lockOwnerGone(st Store, key []byte) error {
	shared, err := f.hasShared(st)
	switch {
	case err != nil:
		return err
	case !shared:
		return f.OwnerGone(st, key)
	}
	return f.regrant(st)
}

// regrant brings the holders of a lock with shared owners in line with
// the rule, at st.Revision(): the owners that hold by the rule (holding)
// and are not granted yet are granted with token Revision — a shared one
// by its marker, an exclusive one (then the head) by the holder record —
// and the holder record names the head with the head's token. It writes
// only what changes, so that it can run once per deleted key of a revoke.
func (f *FIFO) regrant(st Store) error {
	owners, err := f.rwOwners(st)
	if err != nil {
		return err
	}
	h, held, err := f.Holder(st)
	if err != nil {
		return err
	}
	if len(owners) == 0 {
		if held {
			_, err := st.Delete(f.HolderKey())
			return err
		}
		return nil
	}
	rev := st.Revision()
	for i := 0; i < holding(owners); i++ {
		o := &owners[i]
		if !o.shared || o.grant.Key != nil {
			continue
		}
		o.grant = Holder{Key: o.kv.Key, Token: rev, Lease: o.kv.Lease}
		if err := st.Put(f.sharedKey(ownerRevision(o.kv.Key)), o.grant.Encode(), o.kv.Lease); err != nil {
			return err
		}
	}
	head := owners[0]
	if held && bytes.Equal(h.Key, head.kv.Key) {
		return nil
	}
	tail := ownerRevision(owners[len(owners)-1].kv.Key)
	if held && h.Tail > tail {
		tail = h.Tail
	}
	token := rev
	if head.shared {
		token = head.grant.Token
	}
	nh := Holder{Key: head.kv.Key, Token: token, Lease: head.kv.Lease, Tail: tail, Owner: head.kv.Value}
	return st.Put(f.HolderKey(), nh.Encode(), 0)
}

// exclusiveToken returns the token of the exclusive holder of the lock
// whose holder record is h, and 0 when the lock is held shared.
func (f *FIFO) exclusiveToken(r Reader, h Holder) (int64, error) {
	m, err := r.Get(f.sharedKey(ownerRevision(h.Key)))
	if err != nil || m != nil {
		return 0, err
	}
	return h.Token, nil
}

// rwStatus adds to resp (the exclusive status of a lock with a holder)
// what the lock's shared owners change: Readers and Holders for shared
// holders, the single-holder fields cleared then, and the Queue with
// modes. It does nothing for a lock without shared owners.
func (f *FIFO) rwStatus(r Reader, resp *wire.LockStatusResponse) error {
	shared, err := f.hasShared(r)
	if err != nil || !shared {
		return err
	}
	owners, err := f.rwOwners(r)
	if err != nil {
		return err
	}
	n := holding(owners)
	resp.Waiters = int64(len(owners) - n)
	if owners[0].shared {
		resp.Key, resp.Owner, resp.Token, resp.Lease = nil, nil, 0, 0
		resp.Readers = int64(n)
	}
	for i, o := range owners {
		lo := wire.LockOwner{Key: o.kv.Key, Lease: o.kv.Lease, Shared: o.shared}
		if len(o.kv.Value) > 0 {
			lo.Owner = o.kv.Value
		}
		switch {
		case i < n && len(resp.Holders) < MaxStatusOwners:
			lo.Token = resp.Token
			if o.shared {
				lo.Token = o.grant.Token
			}
			resp.Holders = append(resp.Holders, lo)
		case i >= n && len(resp.Queue) < MaxStatusOwners:
			resp.Queue = append(resp.Queue, lo)
		}
	}
	return nil
}
