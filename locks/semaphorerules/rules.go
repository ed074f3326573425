package semaphorerules

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/locks/lockrules"
	"github.com/coord-io/coord/statemachine/corruption"
)

// The state-machine rules of counting semaphores: package statemachine
// calls them inside the replicated apply, over a Store of the semaphore's
// shard. They are deterministic (no clock, no randomness, no map
// iteration), check every user error before their first write, and make
// at most one revision. See doc.go for the key layout, the grant rule and
// a worked example.

// Store is the view of one shard that a command's rules read and write
// (the lock rules' Store).
type Store = lockrules.Store

// Reader is the view of one shard that the read-only rules use.
type Reader = lockrules.Reader

const kind = "semaphore"

// Root is the prefix of every semaphore's state (see Prefix).
const Root = "\x00coord/semaphore/"

// MaxNameLen is the longest name of a semaphore, in bytes.
const MaxNameLen = lockrules.MaxNameLen

// ErrCorrupt is returned (wrapped, with the semaphore's name) for state
// that breaks the layout's invariants: a record that does not decode, or
// counts in the meta record that disagree with the owner keys.
var ErrCorrupt = corruption.New("semaphore: corrupt state")

// ValidateName checks a semaphore name: non-empty, at most MaxNameLen
// bytes, without '{' or '}' ('/' is allowed). The error is a *wire.Error with
// wire.CodeInvalid; nil for a valid name.
func ValidateName(name string) error {
	if werr := checkName(name); werr != nil {
		return werr
	}
	return nil
}

func checkName(name string) *wire.Error { return lockrules.CheckName(kind, name) }

// Prefix returns the prefix of every key of semaphore name:
// "\x00coord/semaphore/{NAME}/". Its hash tag is NAME, so the semaphore
// lives in the shard of the keys tagged {NAME}.
func Prefix(name string) []byte { return []byte(Root + "{" + name + "}/") }

// MetaKey returns the key of semaphore name's meta record (Prefix + "m"),
// whose value DecodeMeta reads. It exists exactly when an owner key does.
func MetaKey(name string) []byte { return append(Prefix(name), 'm') }

// OwnerKey returns the key of the owner of semaphore name that arrived at
// revision rev (Prefix + "o/" + rev as 8 bytes big-endian), whose value
// DecodeOwner reads.
func OwnerKey(name string, rev int64) []byte {
	return binary.BigEndian.AppendUint64(ownerPrefix(name), uint64(rev))
}

func ownerPrefix(name string) []byte { return append(Prefix(name), 'o', '/') }

// ownerEnd is the end of the owner keys' range: "o/" → "o0".
func ownerEnd(name string) []byte { return append(Prefix(name), 'o', '0') }

// ownerRevision returns the revision an owner key was created at.
func ownerRevision(key []byte) int64 {
	return int64(binary.BigEndian.Uint64(key[len(key)-8:]))
}

// OwnerName returns the semaphore name of an owner key, and false for any
// other key (the owner keys of semaphores are laid out as locks' are).
func OwnerName(key []byte) (string, bool) { return lockrules.OwnerName(Root, key) }

func isOwnerKey(name string, key []byte) bool {
	n, ok := OwnerName(key)
	return ok && n == name
}

// Meta is the decoded meta record of a semaphore: its Limit, the permits
// Held (sum of the holders' weights), the number of Holders and Waiters,
// and Head, a revision no waiter's key is below (0 when nobody waits): the
// grant scan starts there instead of passing over the holders' keys.
type Meta struct {
	Limit   int64
	Held    int64
	Holders int64
	Waiters int64
	Head    int64
}

const recordVersion = 1

// Encode encodes m as a meta record: a version byte (1), then Limit,
// Held, Holders, Waiters and Head as uvarints.
func (m Meta) Encode() []byte {
	b := make([]byte, 0, 1+5*binary.MaxVarintLen64)
	b = append(b, recordVersion)
	for _, v := range []int64{m.Limit, m.Held, m.Holders, m.Waiters, m.Head} {
		b = binary.AppendUvarint(b, uint64(v))
	}
	return b
}

// DecodeMeta decodes the value of a meta record (MetaKey).
func DecodeMeta(value []byte) (Meta, error) {
	if len(value) == 0 || value[0] != recordVersion {
		return Meta{}, ErrCorrupt
	}
	b := value[1:]
	var vs [5]int64
	for i := range vs {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > 1<<63-1 {
			return Meta{}, ErrCorrupt
		}
		vs[i], b = int64(v), b[n:]
	}
	if len(b) != 0 {
		return Meta{}, ErrCorrupt
	}
	return Meta{Limit: vs[0], Held: vs[1], Holders: vs[2], Waiters: vs[3], Head: vs[4]}, nil
}

