package queuerules

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/locks/lockrules"
	"github.com/coord-io/coord/statemachine/corruption"
	"github.com/coord-io/coord/statemachine/primitive"
)

// The state-machine rules of queues: package statemachine calls them
// inside the replicated apply, over a Store of the queue's shard. They are
// deterministic (no clock, no randomness, no map iteration), check every
// user error before their first write, and make at most one revision.
// See package queue's doc for the key layout and a worked example.

// Root is the prefix of every queue's state (see Prefix).
const Root = "\x00coord/queue/"

// MaxNameLen is the longest name of a queue, in bytes, not counting the
// DeadSuffix of a dead-letter queue's name.
const MaxNameLen = lockrules.MaxNameLen

// DeadSuffix ends the name of a dead-letter queue: items of queue NAME
// delivered more than their MaxDeliveries go to queue NAME + DeadSuffix.
const DeadSuffix = ".dead"

// Store is the view of one shard that the queue rules read and write:
// lockrules.Store, plus leases granted and revoked inside the command (the
// visibility timeout of an in-flight item is a lease of its own); see
// primitive.LeaseStore.
type Store = primitive.LeaseStore

// ErrCorrupt is returned (wrapped, with the queue's name) for queue state
// that breaks the layout's invariants: a record that does not decode, or
// a ready item missing where the meta record says one is.
var ErrCorrupt = corruption.New("queue: corrupt state")

// ref is a parsed queue name: queue base, or base's dead-letter queue.
type ref struct {
	name   string // as given: base or base + DeadSuffix
	base   string
	dead   bool
	prefix []byte
}

// parse checks and parses a queue name.
func parse(name string) (*ref, *wire.Error) {
	base, dead := strings.CutSuffix(name, DeadSuffix)
	if werr := checkName(base); werr != nil {
		if dead && base == "" {
			return nil, wire.Errorf(wire.CodeInvalid, "queue name %q is a dead-letter suffix without a queue name", name)
		}
		return nil, werr
	}
	if dead && strings.HasSuffix(base, DeadSuffix) {
		return nil, wire.Errorf(wire.CodeInvalid,
			"queue %q: the dead-letter queue %q has no dead-letter queue of its own", name, base)
	}
	return &ref{name: name, base: base, dead: dead, prefix: prefixOf(base, dead)}, nil
}

func checkName(name string) *wire.Error {
	switch {
	case name == "":
		return wire.Errorf(wire.CodeInvalid, "empty queue name")
	case len(name) > MaxNameLen:
		return wire.Errorf(wire.CodeInvalid, "queue name of %d bytes is longer than %d", len(name), MaxNameLen)
	}
	if i := strings.IndexAny(name, "{}"); i >= 0 {
		return wire.Errorf(wire.CodeInvalid, "queue name %q contains %q: names cannot contain '{' or '}'", name, name[i])
	}
	return nil
}

func prefixOf(base string, dead bool) []byte {
	p := Root + "{" + base + "}/"
	if dead {
		p += "dead/"
	}
	return []byte(p)
}

// ValidateName checks a queue name: a name as for locks (1 to MaxNameLen
// bytes, without '{' or '}'; '/' is allowed), optionally followed by DeadSuffix for
// its dead-letter queue ("jobs.dead"; "jobs.dead.dead" is invalid). The
// error is a *wire.Error with wire.CodeInvalid; nil for a valid name.
func ValidateName(name string) error {
	if _, werr := parse(name); werr != nil {
		return werr
	}
	return nil
}

// Prefix returns the prefix of every key of queue name:
// "\x00coord/queue/{NAME}/", and "\x00coord/queue/{NAME}/dead/" for its
// dead-letter queue NAME.dead. Both have hash tag NAME, so a queue and its
// dead-letter queue live in one shard. (A queue's prefix is a prefix of
// its dead-letter queue's.)
func Prefix(name string) []byte {
	base, dead := strings.CutSuffix(name, DeadSuffix)
	if base == "" {
		base, dead = name, false
	}
	return prefixOf(base, dead)
}

