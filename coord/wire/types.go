package wire

import (
	"bytes"
	"strconv"
)

// KeyValue is one version of a key as the store holds it.
//
// CreateRevision is the revision of the put that created the key (reset
// when a deleted key is put again), ModRevision the revision of the last
// put, Version the number of puts since creation (1 for a new key), and
// Lease the ID of the lease the key is attached to (0 for none).
type KeyValue struct {
	Key            []byte `msgpack:"k"`
	Value          []byte `msgpack:"v,omitempty"`
	CreateRevision int64  `msgpack:"c"`
	ModRevision    int64  `msgpack:"m"`
	Version        int64  `msgpack:"ver"`
	Lease          int64  `msgpack:"l,omitempty"`
}

// kvOverhead bounds the bytes a KeyValue's encoding adds to its key and
// value (field names, lengths, the four integers).
const kvOverhead = 72

// Size is what kv counts against a response's byte limit: an upper bound
// of its encoded size. A nil kv counts 0.
func (kv *KeyValue) Size() int {
	if kv == nil {
		return 0
	}
	return len(kv.Key) + len(kv.Value) + kvOverhead
}

// ResponseHeader describes the state a response was produced from.
//
// A response served by one shard carries that shard and its revision. A
// response merged from every shard (a range without a hash tag) has Shard
// set to AllShards and carries each shard's revision in Revisions.
type ResponseHeader struct {
	Shard     uint32           `msgpack:"s"`
	Revision  int64            `msgpack:"r"`
	RaftTerm  uint64           `msgpack:"t,omitempty"`
	Member    string           `msgpack:"mem,omitempty"`
	Revisions map[uint32]int64 `msgpack:"rs,omitempty"`
	// ClusterID is the identity of the cluster that answered (see
	// HelloResponse.ClusterID), when the response comes from one shard.
	ClusterID uint64 `msgpack:"cid,omitempty"`
}

// AllShards in a header's Shard field marks a response merged from every shard.
const AllShards = ^uint32(0)

// PutRequest sets Key to Value, creating a new revision.
type PutRequest struct {
	Key    []byte `msgpack:"k"`
	Value  []byte `msgpack:"v"`
	Lease  int64  `msgpack:"l,omitempty"`
	PrevKV bool   `msgpack:"p,omitempty"`
}

// PutResponse answers a PutRequest.
type PutResponse struct {
	Header ResponseHeader `msgpack:"h"`
	PrevKV *KeyValue      `msgpack:"p,omitempty"`
}

// RangeRequest reads keys.
//
// RangeEnd selects what is read, as in etcd: empty means the single key
// Key; "\x00" means every key >= Key; anything else the half-open range
// [Key, RangeEnd). With Key "\x00" and RangeEnd "\x00" every key is read.
// Revision 0 reads the current revision. Limit 0 means no limit.
//
// A response is one page: the server ends it at its response byte limit
// (or MaxBytes, if lower) and sets NextKey. The next page is read with
// Key = NextKey, the same RangeEnd, Limit less the keys already read, and
// Revisions set from the first page's header (its Revisions, or {Shard:
// Revision} for a one-shard range), so that every page reads the same
// revision of each shard: together they are one consistent read per shard
// (ErrCompacted if a compaction overtook it).
type RangeRequest struct {
	Key          []byte `msgpack:"k"`
	RangeEnd     []byte `msgpack:"e,omitempty"`
	Limit        int64  `msgpack:"lim,omitempty"`
	Revision     int64  `msgpack:"r,omitempty"`
	KeysOnly     bool   `msgpack:"ko,omitempty"`
	CountOnly    bool   `msgpack:"co,omitempty"`
	Serializable bool   `msgpack:"ser,omitempty"`
	// Revisions, on a continuation, names the shards to read and the
	// revision to read each at; it overrides Revision and the routing of
	// Key and RangeEnd.
	Revisions map[uint32]int64 `msgpack:"rs,omitempty"`
	// MaxBytes, set by a client that follows pages, bounds a page (the sum
	// of KeyValue.Size of its Kvs; the server's limit applies if lower). A
	// page holds at least one key, whatever its size. 0: the client does
	// not follow pages, and a range that does not fit in one response
	// fails with CodeTooLarge rather than come back cut.
	MaxBytes int64 `msgpack:"mb,omitempty"`
}

// InRange reports whether key is selected by start and end with
// RangeRequest rules.
func InRange(key, start, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(key, start)
	case len(end) == 1 && end[0] == 0:
		return bytes.Compare(key, start) >= 0
	default:
		return bytes.Compare(key, start) >= 0 && bytes.Compare(key, end) < 0
	}
}

// RangeResponse answers a RangeRequest. Kvs are in key order. Count is the
// number of keys in the range (ignoring Limit and paging); More reports
// that keys of the range were left out, by Limit or by paging. NextKey is
// set when the page ended at the byte limit before Limit was reached: the
// Key to read the next page from (see RangeRequest).
type RangeResponse struct {
	Header  ResponseHeader `msgpack:"h"`
	Kvs     []*KeyValue    `msgpack:"kvs,omitempty"`
	More    bool           `msgpack:"more,omitempty"`
	Count   int64          `msgpack:"n"`
	NextKey []byte         `msgpack:"nk,omitempty"`
}

// DeleteRangeRequest deletes a key or a range (RangeEnd as in RangeRequest).
type DeleteRangeRequest struct {
	Key      []byte `msgpack:"k"`
	RangeEnd []byte `msgpack:"e,omitempty"`
	PrevKV   bool   `msgpack:"p,omitempty"`
}

