package locks

import (
	"bytes"
	"context"
	"errors"

	"github.com/coord-io/coord/coord/wire"
)

// Events is what server-side waiting needs from a member: the events of
// the keys in [key, end) from revision from on, history first and then
// live, in revision order. The channel closes when ctx ends; a batch with
// Err set ends it early (for example when the history was compacted).
type Events interface {
	Events(ctx context.Context, key, end []byte, from int64) <-chan EventBatch
}

// EventBatch is one delivery of an Events stream.
type EventBatch struct {
	Events []wire.Event
	Err    error
}

// ErrOwnerRemoved is returned by WaitHolder when the waiting owner's key
// was deleted before it was granted: its session lease expired, or it was
// cancelled.
var ErrOwnerRemoved = errors.New("locks: owner left the queue before it was granted")

// WaitHolder blocks until ownerKey is the holder recorded at holderKey
// (a key under prefix), reading the events of prefix from revision from,
// and returns the holder record. decode reads a holder record's value.
//
// This is the server-side half of Lock and Campaign: the command that
// queued the owner returned revision from-1, so every later change is
// seen, and waiting never touches the apply loop.
func WaitHolder(ctx context.Context, ev Events, prefix, holderKey, ownerKey []byte, from int64, decode func([]byte) (Holder, error)) (Holder, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := ev.Events(wctx, prefix, wire.PrefixEnd(prefix), from)
	for {
		select {
		case <-ctx.Done():
			return Holder{}, ctx.Err()
		case b, ok := <-ch:
			if !ok {
				if ctx.Err() != nil {
					return Holder{}, ctx.Err()
				}
				return Holder{}, errors.New("locks: event stream ended")
			}
			if b.Err != nil {
				return Holder{}, b.Err
			}
			for _, e := range b.Events {
				if h, done, err := MatchHolder(e, holderKey, ownerKey, decode); done || err != nil {
					return h, err
				}
			}
		}
	}
}

// MatchHolder is WaitHolder's test of one event of the lock's prefix, and
// the server's (which waits on its watch hub itself): done with the
// holder record when e puts holderKey naming ownerKey, ErrOwnerRemoved
// when e deletes ownerKey, a decode error as is, else not done.
func MatchHolder(e wire.Event, holderKey, ownerKey []byte, decode func([]byte) (Holder, error)) (h Holder, done bool, err error) {
	switch {
	case e.Type == wire.EventPut && bytes.Equal(e.Kv.Key, holderKey):
		h, err := decode(e.Kv.Value)
		if err != nil {
			return Holder{}, false, err
		}
		if bytes.Equal(h.Key, ownerKey) {
			return h, true, nil
		}
	case e.Type == wire.EventDelete && bytes.Equal(e.Kv.Key, ownerKey):
		return Holder{}, false, ErrOwnerRemoved
	}
	return Holder{}, false, nil
}