// ReadyPrefix returns the prefix of queue name's ready items (Prefix +
// "r/"). A put event under it means an item became ready (enqueued, or
// returned after a nack, a visibility timeout or its consumer's lease
// ending): what a blocked Dequeue waits for.
func ReadyPrefix(name string) []byte { return append(Prefix(name), 'r', '/') }

// InFlightPrefix returns the prefix of queue name's in-flight items
// (Prefix + "f/"), each attached to its visibility lease.
func InFlightPrefix(name string) []byte { return append(Prefix(name), 'f', '/') }

// ConsumerPrefix returns the prefix of queue name's consumer markers
// (Prefix + "c/"), each attached to the lease of the consumer holding the
// item of the same sequence number.
func ConsumerPrefix(name string) []byte { return append(Prefix(name), 'c', '/') }

// MetaKey returns the key of queue name's meta record (Prefix + "m").
func MetaKey(name string) []byte { return append(Prefix(name), 'm') }

// ReadyKey, InFlightKey and ConsumerKey return the keys of item seq of
// queue name: the prefix and seq as 8 bytes big-endian.
func ReadyKey(name string, seq int64) []byte    { return seqKey(ReadyPrefix(name), seq) }
func InFlightKey(name string, seq int64) []byte { return seqKey(InFlightPrefix(name), seq) }
func ConsumerKey(name string, seq int64) []byte { return seqKey(ConsumerPrefix(name), seq) }

func seqKey(prefix []byte, seq int64) []byte {
	return binary.BigEndian.AppendUint64(prefix, uint64(seq))
}

func (q *ref) key(kind byte, seq int64) []byte {
	k := make([]byte, 0, len(q.prefix)+10)
	k = append(k, q.prefix...)
	k = append(k, kind, '/')
	return binary.BigEndian.AppendUint64(k, uint64(seq))
}

func (q *ref) metaKey() []byte { return append(bytes.Clone(q.prefix), 'm') }

// deadQueue returns the dead-letter queue of q (q must not be one).
func (q *ref) deadQueue() *ref {
	return &ref{name: q.base + DeadSuffix, base: q.base, dead: true, prefix: prefixOf(q.base, true)}
}

func (q *ref) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: queue %q: %s", ErrCorrupt, q.name, fmt.Sprintf(format, args...))
}

// Meta is the decoded meta record of a queue.
//
// Next is the sequence number the next enqueued item gets (1 for a new
// queue; never reused). Ready and InFlight count the items. Fresh is the
// lowest sequence number never delivered: the ready items of [Fresh,
// Next) are exactly the never-delivered ones, contiguous, and every other
// ready item (Returned of them: delivered before, then returned) has a
// lower sequence number, at least RetLow. So the head is found without
// walking the keys of items delivered since (until compaction, their
// tombstones are still in the keyspace).
type Meta struct {
	Next, Fresh, Ready, InFlight, RetLow int64
}

// Returned is the number of ready items that were delivered before.
func (m Meta) Returned() int64 { return m.Ready - (m.Next - m.Fresh) }

const metaVersion = 1

// Encode encodes m: a version byte (1), then Next, Fresh, Ready, InFlight
// and RetLow as uvarints.
func (m Meta) Encode() []byte {
	b := make([]byte, 0, 1+5*binary.MaxVarintLen64)
	b = append(b, metaVersion)
	for _, v := range []int64{m.Next, m.Fresh, m.Ready, m.InFlight, m.RetLow} {
		b = binary.AppendUvarint(b, uint64(v))
	}
	return b
}

// DecodeMeta decodes a meta record (MetaKey).
func DecodeMeta(value []byte) (Meta, error) {
	if len(value) == 0 || value[0] != metaVersion {
		return Meta{}, ErrCorrupt
	}
	b := value[1:]
	var vs [5]int64
	for i := range vs {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > 1<<62 {
			return Meta{}, ErrCorrupt
		}
		vs[i], b = int64(v), b[n:]
	}
	if len(b) != 0 {
		return Meta{}, ErrCorrupt
	}
	m := Meta{Next: vs[0], Fresh: vs[1], Ready: vs[2], InFlight: vs[3], RetLow: vs[4]}
	if m.Next < 1 || m.Fresh < 1 || m.Fresh > m.Next || m.Returned() < 0 {
		return Meta{}, ErrCorrupt
	}
	return m, nil
}

