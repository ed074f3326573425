package locks

import (
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/locks/lockrules"
)

// The replicated rules of locks live in package lockrules (which the
// state machine registers, without linking this client package). These
// are the names users, the server and tests already call.

// Root is the prefix of every lock's state (see Prefix).
const Root = lockrules.Root

// MaxNameLen is the longest name of a lock or an election, in bytes.
const MaxNameLen = lockrules.MaxNameLen

// Reader is the view of one shard that read-only rules use.
type Reader = lockrules.Reader

// Store is the view of one shard that a command's rules read and write.
type Store = lockrules.Store

// Holder is the decoded holder record of a lock (or the leader record of
// an election); see lockrules.Holder.
type Holder = lockrules.Holder

// FIFO is the owner queue that locks and elections share; see
// lockrules.FIFO.
type FIFO = lockrules.FIFO

// ErrCorruptHolder is returned for a holder record that does not decode.
var ErrCorruptHolder = lockrules.ErrCorruptHolder

// ValidateName checks a lock name (see lockrules.ValidateName).
func ValidateName(name string) error { return lockrules.ValidateName(name) }

// Prefix returns the prefix of every key of lock name:
// "\x00coord/lock/{NAME}/".
func Prefix(name string) []byte { return lockrules.Prefix(name) }

// HolderKey returns the key of lock name's holder record.
func HolderKey(name string) []byte { return lockrules.HolderKey(name) }

// OwnerKey returns the key of the owner of lock name that queued at
// revision rev.
func OwnerKey(name string, rev int64) []byte { return lockrules.OwnerKey(name, rev) }

// DecodeHolder decodes the value of a holder record (HolderKey).
func DecodeHolder(value []byte) (Holder, error) { return lockrules.DecodeHolder(value) }

// NewFIFO returns the owner queue of instance name of a primitive kind
// under root (see lockrules.NewFIFO).
func NewFIFO(kind, root, name string) (*FIFO, *wire.Error) {
	return lockrules.NewFIFO(kind, root, name)
}

// OwnerName returns the instance name of an owner key under root.
func OwnerName(root string, key []byte) (string, bool) { return lockrules.OwnerName(root, key) }
