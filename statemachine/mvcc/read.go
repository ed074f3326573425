package mvcc

import (
	"bytes"

	"github.com/cockroachdb/pebble"

	"github.com/coord-io/coord/coord/wire"
)

// RangeOptions shape the result of Reader.Range.
type RangeOptions struct {
	Limit     int64 // at most this many KVs; 0 = no limit
	KeysOnly  bool  // omit values
	CountOnly bool  // return no KVs, only Count
	// MaxBytes (0: no bound) ends the KVs before the one that would take
	// the sum of their wire.KeyValue.Size past it, but never before the
	// first: a page of a range.
	MaxBytes int64
}

// RangeResult is what Reader.Range found.
type RangeResult struct {
	KVs   []*wire.KeyValue // in key order
	Count int64            // live keys in the range, ignoring Limit and MaxBytes
	More  bool             // Limit or MaxBytes cut the result
	Cut   bool             // MaxBytes cut the result (before Limit did)
	Bytes int64            // the sum of the KVs' wire.KeyValue.Size
}

// Reader reads one shard's keyspace at any revision from a consistent
// Pebble view (an iterator over a snapshot or over the DB as of its
// creation), plus, when it belongs to a Writer, the versions written by the
// Writer's uncommitted batch. A Reader is not safe for concurrent use.
//
// The caller checks revisions against the shard's current and compacted
// revision; a Reader answers for whatever is stored.
type Reader struct {
	space Space
	it    *pebble.Iterator
	ov    *overlay     // nil outside a Writer
	lc    *LatestCache // the Writer's cache, or nil
	val   []byte       // scratch for the current candidate value
	ek    []byte       // scratch for the current escaped key
}

// NewReader returns a Reader over it, which must see (at least) every data
// key of space. The Reader does not own it.
func NewReader(space Space, it *pebble.Iterator) *Reader {
	return &Reader{space: space, it: it}
}

// rangeBounds turns wire range semantics into user-key bounds: a single key
// (single true), or [lo, hi) with hi nil meaning no upper bound.
func rangeBounds(key, end []byte) (lo, hi []byte, single bool) {
	switch {
	case len(end) == 0:
		return key, nil, true
	case len(end) == 1 && end[0] == 0:
		return key, nil, false
	default:
		return key, end, false
	}
}

// Get returns the live version of key at rev, or nil.
func (r *Reader) Get(key []byte, rev Revision) (*wire.KeyValue, error) {
	ek := ekey(key)
	mod, rec, ok, err := r.versionAt(ek, rev)
	if err != nil || !ok || rec.tombstone {
		return nil, err
	}
	rec.value = bytes.Clone(rec.value)
	return rec.keyValue(bytes.Clone(key), mod, false), nil
}

// versionAt returns the newest version (possibly a tombstone) of ek at or
// below rev. The record's value aliases scratch memory.
func (r *Reader) versionAt(ek []byte, rev Revision) (Revision, record, bool, error) {
	if r.ov != nil {
		if v, ok := r.ov.at(string(ek), rev); ok {
			return v.rev, v.rec, true, nil
		}
		// No pending version at or below rev: at or above the committed
		// revision, the answer is the latest committed version.
		if r.lc != nil && rev >= r.ov.base {
			e, absent, ok := r.lc.lookup(ek)
			switch {
			case ok && absent:
				r.lc.hits++
				return 0, record{}, false, nil
			case ok && e.hasValue:
				r.lc.hits++
				r.val = append(r.val[:0], e.value...)
				return e.mod, record{create: e.create, version: e.version, lease: e.lease, value: r.val}, true, nil
			}
			// Not cached, or cached without its value: read Pebble.
			r.lc.misses++
		}
	}
	// Versions sort newest first: the first key at or after (ek, rev) with
	// the prefix ek is the one wanted. The bloom filters of the tables
	// that lack ek skip them.
	if !r.it.SeekPrefixGE(r.space.dataKey(ek, rev)) {
		return 0, record{}, false, r.it.Error()
	}
	cur, mod, ok := splitDataKey(r.it.Key())
	if !ok || !bytes.Equal(cur, ek) || !bytes.HasPrefix(r.it.Key(), r.space.prefix[:]) {
		return 0, record{}, false, nil
	}
	r.val = append(r.val[:0], r.it.Value()...)
	rec, err := decodeRecord(r.val)
	if err != nil {
		return 0, record{}, false, err
	}
	return mod, rec, true, nil
}