func readMeta(r lockrules.Reader, q *ref) (Meta, error) {
	kv, err := r.Get(q.metaKey())
	if err != nil {
		return Meta{}, err
	}
	if kv == nil {
		return Meta{Next: 1, Fresh: 1}, nil
	}
	m, err := DecodeMeta(kv.Value)
	if err != nil {
		return Meta{}, q.corrupt("meta record: %v", err)
	}
	return m, nil
}

func writeMeta(st Store, q *ref, m Meta) error { return st.Put(q.metaKey(), m.Encode(), 0) }

// Record is the decoded record of a ready or in-flight item. Deliveries is
// the number of times it was delivered (including the one in flight),
// MaxDeliveries its limit (0: none). Consumer and Visibility, for an
// in-flight item only, are the consumer's lease and the visibility lease,
// and ReceiptHash the hash of the delivery's receipt (ReceiptHash; 0 for
// a delivery made before receipts existed, which any ack may complete).
type Record struct {
	Deliveries    int64
	MaxDeliveries int64
	Consumer      int64
	Visibility    int64
	ReceiptHash   uint64
	Value         []byte
}

const (
	readyVersion         = 1
	inFlightVersion      = 2 // without a receipt
	inFlightVersionOwned = 3 // with the hash of its receipt
)

// ReceiptHash is what an in-flight record keeps of its delivery's receipt:
// the first 8 bytes of the SHA-256 of the receipt (8 bytes big-endian),
// never 0. Only the hash is stored, so the receipt cannot be read back
// from the queue's keys (reads of the reserved keyspace are allowed); 0
// for no receipt.
func ReceiptHash(r wire.Receipt) uint64 {
	if r == 0 {
		return 0
	}
	sum := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(r)))
	if h := binary.BigEndian.Uint64(sum[:8]); h != 0 {
		return h
	}
	return 1
}

// EncodeReady encodes it as a ready item: a version byte (1), uvarint
// Deliveries, uvarint MaxDeliveries, then the value up to the end.
func (it Record) EncodeReady() []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(it.Value))
	b = append(b, readyVersion)
	b = binary.AppendUvarint(b, uint64(it.Deliveries))
	b = binary.AppendUvarint(b, uint64(it.MaxDeliveries))
	return append(b, it.Value...)
}

// EncodeInFlight encodes it as an in-flight item: a version byte (3),
// uvarint Deliveries, uvarint MaxDeliveries, uvarint Consumer, uvarint
// Visibility, uvarint ReceiptHash, then the value up to the end. A record
// without a receipt (ReceiptHash 0) is encoded as before receipts: version
// 2 and no ReceiptHash.
func (it Record) EncodeInFlight() []byte {
	b := make([]byte, 0, 1+5*binary.MaxVarintLen64+len(it.Value))
	version := byte(inFlightVersionOwned)
	if it.ReceiptHash == 0 {
		version = inFlightVersion
	}
	b = append(b, version)
	for _, v := range []int64{it.Deliveries, it.MaxDeliveries, it.Consumer, it.Visibility} {
		b = binary.AppendUvarint(b, uint64(v))
	}
	if it.ReceiptHash != 0 {
		b = binary.AppendUvarint(b, it.ReceiptHash)
	}
	return append(b, it.Value...)
}

