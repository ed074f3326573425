package mvcc

import "github.com/cockroachdb/pebble"

// MaxCachedValue is the largest value a LatestCache keeps: a key whose
// latest value is larger is cached without it (its metadata only), and a
// write that needs its previous value reads it from Pebble.
const MaxCachedValue = 256

// maxCachedKey is the longest escaped key a LatestCache keeps. A longer
// key is not cached, and the cache stops being complete.
const maxCachedKey = 512

// LatestCache remembers, for a bounded number of user keys of one shard,
// the latest committed version: its mod revision, create revision,
// version, lease and (if at most MaxCachedValue bytes) value, or that the
// latest version is a tombstone. A Writer given a cache consults it,
// after its own pending writes, for reads at or above its committed
// revision (the newest version at or below such a revision is the latest
// committed one), instead of seeking Pebble; it updates the cache only
// when its writes are committed (Writer.Committed).
//
// When the cache is complete it holds every key whose latest committed
// version is live, so a key it lacks has no live version. A cache is
// complete when reset over a shard without data keys and stays so until
// it evicts a live key or declines to cache one (a key longer than
// maxCachedKey).
//
// The cache is a pure optimization: a Writer with or without it returns
// the same results and writes the same bytes. It is owned by the apply
// loop and is not safe for concurrent use; concurrent readers never see
// it. Eviction is by the clock algorithm; the cache never holds more than
// its bound of keys.
type LatestCache struct {
	max      int
	complete bool
	idx      map[string]int32 // escaped key → slot
	slots    []latestEntry
	hand     int

	hits, misses uint64 // lookups answered without Pebble, and not
}

type latestEntry struct {
	ek       string
	ref      bool // referenced since the clock hand last passed
	live     bool // false: the latest version is a tombstone
	hasValue bool // value holds the value (live only)
	mod      Revision
	create   Revision
	version  int64
	lease    int64
	value    []byte
}

// NewLatestCache returns a cache of at most max keys, or nil (no cache)
// if max <= 0. A nil *LatestCache is valid and caches nothing.
func NewLatestCache(max int) *LatestCache {
	if max <= 0 {
		return nil
	}
	return &LatestCache{max: max, idx: make(map[string]int32)}
}

// Reset empties the cache. complete says whether the shard it describes
// has no data keys (see ShardHasData), which makes the empty cache
// complete.
func (c *LatestCache) Reset(complete bool) {
	if c == nil {
		return
	}
	clear(c.idx)
	clear(c.slots) // drop references to keys and values
	c.slots = c.slots[:0]
	c.hand = 0
	c.complete = complete
}

// Len returns the number of keys cached.
func (c *LatestCache) Len() int {
	if c == nil {
		return 0
	}
	return len(c.slots)
}

// Cap returns the cache's bound on keys.
func (c *LatestCache) Cap() int {
	if c == nil {
		return 0
	}
	return c.max
}

// Stats returns how many lookups the cache answered (hits) and how many
// went to Pebble (misses).
func (c *LatestCache) Stats() (hits, misses uint64) {
	if c == nil {
		return 0, 0
	}
	return c.hits, c.misses
}

// Complete reports whether the cache holds every key with a live latest
// version.
func (c *LatestCache) Complete() bool { return c != nil && c.complete }

// lookup returns the cached latest version of ek. absent is true when ek
// has no live latest version (a cached tombstone, or a complete cache
// without ek). The entry's value aliases the cache: copy it before the
// cache changes.
func (c *LatestCache) lookup(ek []byte) (e *latestEntry, absent, ok bool) {
	i, found := c.idx[string(ek)]
	if !found {
		if c.complete {
			return nil, true, true
		}
		return nil, false, false
	}
	e = &c.slots[i]
	e.ref = true
	if !e.live {
		return nil, true, true
	}
	return e, false, true
}

// set records rec at mod as the latest committed version of ek.
func (c *LatestCache) set(ek string, mod Revision, rec *record) {
	if len(ek) > maxCachedKey {
		c.remove(ek)
		if !rec.tombstone {
			c.complete = false
		}
		return
	}
	i, found := c.idx[ek]
	if !found {
		i = c.slot()
		c.slots[i].ek = ek
		c.idx[ek] = i
	}
	e := &c.slots[i]
	e.ref = true
	e.live = !rec.tombstone
	e.mod = mod
	e.create, e.version, e.lease = rec.create, rec.version, rec.lease
	e.hasValue = e.live && len(rec.value) <= MaxCachedValue
	if e.hasValue {
		e.value = append(e.value[:0], rec.value...)
	} else {
		e.value = e.value[:0]
	}
	if cap(e.value) > 2*MaxCachedValue {
		e.value = nil
	}
}

// slot returns the index of a free slot (not in idx), evicting a key if
// the cache is full.
func (c *LatestCache) slot() int32 {
	if len(c.slots) < c.max {
		c.slots = append(c.slots, latestEntry{})
		return int32(len(c.slots) - 1)
	}
	// Clock: pass referenced keys (clearing the bit), evict the first
	// unreferenced one and reuse its slot.
	for {
		if c.hand >= len(c.slots) {
			c.hand = 0
		}
		e := &c.slots[c.hand]
		if e.ref {
			e.ref = false
			c.hand++
			continue
		}
		if e.live {
			c.complete = false
		}
		delete(c.idx, e.ek)
		*e = latestEntry{value: e.value[:0]}
		victim := c.hand
		c.hand++
		return int32(victim)
	}
}

// remove drops ek from the cache.
func (c *LatestCache) remove(ek string) {
	i, found := c.idx[ek]
	if !found {
		return
	}
	delete(c.idx, ek)
	last := int32(len(c.slots) - 1)
	if i != last {
		c.slots[i] = c.slots[last]
		c.idx[c.slots[i].ek] = i
	}
	c.slots[last] = latestEntry{}
	c.slots = c.slots[:last]
}

// ShardHasData reports whether db holds any data key of space: a cache of
// a shard without one starts complete.
func ShardHasData(db *pebble.DB, space Space) (bool, error) {
	it := db.NewIter(&pebble.IterOptions{LowerBound: space.dataLower(), UpperBound: space.dataUpper()})
	has := it.First()
	if err := it.Close(); err != nil {
		return false, err
	}
	return has, nil
}
