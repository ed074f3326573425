package lockrules

import (
	"github.com/coord-io/coord/coord/wire"
)

// The state-machine rules of locks: package statemachine calls them inside
// the replicated apply, over a Store of the lock's shard. They are
// deterministic: no clock, no randomness, no map iteration.

const kind = "lock"

// ValidateName checks a lock name: non-empty, at most MaxNameLen bytes,
// without '{' or '}' ('/' is allowed). The error is a *wire.Error with
// wire.CodeInvalid; nil for a valid name.
func ValidateName(name string) error {
	if werr := checkName(kind, name); werr != nil {
		return werr
	}
	return nil
}

// Prefix returns the prefix of every key of lock name:
// "\x00coord/lock/{NAME}/". Its hash tag is NAME, so the lock lives in the
// shard of the keys tagged {NAME}.
func Prefix(name string) []byte { return instancePrefix(Root, name) }

// HolderKey returns the key of lock name's holder record (Prefix + "h"),
// whose value DecodeHolder reads. It is put at every grant and deleted
// when the lock becomes free.
func HolderKey(name string) []byte { return append(Prefix(name), 'h') }

// OwnerKey returns the key of the owner of lock name that queued at
// revision rev (Prefix + "o/" + rev as 8 bytes big-endian).
func OwnerKey(name string, rev int64) []byte {
	f := &FIFO{kind: kind, name: name, prefix: Prefix(name)}
	return f.ownerKey(rev)
}

func lockFIFO(name string) (*FIFO, *wire.Error) { return NewFIFO(kind, Root, name) }

// ApplyLock applies a LockRequest at st.Revision(): it queues an owner
// attached to req.Lease, granted at once if the lock is free (Token =
// the revision), else waiting (Token 0). With req.Try and the lock held it
// writes nothing and fails with wire.CodeLocked. With req.Shared the
// owner is shared, also granted at once when every owner ahead of it is
// shared (see "Read-write locks" in doc.go). The response's Header is
// left to the caller.
func ApplyLock(st Store, req *wire.LockRequest) (*wire.LockResponse, *wire.Error, error) {
	f, werr := lockFIFO(req.Name)
	if werr != nil {
		return nil, werr, nil
	}
	if werr, err := f.CheckLease(st, req.Lease); werr != nil || err != nil {
		return nil, werr, err
	}
	if req.Shared {
		return applySharedLock(st, f, req)
	}
	if req.Try {
		h, held, err := f.Holder(st)
		if err != nil {
			return nil, nil, err
		}
		if held {
			werr, err := f.lockedError(st, h)
			return nil, werr, err
		}
	}
	key, h, granted, err := f.Join(st, req.Lease, req.Owner)
	if err != nil {
		return nil, nil, err
	}
	resp := &wire.LockResponse{Key: key}
	if granted {
		resp.Token = h.Token
	}
	return resp, nil, nil
}

// ApplyUnlock applies an UnlockRequest: the owner key req.Key leaves the lock
// (if it held it, the next owner is granted at st.Revision()), or, if it
// is not an owner of the lock, wire.CodeNotHolder. An owner key of another
// lease than req.Lease is wire.CodeNotOwner and changes nothing.
func ApplyUnlock(st Store, req *wire.UnlockRequest) (*wire.UnlockResponse, *wire.Error, error) {
	f, werr := lockFIFO(req.Name)
	if werr != nil {
		return nil, werr, nil
	}
	owner, werr, err := f.Owned(st, req.Key, req.Lease)
	if werr != nil || err != nil {
		return nil, werr, err
	}
	left := false
	if owner {
		if left, err = f.leaveLock(st, req.Key); err != nil {
			return nil, nil, err
		}
	}
	if !left {
		return nil, wire.Errorf(wire.CodeNotHolder,
			"key %q is not an owner of lock %q (released already, or its lease expired)", req.Key, req.Name), nil
	}
	return &wire.UnlockResponse{}, nil, nil
}

// OwnerDeleted hands a lock on after its owner key was deleted other than
// by ApplyUnlock, that is by the revoke of its lease: called by the revoke
// command, at its revision, for every deleted key under Root, after all
// the lease's keys are gone. Keys that are not owner keys are ignored.
func OwnerDeleted(st Store, key []byte) error {
	name, ok := OwnerName(Root, key)
	if !ok {
		return nil
	}
	f, werr := lockFIFO(name)
	if werr != nil {
		return nil
	}
	return f.lockOwnerGone(st, key)
}

// ReadToken returns the fencing token of lock name's exclusive holder, 0
// when the lock is free or held shared: the value a
// wire.CompareLockToken compare checks.
func ReadToken(r Reader, name string) (int64, *wire.Error, error) {
	f, werr := lockFIFO(name)
	if werr != nil {
		return 0, werr, nil
	}
	h, held, err := f.Holder(r)
	if err != nil || !held {
		return 0, nil, err
	}
	token, err := f.exclusiveToken(r, h)
	return token, nil, err
}

// ReadStatus describes lock name as r sees it: holder, token, lease and the
// number of waiters; for a lock with shared owners also its holders and
// queue with their modes (see wire.LockStatusResponse). Header and
// LeaseTTL are left to the caller.
func ReadStatus(r Reader, name string) (*wire.LockStatusResponse, *wire.Error, error) {
	f, werr := lockFIFO(name)
	if werr != nil {
		return nil, werr, nil
	}
	h, held, err := f.Holder(r)
	if err != nil {
		return nil, nil, err
	}
	n, err := f.Owners(r)
	if err != nil {
		return nil, nil, err
	}
	resp := &wire.LockStatusResponse{Waiters: n}
	if held {
		resp.Held, resp.Key, resp.Owner, resp.Token, resp.Lease = true, h.Key, h.Owner, h.Token, h.Lease
		resp.Waiters--
		if err := f.rwStatus(r, resp); err != nil {
			return nil, nil, err
		}
	}
	return resp, nil, nil
}