// DecodeRecord decodes a ready or in-flight item record. The result does
// not alias value.
func DecodeRecord(value []byte) (Record, error) {
	if len(value) == 0 {
		return Record{}, ErrCorrupt
	}
	var fields int
	switch value[0] {
	case readyVersion:
		fields = 2
	case inFlightVersion:
		fields = 4
	case inFlightVersionOwned:
		fields = 5
	default:
		return Record{}, ErrCorrupt
	}
	b := value[1:]
	var vs [5]uint64
	for i := 0; i < fields; i++ {
		v, n := binary.Uvarint(b)
		if n <= 0 || (i < 4 && v > 1<<63-1) || (i == 4 && v == 0) {
			return Record{}, ErrCorrupt
		}
		vs[i], b = v, b[n:]
	}
	return Record{Deliveries: int64(vs[0]), MaxDeliveries: int64(vs[1]), Consumer: int64(vs[2]), Visibility: int64(vs[3]),
		ReceiptHash: vs[4], Value: bytes.Clone(b)}, nil
}

func decodeRecordAt(q *ref, kv *wire.KeyValue) (Record, error) {
	it, err := DecodeRecord(kv.Value)
	if err != nil {
		return Record{}, q.corrupt("item %q: %v", kv.Key, err)
	}
	return it, nil
}

// head finds the ready item with the lowest sequence number: the lowest
// returned one if any (a bounded scan from RetLow below Fresh), else the
// one at Fresh (one Get). found is false for a queue with no ready item.
func head(r lockrules.Reader, q *ref, m Meta) (seq int64, it Record, found bool, err error) {
	var kv *wire.KeyValue
	switch {
	case m.Returned() > 0:
		kvs, err := r.Range(q.key('r', max(m.RetLow, 1)), q.key('r', m.Fresh), 1)
		if err != nil {
			return 0, Record{}, false, err
		}
		if len(kvs) == 0 {
			return 0, Record{}, false, q.corrupt("%d returned items counted, none ready in [%d, %d)", m.Returned(), m.RetLow, m.Fresh)
		}
		kv = kvs[0]
	case m.Next > m.Fresh:
		if kv, err = r.Get(q.key('r', m.Fresh)); err != nil {
			return 0, Record{}, false, err
		}
		if kv == nil {
			return 0, Record{}, false, q.corrupt("item %d is not ready (fresh items are [%d, %d))", m.Fresh, m.Fresh, m.Next)
		}
	default:
		return 0, Record{}, false, nil
	}
	it, err = decodeRecordAt(q, kv)
	if err != nil {
		return 0, Record{}, false, err
	}
	return int64(binary.BigEndian.Uint64(kv.Key[len(kv.Key)-8:])), it, true, nil
}

// checkLease checks that lease can be a consumer of q: a lease of this
// shard that exists.
func checkLease(st Store, q *ref, lease int64) (*wire.Error, error) {
	if lease == 0 {
		return wire.Errorf(wire.CodeInvalid, "queue %q: a consumer lease is required (its items come back when it expires)", q.name), nil
	}
	shard, ok := wire.LeaseShard(lease)
	if !ok {
		return wire.Errorf(wire.CodeLeaseNotFound, "lease %016x not found (not a lease ID)", lease), nil
	}
	if shard != st.Shard() {
		return wire.Errorf(wire.CodeWrongShard,
			"queue %q lives in shard %d and cannot use lease %016x of shard %d: grant the lease with routing key {%s}",
			q.name, st.Shard(), lease, shard, q.base), nil
	}
	ok, err := st.LeaseExists(lease)
	if err != nil || ok {
		return nil, err
	}
	return wire.Errorf(wire.CodeLeaseNotFound, "lease %016x not found", lease), nil
}