// Owner is the decoded value of an owner key: the Weight it asked for,
// the Token of its grant (0 while it waits) and its Data (the request's
// Owner).
type Owner struct {
	Weight int64
	Token  int64
	Data   []byte
}

// Encode encodes o as an owner key's value: a version byte (1), uvarint
// Weight, uvarint Token, then Data up to the end.
func (o Owner) Encode() []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(o.Data))
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, uint64(o.Weight))
	b = binary.AppendUvarint(b, uint64(o.Token))
	return append(b, o.Data...)
}

// DecodeOwner decodes the value of an owner key (OwnerKey). The result
// does not alias value. A server waiting for a grant watches the owner
// key: a put whose value has Token != 0 is the grant, a delete means the
// owner left.
func DecodeOwner(value []byte) (Owner, error) {
	if len(value) == 0 || value[0] != recordVersion {
		return Owner{}, ErrCorrupt
	}
	b := value[1:]
	w, n := binary.Uvarint(b)
	if n <= 0 || w == 0 || w > 1<<63-1 {
		return Owner{}, ErrCorrupt
	}
	b = b[n:]
	t, n := binary.Uvarint(b)
	if n <= 0 || t > 1<<63-1 {
		return Owner{}, ErrCorrupt
	}
	b = b[n:]
	o := Owner{Weight: int64(w), Token: int64(t)}
	if len(b) > 0 {
		o.Data = bytes.Clone(b)
	}
	return o, nil
}

func corrupt(name, format string, args ...any) error {
	return fmt.Errorf("semaphore %q: %s: %w", name, fmt.Sprintf(format, args...), ErrCorrupt)
}

func readMeta(r Reader, name string) (Meta, bool, error) {
	kv, err := r.Get(MetaKey(name))
	if err != nil || kv == nil {
		return Meta{}, false, err
	}
	m, err := DecodeMeta(kv.Value)
	if err != nil {
		return Meta{}, false, corrupt(name, "meta record")
	}
	return m, true, nil
}

func decodeOwnerAt(name string, kv *wire.KeyValue) (Owner, error) {
	o, err := DecodeOwner(kv.Value)
	if err != nil {
		return Owner{}, corrupt(name, "owner key %q", kv.Key)
	}
	return o, nil
}

// checkLease checks that lease can own a key of semaphore name: a lease
// of this shard that exists.
func checkLease(st Store, name string, lease int64) (*wire.Error, error) {
	if lease == 0 {
		return wire.Errorf(wire.CodeInvalid, "%s %q: a lease is required (the owner leaves when it expires)", kind, name), nil
	}
	shard, ok := wire.LeaseShard(lease)
	if !ok {
		return wire.Errorf(wire.CodeLeaseNotFound, "lease %016x not found (not a lease ID)", lease), nil
	}
	if shard != st.Shard() {
		return wire.Errorf(wire.CodeWrongShard,
			"%s %q lives in shard %d and cannot use lease %016x of shard %d: grant the lease with routing key {%s}",
			kind, name, st.Shard(), lease, shard, name), nil
	}
	ok, err := st.LeaseExists(lease)
	if err != nil || ok {
		return nil, err
	}
	return wire.Errorf(wire.CodeLeaseNotFound, "lease %016x not found", lease), nil
}

// CheckAcquire checks what an acquire can check without the store: the
// name, the limit and the weight (returned, 0 read as 1). The server may
// call it before proposing or resuming a wait.
func CheckAcquire(req *wire.SemaphoreAcquireRequest) (int64, *wire.Error) {
	if werr := checkName(req.Name); werr != nil {
		return 0, werr
	}
	if req.Limit < 1 {
		return 0, wire.Errorf(wire.CodeInvalid, "%s %q: limit %d: a limit of at least 1 permit is required", kind, req.Name, req.Limit)
	}
	w := req.Weight
	if w == 0 {
		w = 1
	}
	switch {
	case w < 0:
		return 0, wire.Errorf(wire.CodeInvalid, "%s %q: weight %d: a weight is 1 to the limit (%d)", kind, req.Name, w, req.Limit)
	case w > req.Limit:
		return 0, wire.Errorf(wire.CodeInvalid, "%s %q: weight %d is more than the limit %d: it could never be granted", kind, req.Name, w, req.Limit)
	}
	return w, nil
}

