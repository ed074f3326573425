package lockrules

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/corruption"
	"github.com/coord-io/coord/statemachine/primitive"
)

// Root is the prefix of every lock's state (see Prefix).
const Root = "\x00coord/lock/"

// MaxNameLen is the longest name of a lock or an election, in bytes.
const MaxNameLen = 256

// Reader is the view of one shard that the read-only rules use: the
// shard's keys at one revision (primitive.Reader).
type Reader = primitive.Reader

// Store is the view of one shard that a command's rules read and write
// (primitive.Store): reads see the command's own earlier writes, writes
// happen at the command's single revision. A rule checks everything that
// can fail as a user error before its first write.
type Store = primitive.Store

// ErrCorruptHolder is returned for a holder record that does not decode.
var ErrCorruptHolder = corruption.New("locks: corrupt holder record")

// Holder is the decoded holder record of a lock (or the leader record of
// an election): the owner key that holds it, the fencing token (the
// revision at which it was granted), the owner's lease and its data (a
// lock's Owner, a candidate's Value).
//
// Tail is the revision of the newest owner key created while the record
// existed (the holder's own when nobody joined after it): no live owner
// key is newer. When the holder leaves and Tail is its own key's
// revision, nobody is waiting and the hand-off needs no scan of the owner
// keys — the common case of an uncontended lock.
type Holder struct {
	Key   []byte
	Token int64
	Lease int64
	Tail  int64
	Owner []byte
}

// holderVersion is the first byte of an encoded holder record.
const holderVersion = 2

// Encode encodes h as a holder record: a version byte (2), uvarint Token,
// varint Lease, uvarint Tail, uvarint len(Key), Key, then Owner up to the
// end.
func (h Holder) Encode() []byte {
	b := make([]byte, 0, 1+4*binary.MaxVarintLen64+len(h.Key)+len(h.Owner))
	b = append(b, holderVersion)
	b = binary.AppendUvarint(b, uint64(h.Token))
	b = binary.AppendVarint(b, h.Lease)
	b = binary.AppendUvarint(b, uint64(h.Tail))
	b = binary.AppendUvarint(b, uint64(len(h.Key)))
	b = append(b, h.Key...)
	return append(b, h.Owner...)
}

// DecodeHolder decodes the value of a holder record (HolderKey). The
// result does not alias value.
func DecodeHolder(value []byte) (Holder, error) {
	if len(value) == 0 || value[0] != holderVersion {
		return Holder{}, ErrCorruptHolder
	}
	b := value[1:]
	token, n := binary.Uvarint(b)
	if n <= 0 {
		return Holder{}, ErrCorruptHolder
	}
	b = b[n:]
	lease, n := binary.Varint(b)
	if n <= 0 {
		return Holder{}, ErrCorruptHolder
	}
	b = b[n:]
	tail, n := binary.Uvarint(b)
	if n <= 0 {
		return Holder{}, ErrCorruptHolder
	}
	b = b[n:]
	klen, n := binary.Uvarint(b)
	if n <= 0 || klen > uint64(len(b)-n) {
		return Holder{}, ErrCorruptHolder
	}
	b = b[n:]
	h := Holder{Key: bytes.Clone(b[:klen]), Token: int64(token), Lease: lease, Tail: int64(tail)}
	if len(b) > int(klen) {
		h.Owner = bytes.Clone(b[klen:])
	}
	return h, nil
}

// FIFO is one instance of the owner queue that locks and elections share:
// owner keys under Prefix()+"o/", named by the revision that created
// them, and a holder record at HolderKey() naming the lowest (oldest)
// owner, which holds the lock or leads the election. Invariant, at every
// revision: the holder record exists exactly when an owner key does, and
// names the lowest owner key.
type FIFO struct {
	kind   string // "lock" or "election", for messages
	name   string
	prefix []byte
}

// NewFIFO returns the FIFO of the kind's instance name ("lock",
// "election"), whose state lives under root. An invalid name is a
// wire.CodeInvalid error.
func NewFIFO(kind, root, name string) (*FIFO, *wire.Error) {
	if werr := checkName(kind, name); werr != nil {
		return nil, werr
	}
	p := make([]byte, 0, len(root)+len(name)+3)
	p = append(p, root...)
	p = append(p, '{')
	p = append(p, name...)
	p = append(p, '}', '/')
	return &FIFO{kind: kind, name: name, prefix: p}, nil
}

// CheckName checks the name of an instance of kind (a lock, an election,
// a semaphore: all use this layout): non-empty, at most MaxNameLen bytes,
// without '{' or '}'. A name may contain '/' (hierarchical names such as
// "jobs/a", which a role's prefix permission "jobs/" covers): the
// instance's keys are ROOT{NAME}/..., and the parsers (OwnerName) take the
// name up to the first '}'. The error is a wire.CodeInvalid *wire.Error.
func CheckName(kind, name string) *wire.Error { return checkName(kind, name) }