// ApplyEnqueue applies an EnqueueRequest at st.Revision(): the values are
// appended in order as ready items with strictly increasing sequence
// numbers, in one revision. The response's Header is left to the caller.
func ApplyEnqueue(st Store, req *wire.EnqueueRequest) (*wire.EnqueueResponse, *wire.Error, error) {
	q, werr := parse(req.Name)
	switch {
	case werr != nil:
		return nil, werr, nil
	case len(req.Values) == 0:
		return nil, wire.Errorf(wire.CodeInvalid, "queue %q: nothing to enqueue", req.Name), nil
	case req.MaxDeliveries < 0:
		return nil, wire.Errorf(wire.CodeInvalid, "queue %q: max deliveries %d is negative", req.Name, req.MaxDeliveries), nil
	case q.dead && req.MaxDeliveries > 0:
		return nil, wire.Errorf(wire.CodeInvalid,
			"queue %q is a dead-letter queue: it has no dead-letter queue of its own, so no max deliveries", req.Name), nil
	}
	m, err := readMeta(st, q)
	if err != nil {
		return nil, nil, err
	}
	resp := &wire.EnqueueResponse{Seqs: make([]int64, len(req.Values))}
	for i, v := range req.Values {
		if err := st.Put(q.key('r', m.Next), Record{MaxDeliveries: req.MaxDeliveries, Value: v}.EncodeReady(), 0); err != nil {
			return nil, nil, err
		}
		resp.Seqs[i] = m.Next
		m.Next++
		m.Ready++
	}
	return resp, nil, writeMeta(st, q, m)
}

// ApplyDequeue applies a DequeueRequest at st.Revision(): the ready item
// with the lowest sequence number is delivered to the consumer holding
// req.Lease. Its ready key is deleted; its in-flight key is put, attached
// to a visibility lease of req.VisibilitySeconds granted by the command,
// with the hash of req.Receipt, and its consumer marker, attached to
// req.Lease. The answer is the item with req.Receipt. An empty queue is
// wire.CodeEmpty, with nothing written. The response's Header is left to
// the caller.
func ApplyDequeue(st Store, req *wire.DequeueRequest) (*wire.DequeueResponse, *wire.Error, error) {
	q, werr := parse(req.Name)
	if werr != nil {
		return nil, werr, nil
	}
	if req.VisibilitySeconds < 1 {
		return nil, wire.Errorf(wire.CodeInvalid, "queue %q: visibility timeout of %d seconds: it must be at least 1", req.Name, req.VisibilitySeconds), nil
	}
	if werr, err := checkLease(st, q, req.Lease); werr != nil || err != nil {
		return nil, werr, err
	}
	m, err := readMeta(st, q)
	if err != nil {
		return nil, nil, err
	}
	seq, it, found, err := head(st, q, m)
	if err != nil {
		return nil, nil, err
	}
	if !found {
		return nil, wire.Errorf(wire.CodeEmpty, "queue %q is empty", req.Name), nil
	}
	vis, werr, err := st.GrantLease(req.VisibilitySeconds)
	if werr != nil || err != nil {
		return nil, werr, err
	}
	// Writes from here on.
	if _, err := st.Delete(q.key('r', seq)); err != nil {
		return nil, nil, err
	}
	it.Deliveries++
	it.Consumer, it.Visibility, it.ReceiptHash = req.Lease, vis, ReceiptHash(req.Receipt)
	if err := st.Put(q.key('f', seq), it.EncodeInFlight(), vis); err != nil {
		return nil, nil, err
	}
	if err := st.Put(q.key('c', seq), nil, req.Lease); err != nil {
		return nil, nil, err
	}
	m.Ready--
	m.InFlight++
	if seq >= m.Fresh {
		m.Fresh++ // seq == Fresh: the lowest never-delivered item
	} else {
		m.RetLow = seq + 1 // every other returned item is above seq
	}
	if err := writeMeta(st, q, m); err != nil {
		return nil, nil, err
	}
	return &wire.DequeueResponse{Item: wire.QueueItem{Seq: seq, Value: it.Value, Deliveries: it.Deliveries, Receipt: req.Receipt}}, nil, nil
}

