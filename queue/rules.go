package queue

import (
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/queue/queuerules"
)

// The replicated rules of queues live in package queuerules (which the
// state machine registers, without linking this client package). These
// are the names users, the server and tests already call; the key layout
// is described in doc.go.

// Root is the prefix of every queue's state (see Prefix).
const Root = queuerules.Root

// MaxNameLen is the longest name of a queue, in bytes, not counting the
// DeadSuffix of a dead-letter queue's name.
const MaxNameLen = queuerules.MaxNameLen

// DeadSuffix ends the name of a dead-letter queue.
const DeadSuffix = queuerules.DeadSuffix

// Store is the view of one shard that the queue rules read and write.
type Store = queuerules.Store

// Meta is a queue's meta record (see queuerules.Meta).
type Meta = queuerules.Meta

// Record is a ready or in-flight item record (see queuerules.Record).
type Record = queuerules.Record

// ErrCorrupt is returned (wrapped) for queue state that breaks the
// layout's invariants.
var ErrCorrupt = queuerules.ErrCorrupt

// ValidateName checks a queue name (see queuerules.ValidateName).
func ValidateName(name string) error { return queuerules.ValidateName(name) }

// Prefix returns the prefix of every key of queue name.
func Prefix(name string) []byte { return queuerules.Prefix(name) }

// ReadyPrefix returns the prefix of queue name's ready items.
func ReadyPrefix(name string) []byte { return queuerules.ReadyPrefix(name) }

// InFlightPrefix returns the prefix of queue name's in-flight items.
func InFlightPrefix(name string) []byte { return queuerules.InFlightPrefix(name) }

// ConsumerPrefix returns the prefix of queue name's consumer markers.
func ConsumerPrefix(name string) []byte { return queuerules.ConsumerPrefix(name) }

// MetaKey returns the key of queue name's meta record.
func MetaKey(name string) []byte { return queuerules.MetaKey(name) }

// ReadyKey returns the key of ready item seq of queue name.
func ReadyKey(name string, seq int64) []byte { return queuerules.ReadyKey(name, seq) }

// InFlightKey returns the key of in-flight item seq of queue name.
func InFlightKey(name string, seq int64) []byte { return queuerules.InFlightKey(name, seq) }

// ConsumerKey returns the key of the consumer marker of item seq.
func ConsumerKey(name string, seq int64) []byte { return queuerules.ConsumerKey(name, seq) }

// DecodeMeta decodes a meta record (MetaKey).
func DecodeMeta(value []byte) (Meta, error) { return queuerules.DecodeMeta(value) }

// DecodeRecord decodes a ready or in-flight item record.
func DecodeRecord(value []byte) (Record, error) { return queuerules.DecodeRecord(value) }

// ReceiptHash is the hash of a delivery receipt kept in an in-flight
// record.
func ReceiptHash(r wire.Receipt) uint64 { return queuerules.ReceiptHash(r) }