// Range reads the keys selected by key and end (wire.RangeRequest rules) as
// they were at rev.
func (r *Reader) Range(key, end []byte, rev Revision, o RangeOptions) (RangeResult, error) {
	var res RangeResult
	lo, hi, single := rangeBounds(key, end)
	if single {
		kv, err := r.Get(key, rev)
		if err != nil || kv == nil {
			return res, err
		}
		res.Count = 1
		if !o.CountOnly {
			if o.KeysOnly {
				kv.Value = nil
			}
			res.KVs = []*wire.KeyValue{kv}
			res.Bytes = int64(kv.Size())
		}
		return res, nil
	}
	if hi != nil && bytes.Compare(lo, hi) >= 0 {
		return res, nil
	}
	err := r.scan(lo, hi, rev, func(ek []byte, mod Revision, rec record) {
		res.Count++
		if o.CountOnly {
			return
		}
		if res.Cut || (o.Limit > 0 && int64(len(res.KVs)) >= o.Limit) {
			res.More = true
			return
		}
		kv := rec.keyValue(unescape(ek), mod, o.KeysOnly)
		size := int64(kv.Size())
		if o.MaxBytes > 0 && len(res.KVs) > 0 && res.Bytes+size > o.MaxBytes {
			res.More, res.Cut = true, true
			return
		}
		if kv.Value != nil {
			kv.Value = bytes.Clone(kv.Value)
		}
		res.Bytes += size
		res.KVs = append(res.KVs, kv)
	})
	return res, err
}

// scan calls fn, in key order, with the newest version at or below rev of
// every live user key in [lo, hi) (hi nil: no upper bound). ek and
// rec.value alias scratch memory, valid only during the call.
func (r *Reader) scan(lo, hi []byte, rev Revision, fn func(ek []byte, mod Revision, rec record)) error {
	upper := r.space.dataUpper()
	var ehi []byte
	if hi != nil {
		ehi = ekey(hi)
		upper = r.space.keyStart(ehi)
	}
	elo := ekey(lo)
	c := cursor{r: r, upper: upper, rev: rev}
	c.valid = r.it.SeekGE(r.space.keyStart(elo))
	c.checkUpper()

	var pending []string // overlay keys in range, sorted
	if r.ov != nil && rev > r.ov.base {
		pending = r.ov.keysIn(elo, ehi)
	}

	dek, dmod, dval, dok, err := c.next()
	if err != nil {
		return err
	}
	for dok || len(pending) > 0 {
		var cmp int
		switch {
		case !dok:
			cmp = 1
		case len(pending) == 0:
			cmp = -1
		default:
			cmp = bytes.Compare(dek, []byte(pending[0]))
		}
		if cmp <= 0 {
			// The DB has a version of dek; the overlay may have a newer one.
			if cmp == 0 {
				if v, ok := r.ov.at(pending[0], rev); ok {
					if !v.rec.tombstone {
						fn(dek, v.rev, v.rec)
					}
				} else if !isTombstone(dval) {
					if err := emitRaw(dek, dmod, dval, fn); err != nil {
						return err
					}
				}
				pending = pending[1:]
			} else if !isTombstone(dval) {
				if err := emitRaw(dek, dmod, dval, fn); err != nil {
					return err
				}
			}
			if dek, dmod, dval, dok, err = c.next(); err != nil {
				return err
			}
			continue
		}
		// Only the overlay has this key.
		if v, ok := r.ov.at(pending[0], rev); ok && !v.rec.tombstone {
			fn([]byte(pending[0]), v.rev, v.rec)
		}
		pending = pending[1:]
	}
	return nil
}

func emitRaw(ek []byte, mod Revision, val []byte, fn func([]byte, Revision, record)) error {
	rec, err := decodeRecord(val)
	if err != nil {
		return err
	}
	fn(ek, mod, rec)
	return nil
}

// maxVersionSteps is how many versions of one key the cursor steps over
// with Next before it seeks instead.
const maxVersionSteps = 4

// cursor walks the data keys of a range and yields, per user key, the
// newest version at or below rev (tombstones included).
type cursor struct {
	r     *Reader
	upper []byte
	rev   Revision
	valid bool
}

func (c *cursor) checkUpper() {
	if c.valid && bytes.Compare(c.r.it.Key(), c.upper) >= 0 {
		c.valid = false
	}
}

// next returns the next user key with a version at or below rev. The
// returned slices are valid until the following call.
func (c *cursor) next() (ek []byte, mod Revision, val []byte, ok bool, err error) {
	it, r := c.r.it, c.r
	for c.valid {
		cur, rev, good := splitDataKey(it.Key())
		if !good {
			return nil, 0, nil, false, errCorrupt
		}
		r.ek = append(r.ek[:0], cur...)
		// Versions run newest first: pass those above rev.
		same := true
		for steps := 0; rev > c.rev; steps++ {
			if steps < maxVersionSteps {
				c.valid = it.Next()
			} else {
				// A long history: seek to the version wanted (or past the key).
				c.valid = it.SeekGE(r.space.dataKey(r.ek, c.rev))
			}
			if !c.valid {
				same = false
				break
			}
			if cur, rev, good = splitDataKey(it.Key()); !good || !bytes.Equal(cur, r.ek) {
				same = false
				break
			}
		}
		if !same {
			c.checkUpper()
			continue // the key has no version at or below rev
		}
		mod = rev
		r.val = append(r.val[:0], it.Value()...)
		// Pass the older versions: usually there are none left.
		if c.valid = it.Next(); c.valid {
			if cur, _, good := splitDataKey(it.Key()); good && bytes.Equal(cur, r.ek) {
				c.valid = it.SeekGE(r.space.keyEnd(r.ek))
			}
		}
		c.checkUpper()
		return r.ek, mod, r.val, true, nil
	}
	return nil, 0, nil, false, it.Error()
}