// ApplyAck applies an AckRequest at st.Revision(): the in-flight item
// req.Seq (in delivery req.Deliveries, unless 0) is completed: its
// in-flight key and consumer marker are deleted and its visibility lease
// revoked; with req.Nack it is returned to the queue at once (see
// KeyDeleted for where it goes). An item not in flight (in that delivery)
// is wire.CodeNotFound; one in flight under another receipt than
// req.Receipt is wire.CodeNotOwner. Either way nothing is written.
func ApplyAck(st Store, req *wire.AckRequest) (*wire.AckResponse, *wire.Error, error) {
	q, werr := parse(req.Name)
	if werr != nil {
		return nil, werr, nil
	}
	notInFlight := func() *wire.Error {
		return wire.Errorf(wire.CodeNotFound,
			"item %d of queue %q is not in flight (acked, or redelivered after its visibility timeout)", req.Seq, req.Name)
	}
	if req.Seq < 1 {
		return nil, notInFlight(), nil
	}
	kv, err := st.Get(q.key('f', req.Seq))
	if err != nil {
		return nil, nil, err
	}
	if kv == nil {
		return nil, notInFlight(), nil
	}
	it, err := decodeRecordAt(q, kv)
	if err != nil {
		return nil, nil, err
	}
	if req.Deliveries != 0 && req.Deliveries != it.Deliveries {
		return nil, wire.Errorf(wire.CodeNotFound,
			"delivery %d of item %d of queue %q is not in flight (it timed out: delivery %d is)",
			req.Deliveries, req.Seq, req.Name, it.Deliveries), nil
	}
	if it.ReceiptHash != 0 && ReceiptHash(req.Receipt) != it.ReceiptHash {
		if req.Receipt == 0 {
			return nil, wire.Errorf(wire.CodeNotOwner,
				"item %d of queue %q is in flight: only its consumer may ack it, with the receipt of its delivery", req.Seq, req.Name), nil
		}
		return nil, wire.Errorf(wire.CodeNotOwner,
			"receipt %s is not that of the delivery of item %d of queue %q in flight: only its consumer may ack it (a delivery that timed out and was handed on is no longer the consumer's)",
			req.Receipt, req.Seq, req.Name), nil
	}
	m, err := readMeta(st, q)
	if err != nil {
		return nil, nil, err
	}
	// Writes from here on.
	if err := endDelivery(st, q, &m, req.Seq, it, req.Nack); err != nil {
		return nil, nil, err
	}
	if err := writeMeta(st, q, m); err != nil {
		return nil, nil, err
	}
	// Its TTL no longer matters: the lessor stops timing it.
	if err := st.RevokeLease(it.Visibility); err != nil {
		return nil, nil, err
	}
	return &wire.AckResponse{}, nil, nil
}

// endDelivery deletes the in-flight key and consumer marker of item seq
// (either may be gone already) and, if back, returns the item (in m).
func endDelivery(st Store, q *ref, m *Meta, seq int64, it Record, back bool) error {
	for _, kind := range []byte{'f', 'c'} {
		if _, err := st.Delete(q.key(kind, seq)); err != nil {
			return err
		}
	}
	m.InFlight--
	if !back {
		return nil
	}
	return returnItem(st, q, m, seq, it)
}

// returnItem puts in-flight item seq of q back at its place among the
// ready items (ahead of every item never delivered), keeping its
// deliveries; or, when it has had all its MaxDeliveries, appends it to the
// dead-letter queue with a new sequence number there and its deliveries
// reset.
func returnItem(st Store, q *ref, m *Meta, seq int64, it Record) error {
	if seq >= m.Fresh {
		return q.corrupt("item %d was in flight, but is at or above the lowest never-delivered item %d", seq, m.Fresh)
	}
	if !q.dead && it.MaxDeliveries > 0 && it.Deliveries >= it.MaxDeliveries {
		return deadLetter(st, q.deadQueue(), it.Value)
	}
	if m.Returned() == 0 || seq < m.RetLow {
		m.RetLow = seq
	}
	m.Ready++
	return st.Put(q.key('r', seq), Record{Deliveries: it.Deliveries, MaxDeliveries: it.MaxDeliveries, Value: it.Value}.EncodeReady(), 0)
}