func checkName(kind, name string) *wire.Error {
	switch {
	case name == "":
		return wire.Errorf(wire.CodeInvalid, "empty %s name", kind)
	case len(name) > MaxNameLen:
		return wire.Errorf(wire.CodeInvalid, "%s name of %d bytes is longer than %d", kind, len(name), MaxNameLen)
	}
	if i := bytes.IndexAny([]byte(name), "{}"); i >= 0 {
		return wire.Errorf(wire.CodeInvalid, "%s name %q contains %q: names cannot contain '{' or '}'", kind, name, name[i])
	}
	return nil
}

// instancePrefix is NewFIFO's prefix for a name already validated or to
// be shown only.
func instancePrefix(root, name string) []byte {
	return []byte(root + "{" + name + "}/")
}

// Name returns the instance's name.
func (f *FIFO) Name() string { return f.name }

// Prefix returns the prefix of every key of the instance.
func (f *FIFO) Prefix() []byte { return bytes.Clone(f.prefix) }

// HolderKey returns the key of the holder record.
func (f *FIFO) HolderKey() []byte { return append(f.Prefix(), 'h') }

// ownerPrefix returns the prefix of the owner keys.
func (f *FIFO) ownerPrefix() []byte { return append(f.Prefix(), 'o', '/') }

// ownerKey returns the key of the owner that arrived at rev.
func (f *FIFO) ownerKey(rev int64) []byte {
	return binary.BigEndian.AppendUint64(f.ownerPrefix(), uint64(rev))
}

// ownerRevision returns the revision an owner key was created at.
func ownerRevision(key []byte) int64 {
	return int64(binary.BigEndian.Uint64(key[len(key)-8:]))
}

// isOwnerKey reports whether key has the form of one of the instance's
// owner keys.
func (f *FIFO) isOwnerKey(key []byte) bool {
	p := f.ownerPrefix()
	return len(key) == len(p)+8 && bytes.HasPrefix(key, p)
}

// Holder returns the holder record, and false if nobody holds the
// instance.
func (f *FIFO) Holder(r Reader) (Holder, bool, error) {
	kv, err := r.Get(f.HolderKey())
	if err != nil || kv == nil {
		return Holder{}, false, err
	}
	h, err := DecodeHolder(kv.Value)
	if err != nil {
		return Holder{}, false, fmt.Errorf("%s %q: %w", f.kind, f.name, err)
	}
	return h, true, nil
}

// Owners returns the number of owners (the holder and those waiting).
func (f *FIFO) Owners(r Reader) (int64, error) {
	p := f.ownerPrefix()
	return r.Count(p, ownerEnd(p))
}

// ownerEnd is the end of the owner keys' range: "o/" → "o0".
func ownerEnd(ownerPrefix []byte) []byte {
	end := bytes.Clone(ownerPrefix)
	end[len(end)-1]++
	return end
}

// CheckLease checks that lease can own a key of the instance: a lease of
// this shard that exists.
func (f *FIFO) CheckLease(st Store, lease int64) (*wire.Error, error) {
	if lease == 0 {
		return wire.Errorf(wire.CodeInvalid, "%s %q: a lease is required (the owner leaves when it expires)", f.kind, f.name), nil
	}
	shard, ok := wire.LeaseShard(lease)
	if !ok {
		return wire.Errorf(wire.CodeLeaseNotFound, "lease %016x not found (not a lease ID)", lease), nil
	}
	if shard != st.Shard() {
		return wire.Errorf(wire.CodeWrongShard,
			"%s %q lives in shard %d and cannot use lease %016x of shard %d: grant the lease with routing key {%s}",
			f.kind, f.name, st.Shard(), lease, shard, f.name), nil
	}
	ok, err := st.LeaseExists(lease)
	if err != nil || ok {
		return nil, err
	}
	return wire.Errorf(wire.CodeLeaseNotFound, "lease %016x not found", lease), nil
}

// Join adds an owner with lease (checked by CheckLease) and data at the
// store's revision, and grants it if nobody holds the instance. It
// returns the new owner's key and the holder after the command (the new
// owner if granted is true).
func (f *FIFO) Join(st Store, lease int64, data []byte) (key []byte, h Holder, granted bool, err error) {
	h, held, err := f.Holder(st)
	if err != nil {
		return nil, Holder{}, false, err
	}
	key = f.ownerKey(st.Revision())
	if err := st.Put(key, data, lease); err != nil {
		return nil, Holder{}, false, err
	}
	if held {
		h.Tail = st.Revision()
		if err := st.Put(f.HolderKey(), h.Encode(), 0); err != nil {
			return nil, Holder{}, false, err
		}
		return key, h, false, nil
	}
	h = Holder{Key: key, Token: st.Revision(), Lease: lease, Tail: st.Revision(), Owner: bytes.Clone(data)}
	if err := st.Put(f.HolderKey(), h.Encode(), 0); err != nil {
		return nil, Holder{}, false, err
	}
	return key, h, true, nil
}

