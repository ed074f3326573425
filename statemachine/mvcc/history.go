package mvcc

import (
	"bytes"
	"sort"

	"github.com/coord-io/coord/coord/wire"
)

// History returns the events of the keys selected by key and end
// (wire.RangeRequest rules) at revisions from..to (inclusive), rebuilt from
// the stored versions, ordered by revision then key.
//
// Each stored version is one event: a live version is a put whose Kv is
// the version, a tombstone is a delete whose Kv holds only Key and
// ModRevision. With withPrev, PrevKv is the key's newest version below the
// event's revision when that version is live (it may be older than from).
//
// History reads the committed view only (it ignores a Writer's pending
// writes). It does not check from and to against the shard's compacted and
// current revisions: below the compacted revision some events are gone.
//
// Cost: per key in the range, one seek, then one step per version in
// from..to; versions above to are passed with a few steps or one seek, and
// versions below from are never visited (but one, for withPrev).
func (r *Reader) History(key, end []byte, from, to Revision, withPrev bool) ([]wire.Event, error) {
	if from > to {
		return nil, nil
	}
	h := history{r: r, from: from, to: to, withPrev: withPrev}
	lo, hi, single := rangeBounds(key, end)
	if single {
		ek := ekey(key)
		// Every version of one key shares the prefix ek: a prefix seek
		// lets the bloom filters skip the tables without it.
		valid := r.it.SeekPrefixGE(r.space.dataKey(ek, to))
		if _, err := h.key(ek, key, valid); err != nil {
			return nil, err
		}
		return h.sorted(), r.it.Error()
	}
	if hi != nil && bytes.Compare(lo, hi) >= 0 {
		return nil, nil
	}
	upper := r.space.dataUpper()
	if hi != nil {
		upper = r.space.keyStart(ekey(hi))
	}
	valid := r.it.SeekGE(r.space.keyStart(ekey(lo)))
	for valid && bytes.Compare(r.it.Key(), upper) < 0 {
		cur, rev, ok := splitDataKey(r.it.Key())
		if !ok {
			return nil, errCorrupt
		}
		ek := bytes.Clone(cur)
		// Versions run newest first: pass those above to.
		for steps := 0; rev > to; steps++ {
			if steps < maxVersionSteps {
				valid = r.it.Next()
			} else {
				valid = r.it.SeekGE(r.space.dataKey(ek, to))
			}
			if !valid {
				break
			}
			if cur, rev, ok = splitDataKey(r.it.Key()); !ok || !bytes.Equal(cur, ek) {
				break
			}
		}
		if !valid {
			break
		}
		if !bytes.Equal(cur, ek) {
			continue // ek has no version at or below to: at the next key already
		}
		same, err := h.key(ek, unescape(ek), true)
		if err != nil {
			return nil, err
		}
		valid = r.it.Valid()
		if same {
			// Older versions of ek remain: go to the next key.
			valid = r.it.SeekGE(r.space.keyEnd(ek))
		}
	}
	if err := r.it.Error(); err != nil {
		return nil, err
	}
	return h.sorted(), nil
}

// history accumulates the events of History.
type history struct {
	r        *Reader
	from, to Revision
	withPrev bool
	events   []wire.Event
	vers     []version // scratch: one key's versions in from..to, newest first
}

type version struct {
	rev Revision
	rec record
}

// key collects the events of ek (user key key), the iterator being at its
// newest version at or below h.to (valid false, or another key: none).
// It leaves the iterator after the versions it read and reports whether it
// is still on a version of ek.
func (h *history) key(ek, key []byte, valid bool) (same bool, err error) {
	it := h.r.it
	h.vers = h.vers[:0]
	var below *version // the newest version below from, for withPrev
	for valid {
		cur, rev, ok := splitDataKey(it.Key())
		if !ok || !bytes.Equal(cur, ek) {
			break // another key (the caller checks it), or past the data keys
		}
		if rev < h.from {
			same = true
			if !h.withPrev || len(h.vers) == 0 {
				break
			}
		}
		rec, err := decodeRecord(it.Value())
		if err != nil {
			return false, err
		}
		rec.value = bytes.Clone(rec.value)
		if same {
			below = &version{rev: rev, rec: rec}
			break
		}
		h.vers = append(h.vers, version{rev: rev, rec: rec})
		valid = it.Next()
	}
	for i := len(h.vers) - 1; i >= 0; i-- {
		v := &h.vers[i]
		ev := wire.Event{Shard: h.r.space.Shard()}
		if v.rec.tombstone {
			ev.Type = wire.EventDelete
			ev.Kv = &wire.KeyValue{Key: bytes.Clone(key), ModRevision: int64(v.rev)}
		} else {
			ev.Type = wire.EventPut
			ev.Kv = v.rec.keyValue(bytes.Clone(key), v.rev, false)
		}
		if h.withPrev {
			prev := below
			if i+1 < len(h.vers) {
				prev = &h.vers[i+1]
			}
			if prev != nil && !prev.rec.tombstone {
				ev.PrevKv = prev.rec.keyValue(bytes.Clone(key), prev.rev, false)
			}
		}
		h.events = append(h.events, ev)
	}
	return same, nil
}

// sorted returns the events by revision, then key (keys were visited in
// order, so a stable sort by revision is enough).
func (h *history) sorted() []wire.Event {
	sort.SliceStable(h.events, func(i, j int) bool { return h.events[i].Kv.ModRevision < h.events[j].Kv.ModRevision })
	return h.events
}