// ApplyAcquire applies a SemaphoreAcquireRequest at st.Revision(): it
// queues an owner of the request's weight attached to req.Lease, granted
// at once (Token = the revision) if nobody waits and the weight fits in
// the permits left, else waiting (Token 0). With req.Try and no grant at
// once it writes nothing and fails with wire.CodeLocked. The response's
// Header is left to the caller.
func ApplyAcquire(st Store, req *wire.SemaphoreAcquireRequest) (*wire.SemaphoreAcquireResponse, *wire.Error, error) {
	w, werr := CheckAcquire(req)
	if werr != nil {
		return nil, werr, nil
	}
	if req.Resume != nil {
		return nil, wire.Errorf(wire.CodeInvalid, "%s %q: a resumed acquire only waits and is not applied as a command", kind, req.Name), nil
	}
	name := req.Name
	if werr, err := checkLease(st, name, req.Lease); werr != nil || err != nil {
		return nil, werr, err
	}
	m, exists, err := readMeta(st, name)
	if err != nil {
		return nil, nil, err
	}
	if !exists {
		m = Meta{Limit: req.Limit}
	} else if m.Limit != req.Limit {
		return nil, wire.Errorf(wire.CodeInvalid,
			"%s %q has a limit of %d, not %d: every acquirer gives the same limit while it has holders or waiters (%d holding, %d waiting)",
			kind, name, m.Limit, req.Limit, m.Holders, m.Waiters), nil
	}
	fits := m.Waiters == 0 && w <= m.Limit-m.Held
	if req.Try && !fits {
		return nil, wire.Errorf(wire.CodeLocked,
			"%s %q: %d permit(s) not free at once: %d of %d held by %d holder(s), %d waiting",
			kind, name, w, m.Held, m.Limit, m.Holders, m.Waiters), nil
	}
	rev := st.Revision()
	key := OwnerKey(name, rev)
	o := Owner{Weight: w, Data: req.Owner}
	if fits {
		o.Token = rev
		m.Held += w
		m.Holders++
	} else {
		if m.Waiters == 0 {
			m.Head = rev
		}
		m.Waiters++
	}
	if err := st.Put(key, o.Encode(), req.Lease); err != nil {
		return nil, nil, err
	}
	if err := st.Put(MetaKey(name), m.Encode(), 0); err != nil {
		return nil, nil, err
	}
	return &wire.SemaphoreAcquireResponse{Key: key, Token: o.Token}, nil, nil
}

// ApplyRelease applies a SemaphoreReleaseRequest: the owner key req.Key
// leaves the semaphore (a holder gives its permits back, a waiter stops
// waiting) and the waiters that then fit are granted at st.Revision().
// A key that is not an owner of the semaphore (any more) is
// wire.CodeNotHolder; an owner key of another lease than req.Lease is
// wire.CodeNotOwner. Both change nothing.
func ApplyRelease(st Store, req *wire.SemaphoreReleaseRequest) (*wire.SemaphoreReleaseResponse, *wire.Error, error) {
	name := req.Name
	if werr := checkName(name); werr != nil {
		return nil, werr, nil
	}
	notHolder := wire.Errorf(wire.CodeNotHolder,
		"key %q is not an owner of %s %q (released already, or its lease expired)", req.Key, kind, name)
	if !isOwnerKey(name, req.Key) {
		return nil, notHolder, nil
	}
	kv, err := st.Get(req.Key)
	if err != nil {
		return nil, nil, err
	}
	if kv == nil {
		return nil, notHolder, nil
	}
	if kv.Lease != req.Lease {
		return nil, wire.Errorf(wire.CodeNotOwner,
			"%s %q: not owner: key %q belongs to lease %016x, not %016x; only its owner may release it",
			kind, name, req.Key, kv.Lease, req.Lease), nil
	}
	o, err := decodeOwnerAt(name, kv)
	if err != nil {
		return nil, nil, err
	}
	if _, err := st.Delete(req.Key); err != nil {
		return nil, nil, err
	}
	if err := ownerGone(st, name, o); err != nil {
		return nil, nil, err
	}
	return &wire.SemaphoreReleaseResponse{}, nil, nil
}

// OwnerDeleted hands a semaphore on after one of its owner keys was
// deleted other than by ApplyRelease, that is by the revoke of its lease:
// called by the revoke command, at its revision, for every deleted key
// under Root (prev: its last live version), in key order, after all the
// lease's keys are gone. Keys that are not owner keys are ignored.
//
// While a revoke's hooks run, the meta record still counts the deleted
// owners not handed on yet: a grant in between is conservative (it sees
// their permits as held), and the last hook, with exact counts, grants
// every waiter that fits.
func OwnerDeleted(st Store, prev *wire.KeyValue) error {
	name, ok := OwnerName(prev.Key)
	if !ok {
		return nil
	}
	o, err := decodeOwnerAt(name, prev)
	if err != nil {
		return err
	}
	return ownerGone(st, name, o)
}

