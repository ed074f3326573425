package mvcc

import (
	"bytes"
	"sort"

	"github.com/cockroachdb/pebble"

	"github.com/coord-io/coord/coord/wire"
)

// overlay holds the versions a Writer has written but not yet committed,
// so that later commands of the same batch read them. Every pending
// version is newer than base, the revision of the committed view.
type overlay struct {
	base   Revision
	keys   map[string]*pendingKey // by escaped key
	sorted []string               // escaped keys in order; nil when stale
}

type pendingKey struct {
	versions []pendingVersion // ascending revisions
}

type pendingVersion struct {
	rev Revision
	rec record
}

// at returns the newest pending version of ek at or below rev.
func (o *overlay) at(ek string, rev Revision) (pendingVersion, bool) {
	p := o.keys[ek]
	if p == nil {
		return pendingVersion{}, false
	}
	for i := len(p.versions) - 1; i >= 0; i-- {
		if p.versions[i].rev <= rev {
			return p.versions[i], true
		}
	}
	return pendingVersion{}, false
}

// add records a version; a version at the same revision replaces it.
func (o *overlay) add(ek []byte, rev Revision, rec record) {
	p := o.keys[string(ek)]
	if p == nil {
		p = &pendingKey{}
		o.keys[string(ek)] = p
		o.sorted = nil
	}
	if n := len(p.versions); n > 0 && p.versions[n-1].rev == rev {
		p.versions[n-1].rec = rec
		return
	}
	p.versions = append(p.versions, pendingVersion{rev: rev, rec: rec})
}

// keysIn returns the pending escaped keys in [elo, ehi) in order (ehi nil:
// no upper bound).
func (o *overlay) keysIn(elo, ehi []byte) []string {
	if len(o.keys) == 0 {
		return nil
	}
	if o.sorted == nil {
		o.sorted = make([]string, 0, len(o.keys))
		for k := range o.keys {
			o.sorted = append(o.sorted, k)
		}
		sort.Strings(o.sorted)
	}
	i := sort.SearchStrings(o.sorted, string(elo))
	j := len(o.sorted)
	if ehi != nil {
		j = sort.SearchStrings(o.sorted, string(ehi))
	}
	if i >= j {
		return nil
	}
	return o.sorted[i:j]
}

// Writer applies writes to one shard's keyspace. Writes go to a Pebble
// batch the caller commits (together with its own records, such as the
// shard's meta); reads through Writer.Reader see the committed state as of
// the Writer's creation or last Rebase plus every write made since.
//
// A Writer is used by one goroutine (the apply loop) and is not safe for
// concurrent use.
type Writer struct {
	space Space
	db    *pebble.DB
	batch *pebble.Batch
	it    *pebble.Iterator
	r     Reader
	ov    overlay
	lc    *LatestCache
	buf   []byte
}

// NewWriter starts a Writer on db whose committed view is at revision base
// (the shard's current revision). cache, if not nil, must hold the latest
// committed versions of the shard's keys (see LatestCache): the Writer
// reads it instead of Pebble where it can and, through Committed, keeps
// it up to date.
func NewWriter(space Space, db *pebble.DB, base Revision, cache *LatestCache) *Writer {
	w := &Writer{space: space, db: db, lc: cache}
	w.Rebase(base)
	return w
}

// Rebase drops the Writer's pending state and takes a fresh view of db at
// revision base: call it after committing Batch.
func (w *Writer) Rebase(base Revision) {
	if w.it != nil {
		_ = w.it.Close()
	}
	if w.batch != nil {
		_ = w.batch.Close()
	}
	w.batch = w.db.NewBatch()
	w.it = w.db.NewIter(&pebble.IterOptions{LowerBound: w.space.dataLower(), UpperBound: w.space.dataUpper()})
	w.ov = overlay{base: base, keys: make(map[string]*pendingKey)}
	w.r = Reader{space: w.space, it: w.it, ov: &w.ov, lc: w.lc, val: w.r.val, ek: w.r.ek}
}

// Committed records that the caller has committed Batch: the Writer's
// cache takes the newest pending version of every key written. Call it
// after the commit succeeded and before Rebase; a Writer whose batch is
// not committed must not call it (the cache would describe writes the
// store does not hold).
func (w *Writer) Committed() {
	if w.lc == nil {
		return
	}
	for ek, p := range w.ov.keys {
		if n := len(p.versions); n > 0 {
			v := &p.versions[n-1]
			w.lc.set(ek, v.rev, &v.rec)
		}
	}
}

// Close releases the Writer's iterator and batch without committing.
func (w *Writer) Close() {
	if w.it != nil {
		_ = w.it.Close()
		w.it = nil
	}
	if w.batch != nil {
		_ = w.batch.Close()
		w.batch = nil
	}
}

// Batch returns the Pebble batch holding the pending writes.
func (w *Writer) Batch() *pebble.Batch { return w.batch }

// Reader returns a Reader of the committed view plus the pending writes.
func (w *Writer) Reader() *Reader { return &w.r }

// Put writes key=value at rev and returns the new version and the previous
// live version (nil if none). Writing a key twice at one revision keeps the
// last value and counts one version.
func (w *Writer) Put(key, value []byte, lease int64, rev Revision) (kv, prev *wire.KeyValue, err error) {
	ek := ekey(key)
	pmod, prec, found, err := w.r.versionAt(ek, rev)
	if err != nil {
		return nil, nil, err
	}
	rec := record{create: rev, version: 1, lease: lease, value: value}
	if found && !prec.tombstone {
		prev = prec.keyValue(key, pmod, false)
		prev.Value = bytes.Clone(prev.Value)
		rec.create = prec.create
		rec.version = prec.version + 1
		if pmod == rev {
			rec.version = prec.version
		}
	}
	w.write(ek, rev, rec)
	return rec.keyValue(key, rev, false), prev, nil
}