// DeleteRangeResponse answers a DeleteRangeRequest.
type DeleteRangeResponse struct {
	Header  ResponseHeader `msgpack:"h"`
	Deleted int64          `msgpack:"d"`
	PrevKvs []*KeyValue    `msgpack:"p,omitempty"`
}

// CompareTarget names the field of a key a Compare looks at.
type CompareTarget uint8

// Compare targets.
const (
	CompareValue CompareTarget = iota
	CompareVersion
	CompareCreate
	CompareMod
	CompareLease
)

// CompareResult is the relation a Compare checks.
type CompareResult uint8

// Compare relations.
const (
	CompareEqual CompareResult = iota
	CompareNotEqual
	CompareGreater
	CompareLess
)

// Compare is one condition of a transaction. A missing key has value nil,
// version 0, create and mod revision 0 and lease 0. With RangeEnd set, the
// condition must hold for every key of the range.
type Compare struct {
	Target         CompareTarget `msgpack:"t"`
	Result         CompareResult `msgpack:"r"`
	Key            []byte        `msgpack:"k"`
	RangeEnd       []byte        `msgpack:"e,omitempty"`
	Value          []byte        `msgpack:"v,omitempty"`
	Version        int64         `msgpack:"ver,omitempty"`
	CreateRevision int64         `msgpack:"c,omitempty"`
	ModRevision    int64         `msgpack:"m,omitempty"`
	Lease          int64         `msgpack:"l,omitempty"`
}

// RequestOp is one operation of a transaction branch: exactly one field is set.
type RequestOp struct {
	Range       *RangeRequest       `msgpack:"r,omitempty"`
	Put         *PutRequest         `msgpack:"p,omitempty"`
	DeleteRange *DeleteRangeRequest `msgpack:"d,omitempty"`
}

// ResponseOp is the result of one RequestOp: the field matching the op is set.
type ResponseOp struct {
	Range       *RangeResponse       `msgpack:"r,omitempty"`
	Put         *PutResponse         `msgpack:"p,omitempty"`
	DeleteRange *DeleteRangeResponse `msgpack:"d,omitempty"`
}

// TxnRequest is an etcd-style transaction: if every Compare holds, the
// Success ops run, else the Failure ops. All keys must live in one shard.
// A transaction that writes makes exactly one new revision.
type TxnRequest struct {
	Compare []Compare   `msgpack:"c,omitempty"`
	Success []RequestOp `msgpack:"s,omitempty"`
	Failure []RequestOp `msgpack:"f,omitempty"`
	// MaxRangeKeys and MaxRangeBytes bound what the range ops of the
	// branch that runs return, together (keys, and the sum of
	// KeyValue.Size): over either the txn fails with CodeTooLarge and
	// writes nothing. The member that proposes the txn sets them from its
	// configuration (a client's values are replaced), so every replica
	// applies the same bound; 0 means no bound.
	MaxRangeKeys  int64 `msgpack:"mrk,omitempty"`
	MaxRangeBytes int64 `msgpack:"mrb,omitempty"`
}

// TxnResponse answers a TxnRequest.
type TxnResponse struct {
	Header    ResponseHeader `msgpack:"h"`
	Succeeded bool           `msgpack:"ok"`
	Responses []ResponseOp   `msgpack:"rs,omitempty"`
}

// CompactRequest discards history below Revision in one shard: every
// version older than each key's newest version at or below Revision, and
// that version too when it is a tombstone. A Revision the shard has not
// reached is refused (CodeFutureRevision, "required revision is a future
// revision"), and so is one at or below the shard's compact revision
// (CodeCompacted, "required revision has been compacted").
//
// With AllShards set the server applies the same rule to every shard
// (each shard has its own revisions): a shard that has reached Revision
// and is not compacted that far yet is compacted at Revision, the others
// are left alone. The call fails only when no shard was compacted (with
// the first shard's refusal); CompactResponse.Shards says what happened
// in each shard.
type CompactRequest struct {
	Revision  int64  `msgpack:"r"`
	Shard     uint32 `msgpack:"s"`
	AllShards bool   `msgpack:"all,omitempty"`
}

// CompactResponse answers a CompactRequest. Shards holds one entry per
// shard the request was for, in shard order (one for a single shard).
type CompactResponse struct {
	Header ResponseHeader    `msgpack:"h"`
	Shards []ShardCompaction `msgpack:"shs,omitempty"`
}

// ShardCompaction is what a compaction did in one shard: Compacted tells
// whether this call compacted it (at the requested revision); Revision and
// CompactRevision are the shard's current and compact revisions after the
// call; Error, for a shard left alone, says why (CodeFutureRevision or
// CodeCompacted).
type ShardCompaction struct {
	Shard           uint32 `msgpack:"s"`
	Compacted       bool   `msgpack:"c,omitempty"`
	CompactRevision int64  `msgpack:"cr"`
	Revision        int64  `msgpack:"r"`
	Error           *Error `msgpack:"e,omitempty"`
}

// EventType says what happened to a key.
type EventType uint8

// Event types.
const (
	EventPut EventType = iota
	EventDelete
)

// String is the type's name as etcd prints it: "PUT" or "DELETE".
func (t EventType) String() string {
	switch t {
	case EventPut:
		return "PUT"
	case EventDelete:
		return "DELETE"
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// Event is one change to one key, produced by an applied command. Kv is the
// key after the change (for a delete: Key and ModRevision only).
type Event struct {
	Type   EventType `msgpack:"t"`
	Shard  uint32    `msgpack:"s"`
	Kv     *KeyValue `msgpack:"kv"`
	PrevKv *KeyValue `msgpack:"p,omitempty"`
}

// Size is what e counts against a message's byte limit: an upper bound of
// its encoded size.
func (e *Event) Size() int { return e.Kv.Size() + e.PrevKv.Size() + 16 }