// ownerGone updates the meta record after owner o was deleted, and grants
// the waiters that then fit (or deletes the meta record when nobody is
// left).
func ownerGone(st Store, name string, o Owner) error {
	m, exists, err := readMeta(st, name)
	if err != nil {
		return err
	}
	if !exists {
		return corrupt(name, "an owner left a semaphore without a meta record")
	}
	if o.Token != 0 {
		m.Held -= o.Weight
		m.Holders--
	} else {
		m.Waiters--
	}
	if m.Held < 0 || m.Holders < 0 || m.Waiters < 0 || (m.Holders == 0) != (m.Held == 0) {
		return corrupt(name, "meta record counts %+v after an owner of weight %d left", m, o.Weight)
	}
	if m.Holders == 0 && m.Waiters == 0 {
		_, err := st.Delete(MetaKey(name))
		return err
	}
	if err := grant(st, name, &m); err != nil {
		return err
	}
	return st.Put(MetaKey(name), m.Encode(), 0)
}

// grant grants the waiters from the head, in arrival order, while the
// head's weight fits in the permits left, at st.Revision(); it stops at
// the first that does not fit. It updates m; the caller puts it.
func grant(st Store, name string, m *Meta) error {
	start, end := OwnerKey(name, m.Head), ownerEnd(name)
	for m.Waiters > 0 && m.Held < m.Limit {
		kvs, err := st.Range(start, end, 1)
		if err != nil {
			return err
		}
		if len(kvs) == 0 {
			// Only while a revoke's hooks run: the waiters counted are
			// deleted keys not handed on yet.
			return nil
		}
		kv := kvs[0]
		o, err := decodeOwnerAt(name, kv)
		if err != nil {
			return err
		}
		if o.Token != 0 {
			return corrupt(name, "holder %q at or after the head of the waiters (revision %d)", kv.Key, m.Head)
		}
		rev := ownerRevision(kv.Key)
		if o.Weight > m.Limit-m.Held {
			m.Head = rev
			return nil
		}
		o.Token = st.Revision()
		if err := st.Put(kv.Key, o.Encode(), kv.Lease); err != nil {
			return err
		}
		m.Held += o.Weight
		m.Holders++
		m.Waiters--
		m.Head = rev + 1
		start = OwnerKey(name, m.Head)
	}
	if m.Waiters == 0 {
		m.Head = 0
	}
	return nil
}

func statusOwner(kv *wire.KeyValue, o Owner) wire.SemaphoreOwner {
	return wire.SemaphoreOwner{Key: kv.Key, Owner: o.Data, Weight: o.Weight, Token: o.Token, Lease: kv.Lease}
}

// ReadStatus describes semaphore name as r sees it: its limit, the
// permits held, the holders and the waiters in arrival order. Header and
// the owners' LeaseTTL are left to the caller. A semaphore without owners
// has Limit 0.
func ReadStatus(r Reader, name string) (*wire.SemaphoreStatusResponse, *wire.Error, error) {
	if werr := checkName(name); werr != nil {
		return nil, werr, nil
	}
	m, exists, err := readMeta(r, name)
	if err != nil || !exists {
		return &wire.SemaphoreStatusResponse{}, nil, err
	}
	kvs, err := r.Range(ownerPrefix(name), ownerEnd(name), 0)
	if err != nil {
		return nil, nil, err
	}
	resp := &wire.SemaphoreStatusResponse{Limit: m.Limit, Held: m.Held}
	for _, kv := range kvs {
		o, err := decodeOwnerAt(name, kv)
		if err != nil {
			return nil, nil, err
		}
		if o.Token != 0 {
			resp.Holders = append(resp.Holders, statusOwner(kv, o))
		} else {
			resp.Waiters = append(resp.Waiters, statusOwner(kv, o))
		}
	}
	return resp, nil, nil
}

// ReadOwner returns owner key of semaphore name as r sees it (Token != 0
// once granted), or nil when it is not an owner any more: what a resumed
// wait reads first. A key that is not an owner key of name is
// wire.CodeInvalid.
func ReadOwner(r Reader, name string, key []byte) (*wire.SemaphoreOwner, *wire.Error, error) {
	if werr := checkName(name); werr != nil {
		return nil, werr, nil
	}
	if !isOwnerKey(name, key) {
		return nil, wire.Errorf(wire.CodeInvalid, "%q is not an owner key of %s %q", key, kind, name), nil
	}
	kv, err := r.Get(key)
	if err != nil || kv == nil {
		return nil, nil, err
	}
	o, err := decodeOwnerAt(name, kv)
	if err != nil {
		return nil, nil, err
	}
	so := statusOwner(kv, o)
	return &so, nil, nil
}