// Delete writes a tombstone for key at rev if key is live, and returns the
// version deleted (nil if key was not live).
func (w *Writer) Delete(key []byte, rev Revision) (*wire.KeyValue, error) {
	ek := ekey(key)
	pmod, prec, found, err := w.r.versionAt(ek, rev)
	if err != nil || !found || prec.tombstone {
		return nil, err
	}
	prev := prec.keyValue(key, pmod, false)
	prev.Value = bytes.Clone(prev.Value)
	w.write(ek, rev, record{tombstone: true})
	return prev, nil
}

// DeleteRange deletes, at rev, every live key selected by key and end
// (wire.RangeRequest rules) for which skip returns false (skip may be
// nil). It returns the versions deleted, in key order.
func (w *Writer) DeleteRange(key, end []byte, rev Revision, skip func(key []byte) bool) ([]*wire.KeyValue, error) {
	lo, hi, single := rangeBounds(key, end)
	if single {
		if skip != nil && skip(key) {
			return nil, nil
		}
		prev, err := w.Delete(key, rev)
		if prev == nil || err != nil {
			return nil, err
		}
		return []*wire.KeyValue{prev}, nil
	}
	if hi != nil && bytes.Compare(lo, hi) >= 0 {
		return nil, nil
	}
	type victim struct {
		ek  []byte
		key []byte
		kv  *wire.KeyValue
	}
	var victims []victim
	err := w.r.scan(lo, hi, rev, func(ek []byte, mod Revision, rec record) {
		k := unescape(ek)
		if skip != nil && skip(k) {
			return
		}
		rec.value = bytes.Clone(rec.value)
		victims = append(victims, victim{ek: bytes.Clone(ek), key: k, kv: rec.keyValue(k, mod, false)})
	})
	if err != nil {
		return nil, err
	}
	prevs := make([]*wire.KeyValue, len(victims))
	for i, v := range victims {
		w.write(v.ek, rev, record{tombstone: true})
		prevs[i] = v.kv
	}
	return prevs, nil
}

func (w *Writer) write(ek []byte, rev Revision, rec record) {
	w.buf = rec.appendTo(w.buf[:0])
	// Batch.Set copies key and value.
	_ = w.batch.Set(w.space.dataKey(ek, rev), w.buf, nil)
	w.ov.add(ek, rev, rec)
}

// Compact adds to the batch the deletions that compact the keyspace at
// rev: for each key, every version older than its newest version at or
// below rev, and that newest version too when it is a tombstone (see
// Revision). The Writer must have no pending writes (Rebase first), so
// that its view holds every version. Reads at rev or later are unchanged
// by compaction, so the Writer's (now stale) view stays correct for them.
//
// When the batch reaches maxBytes (0: no bound) Compact hands it to
// commit, which must commit it, and goes on with the emptied batch; what
// is left at the end stays in the batch for the caller. The deletions of
// one key come oldest first and the version compaction decides on (the
// newest at or below rev) last, so a store holding any committed prefix of
// them still has, for every key, that same version: compacting it again
// at rev deletes exactly the rest. The result does not depend on maxBytes.
func (w *Writer) Compact(rev Revision, maxBytes int, commit func(*pebble.Batch) error) (deleted int, err error) {
	it := w.it
	var (
		key  []byte   // the escaped key whose versions are being visited
		kept bool     // whether key's newest version <= rev was seen
		last []byte   // that version's data key when it is a tombstone to delete
		olds [][]byte // the older versions of key to delete, newest first
	)
	// flushKey deletes key's versions: the older ones oldest first, then
	// the tombstone.
	flushKey := func() error {
		for i := len(olds) - 1; i >= 0; i-- {
			if err := w.del(olds[i], maxBytes, commit); err != nil {
				return err
			}
		}
		deleted += len(olds)
		olds = olds[:0]
		if last != nil {
			if err := w.del(last, maxBytes, commit); err != nil {
				return err
			}
			deleted++
			last = nil
		}
		return nil
	}
	for valid := it.First(); valid; valid = it.Next() {
		ek, r, ok := splitDataKey(it.Key())
		if !ok {
			return deleted, errCorrupt
		}
		if !bytes.Equal(ek, key) {
			if err := flushKey(); err != nil {
				return deleted, err
			}
			key, kept = append(key[:0], ek...), false
		}
		switch {
		case r > rev: // newer than the compaction: kept
		case !kept: // the newest version <= rev: kept unless a tombstone
			kept = true
			if isTombstone(it.Value()) {
				last = bytes.Clone(it.Key())
			}
		default: // older: dropped
			olds = append(olds, bytes.Clone(it.Key()))
		}
	}
	if err := it.Error(); err != nil {
		return deleted, err
	}
	return deleted, flushKey()
}

// del adds the deletion of k to the batch, first committing the batch
// through commit if it has reached maxBytes.
func (w *Writer) del(k []byte, maxBytes int, commit func(*pebble.Batch) error) error {
	if maxBytes > 0 && len(w.batch.Repr()) >= maxBytes && !w.batch.Empty() {
		if err := commit(w.batch); err != nil {
			return err
		}
		_ = w.batch.Close()
		w.batch = w.db.NewBatch()
	}
	return w.batch.Delete(k, nil)
}
