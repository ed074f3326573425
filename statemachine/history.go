package statemachine

import (
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/mvcc"
)

// History returns the events of the keys in [key, end) (end as in
// wire.RangeRequest: empty for the single key, "\x00" for every key >= key)
// at revisions fromRev..toRev inclusive, ordered by revision then key: what
// a watch starting at fromRev must replay before it goes live.
//
// Events are rebuilt from the stored versions and equal the ones Apply
// produced (Type, Kv, Shard; PrevKv when withPrev), with one difference:
// a key has one version per revision, so when a txn writes the same key
// more than once, History returns one event for it, the last Apply
// produced, with PrevKv the key's version before the txn (Apply's last
// event has the txn's earlier write as PrevKv). A txn that puts and then
// deletes a key that did not exist yields a delete without PrevKv.
//
// With withPrev, PrevKv is the key's newest version below the event's
// revision if it is live; it may be older than fromRev (compaction keeps
// it). Without, PrevKv is nil.
//
// limit (0 = none) bounds the events returned; more reports that events
// were left out. A cut falls between revisions, never inside one: the
// result ends with whole revisions, so the caller continues from the last
// event's revision + 1 (when one revision alone has more than limit
// events, all of them are returned).
//
// fromRev below 1 means 1. fromRev at or below the compacted revision is a
// *wire.Error with CodeCompacted and CompactRevision set (events at or
// below it may be gone: compaction drops tombstones). toRev above the
// current revision means the current one; toRev below fromRev returns
// nothing. Errors are *wire.Error, ErrClosed or storage errors.
func (sh *Shard) History(key, end []byte, fromRev, toRev int64, withPrev bool, limit int) (events []wire.Event, more bool, err error) {
	switch {
	case len(key) == 0:
		return nil, false, wire.Errorf(wire.CodeInvalid, "empty key")
	case limit < 0:
		return nil, false, wire.Errorf(wire.CodeInvalid, "negative limit %d", limit)
	}
	db, err := sh.acquire()
	defer sh.release()
	if err != nil {
		return nil, false, err
	}
	it := sh.newIter(db)
	defer it.Close()
	m, err := readMeta(it, sh.space)
	if err != nil {
		return nil, false, err
	}
	from, to := mvcc.Revision(max(fromRev, 1)), mvcc.Revision(toRev)
	if from <= m.compacted {
		werr := wire.Errorf(wire.CodeCompacted,
			"history from revision %d is compacted (the shard is compacted at %d)", from, m.compacted)
		werr.CompactRevision = int64(m.compacted)
		return nil, false, werr
	}
	to = min(to, m.current)
	if to < from {
		return nil, false, nil
	}
	events, err = mvcc.NewReader(sh.space, it).History(key, end, from, to, withPrev)
	if err != nil {
		return nil, false, err
	}
	if limit > 0 && len(events) > limit {
		// Cut before the revision of the first event left out, unless that
		// is the first revision: then after it.
		cut := limit
		rev := events[limit].Kv.ModRevision
		for cut > 0 && events[cut-1].Kv.ModRevision == rev {
			cut--
		}
		if cut == 0 {
			for cut < len(events) && events[cut].Kv.ModRevision == rev {
				cut++
			}
		}
		events, more = events[:cut:cut], cut < len(events)
	}
	return events, more, nil
}