// deadLetter appends value to dead-letter queue d as a new item.
func deadLetter(st Store, d *ref, value []byte) error {
	m, err := readMeta(st, d)
	if err != nil {
		return err
	}
	if err := st.Put(d.key('r', m.Next), Record{Value: value}.EncodeReady(), 0); err != nil {
		return err
	}
	m.Next++
	m.Ready++
	return writeMeta(st, d, m)
}

// parseItemKey parses the in-flight key or consumer marker of an item:
// its queue, kind ('f' or 'c') and sequence number.
func parseItemKey(key []byte) (q *ref, kind byte, seq int64, ok bool) {
	rest, ok := bytes.CutPrefix(key, []byte(Root))
	if !ok || len(rest) < 2 || rest[0] != '{' {
		return nil, 0, 0, false
	}
	end := bytes.IndexByte(rest, '}')
	if end < 0 {
		return nil, 0, 0, false
	}
	base, tail := string(rest[1:end]), rest[end+1:]
	dead := false
	if t, ok := bytes.CutPrefix(tail, []byte("/dead/")); ok {
		tail, dead = t, true
	} else if t, ok := bytes.CutPrefix(tail, []byte("/")); ok {
		tail = t
	} else {
		return nil, 0, 0, false
	}
	if len(tail) != 10 || (tail[0] != 'f' && tail[0] != 'c') || tail[1] != '/' {
		return nil, 0, 0, false
	}
	name := base
	if dead {
		name += DeadSuffix
	}
	q, werr := parse(name)
	if werr != nil || q.dead != dead {
		return nil, 0, 0, false
	}
	return q, tail[0], int64(binary.BigEndian.Uint64(tail[2:])), true
}

// KeyDeleted returns an in-flight item to its queue after one of its keys
// was deleted other than by ApplyAck, that is by the revoke (or expiry) of
// its lease: prev is the deleted key's last live version. Called by the
// revoke command, at its revision, for every deleted key under Root,
// after all the lease's keys are gone. For the in-flight key (the
// visibility lease ended: a visibility timeout) the consumer marker is
// deleted; for the consumer marker (the consumer's lease ended) the
// in-flight key is deleted and the visibility lease revoked. Either way
// the item goes back to the head of the queue with its deliveries, or to
// the dead-letter queue if they are all used up. Other keys are ignored.
func KeyDeleted(st Store, prev *wire.KeyValue) error {
	q, kind, seq, ok := parseItemKey(prev.Key)
	if !ok {
		return nil
	}
	var it Record
	if kind == 'f' {
		var err error
		if it, err = decodeRecordAt(q, prev); err != nil {
			return err
		}
	} else {
		kv, err := st.Get(q.key('f', seq))
		if err != nil || kv == nil {
			return err // no item in flight: nothing to return
		}
		if it, err = decodeRecordAt(q, kv); err != nil {
			return err
		}
	}
	m, err := readMeta(st, q)
	if err != nil {
		return err
	}
	if err := endDelivery(st, q, &m, seq, it, true); err != nil {
		return err
	}
	if err := writeMeta(st, q, m); err != nil {
		return err
	}
	if kind == 'c' {
		return st.RevokeLease(it.Visibility)
	}
	return nil
}

// ReadInfo describes queue name as r sees it: its ready and in-flight
// counts (from the meta record: O(1) whatever the queue's length) and,
// with peek, its head, the item a Dequeue would get next (Deliveries:
// how often it was delivered so far). Header is left to the caller.
func ReadInfo(r lockrules.Reader, name string, peek bool) (*wire.QueueInfoResponse, *wire.Error, error) {
	q, werr := parse(name)
	if werr != nil {
		return nil, werr, nil
	}
	m, err := readMeta(r, q)
	if err != nil {
		return nil, nil, err
	}
	resp := &wire.QueueInfoResponse{Ready: m.Ready, InFlight: m.InFlight}
	if peek {
		seq, it, found, err := head(r, q, m)
		if err != nil {
			return nil, nil, err
		}
		if found {
			resp.Head = &wire.QueueItem{Seq: seq, Value: it.Value, Deliveries: it.Deliveries}
		}
	}
	return resp, nil, nil
}