// Owned checks that key is a live owner of the instance attached to
// lease. It returns false, nil when key is not a live owner, and a
// wire.CodeNotOwner error when it is one of another lease: a release must
// prove ownership by naming the owner's lease.
func (f *FIFO) Owned(r Reader, key []byte, lease int64) (bool, *wire.Error, error) {
	if !f.isOwnerKey(key) {
		return false, nil, nil
	}
	kv, err := r.Get(key)
	if err != nil || kv == nil {
		return false, nil, err
	}
	if kv.Lease != lease {
		return true, wire.Errorf(wire.CodeNotOwner,
			"%s %q: not owner: key %q belongs to lease %016x, not %016x; only its owner may release it", f.kind, f.name, key, kv.Lease, lease), nil
	}
	return true, nil, nil
}

// Leave removes owner key: if it held the instance, the next owner is
// granted in the same command (or the holder record deleted when there is
// none). It reports false, changing nothing, if key is not a live owner
// of the instance.
func (f *FIFO) Leave(st Store, key []byte) (bool, error) {
	if !f.isOwnerKey(key) {
		return false, nil
	}
	deleted, err := st.Delete(key)
	if err != nil || !deleted {
		return false, err
	}
	return true, f.OwnerGone(st, key)
}

// OwnerGone hands the instance on after owner key was deleted (by Leave or
// by its lease's revoke): if key was the holder, the lowest owner left
// becomes the holder with token Revision, else nothing changes.
func (f *FIFO) OwnerGone(st Store, key []byte) error { return f.ownerGone(st, key, nil) }

// ownerGone is OwnerGone; with sharedHead set (a lock's exclusive owner
// left), it regrants instead when the owner that holds (or would hold)
// after key is shared by sharedHead — the only case in which the shared
// owners behind it may gain.
func (f *FIFO) ownerGone(st Store, key []byte, sharedHead func(head []byte) (bool, error)) error {
	h, held, err := f.Holder(st)
	if err != nil || !held {
		return err
	}
	if !bytes.Equal(h.Key, key) {
		if sharedHead == nil {
			return nil
		}
		// A waiting owner left and the head is unchanged: a shared head
		// may be joined by the shared owners that waited behind key.
		if shared, err := sharedHead(h.Key); err != nil || !shared {
			return err
		}
		return f.regrant(st)
	}
	// Nobody joined after the holder: nobody is left.
	if h.Tail <= ownerRevision(key) {
		_, err := st.Delete(f.HolderKey())
		return err
	}
	// The holder was the lowest owner, so every owner key below it is
	// gone: start right after it instead of scanning their tombstones
	// (a busy lock leaves one per past holder until compaction).
	p := f.ownerPrefix()
	next, err := st.Range(append(bytes.Clone(key), 0), ownerEnd(p), 1)
	if err != nil {
		return err
	}
	if len(next) == 0 {
		_, err := st.Delete(f.HolderKey())
		return err
	}
	n := next[0]
	if sharedHead != nil {
		if shared, err := sharedHead(n.Key); err != nil || shared {
			if err != nil {
				return err
			}
			return f.regrant(st)
		}
	}
	h = Holder{Key: n.Key, Token: st.Revision(), Lease: n.Lease, Tail: h.Tail, Owner: n.Value}
	return st.Put(f.HolderKey(), h.Encode(), 0)
}

// SetOwner replaces the data of the holder key (its owner key's value and
// the holder record), keeping its token. It returns false, changing
// nothing, if key does not hold the instance.
func (f *FIFO) SetOwner(st Store, key, data []byte) (Holder, bool, error) {
	h, held, err := f.Holder(st)
	if err != nil || !held || !bytes.Equal(h.Key, key) {
		return Holder{}, false, err
	}
	kv, err := st.Get(key)
	if err != nil || kv == nil {
		// A holder record naming a missing owner breaks the invariant.
		return Holder{}, false, errors.Join(err, corruption.Errorf("locks: %s %q: holder %q has no owner key", f.kind, f.name, key))
	}
	h.Owner = bytes.Clone(data)
	if err := st.Put(key, data, kv.Lease); err != nil {
		return Holder{}, false, err
	}
	if err := st.Put(f.HolderKey(), h.Encode(), 0); err != nil {
		return Holder{}, false, err
	}
	return h, true, nil
}

// OwnerName returns the instance name of an owner key under root, and
// false for any other key.
func OwnerName(root string, key []byte) (string, bool) {
	if !bytes.HasPrefix(key, []byte(root)) {
		return "", false
	}
	rest := key[len(root):]
	if len(rest) < 2 || rest[0] != '{' {
		return "", false
	}
	end := bytes.IndexByte(rest, '}')
	if end < 0 {
		return "", false
	}
	name := string(rest[1:end])
	tail := rest[end+1:]
	if len(tail) != len("/o/")+8 || !bytes.HasPrefix(tail, []byte("/o/")) {
		return "", false
	}
	return name, checkName("", name) == nil
}

// OwnerGoneUnder is OwnerDeleted for the instances under root: kind names
// them in messages.
func OwnerGoneUnder(st Store, kind, root string, key []byte) error {
	name, ok := OwnerName(root, key)
	if !ok {
		return nil
	}
	f, werr := NewFIFO(kind, root, name)
	if werr != nil {
		return nil
	}
	return f.OwnerGone(st, key)
}
