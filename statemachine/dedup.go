package statemachine

import (
	"bytes"
	"encoding/binary"
	"sort"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/corruption"
)

// Exactly-once bookkeeping.
//
// Each client (ClientID != 0) has one record under [shard]'d'[client ID].
// It answers, for any seq of the client, one of: "acknowledged or applied,
// result gone" (below floor, or in a span: CodeDuplicate), "here is its
// result" (results), "cannot tell" (below unknown: CodeOutcomeUnknown), or
// "never applied" (anything else: apply it). Records are rewritten once per
// Apply batch that touches them.
//
// Retention is time-based. The state machine's clock is the highest
// Command.Time stamped so far (milliseconds; monotonic; in the meta
// record). A record unused for more than Config.DedupRetention of that
// clock is dropped (checked every evictEvery indexes). A write that finds
// no record, or a record created after the write was first sent, may have
// been applied under a record since dropped: it is applied only if it was
// first sent (Command.Sent) less than DedupRetention/2 before the record's
// creation; otherwise it is answered CodeOutcomeUnknown. See Config for
// the clock assumptions this needs.

// evictEvery is how often, in log indexes, idle records are looked for:
// before the first entry whose index/evictEvery differs from the previous
// applied entry's.
const evictEvery = 4096

// maxPendingResults bounds the results kept per client. When a client has
// more results it has not acknowledged (its watermark held back by a write
// still in flight), the first applied are dropped and their seqs
// remembered in spans: a retry of one is answered CodeDuplicate (it was
// applied), never applied again. (The first applied, not the lowest seqs:
// the write holding the watermark back has the lowest seq, and when it is
// finally applied its result is the one its client is waiting for.)
const maxPendingResults = 1024

// maxSpans bounds the ranges of applied seqs whose results were dropped.
// Beyond it the oldest range is forgotten and the seqs up to its end
// become "outcome unknown" (raising the record's unknown mark).
const maxSpans = 1024

type storedResult struct {
	seq    uint64
	result Result
}

// span is the seqs [lo, hi) of a client, all applied, their results gone.
type span struct{ lo, hi uint64 }

type clientRecord struct {
	lastTime uint64         // clock (ms) at the last entry from the client
	born     uint64         // clock (ms) when this record was created
	floor    uint64         // seqs below: acknowledged or applied (duplicates)
	unknown  uint64         // seqs below, if not in results or spans: outcome unknown
	spans    []span         // ascending, disjoint, non-adjacent, all ≥ floor
	results  []storedResult // in the order applied, all ≥ floor
}

// forgetBelow drops what is known of seqs below ack (the client has
// finished them and never sends them again) and raises the floor.
func (c *clientRecord) forgetBelow(ack uint64) {
	if ack <= c.floor {
		return
	}
	c.floor = ack
	kept := c.results[:0]
	for _, r := range c.results {
		if r.seq >= ack {
			kept = append(kept, r)
		}
	}
	clear(c.results[len(kept):])
	c.results = kept
	j := sort.Search(len(c.spans), func(j int) bool { return c.spans[j].hi > ack })
	c.spans = append(c.spans[:0], c.spans[j:]...)
	c.foldSpans()
}

// foldSpans merges a span that starts at or below the floor into it.
func (c *clientRecord) foldSpans() {
	for len(c.spans) > 0 && c.spans[0].lo <= c.floor {
		c.floor = max(c.floor, c.spans[0].hi)
		c.spans = c.spans[1:]
	}
}

// verdict is what the record says of a seq.
type verdict int

const (
	verdictNew       verdict = iota // never applied: apply it
	verdictResult                   // applied: its stored result
	verdictDuplicate                // applied or acknowledged, result gone
	verdictUnknown                  // cannot tell
)

func (c *clientRecord) lookup(seq uint64) (Result, verdict) {
	if seq < c.floor {
		return Result{}, verdictDuplicate
	}
	for i := len(c.results) - 1; i >= 0; i-- { // a retry is most likely of a recent one
		if c.results[i].seq == seq {
			return c.results[i].result, verdictResult
		}
	}
	j := sort.Search(len(c.spans), func(j int) bool { return c.spans[j].hi > seq })
	if j < len(c.spans) && c.spans[j].lo <= seq {
		return Result{}, verdictDuplicate
	}
	if seq < c.unknown {
		return Result{}, verdictUnknown
	}
	return Result{}, verdictNew
}

// store remembers the result of seq (not yet stored).
func (c *clientRecord) store(seq uint64, r Result) {
	r.Data = bytes.Clone(r.Data)
	c.results = append(c.results, storedResult{seq: seq, result: r})
	if len(c.results) > maxPendingResults {
		c.addSpan(c.results[0].seq)
		c.results[0] = storedResult{}
		c.results = c.results[1:]
	}
}

// addSpan records seq (≥ floor, in no span) as applied with its result gone.
func (c *clientRecord) addSpan(seq uint64) {
	j := sort.Search(len(c.spans), func(j int) bool { return c.spans[j].hi >= seq })
	switch {
	case j < len(c.spans) && c.spans[j].hi == seq:
		c.spans[j].hi++
		if j+1 < len(c.spans) && c.spans[j+1].lo == seq+1 {
			c.spans[j].hi = c.spans[j+1].hi
			c.spans = append(c.spans[:j+1], c.spans[j+2:]...)
		}
	case j < len(c.spans) && c.spans[j].lo == seq+1:
		c.spans[j].lo = seq
	default:
		c.spans = append(c.spans, span{})
		copy(c.spans[j+1:], c.spans[j:])
		c.spans[j] = span{lo: seq, hi: seq + 1}
	}
	c.foldSpans()
	if len(c.spans) > maxSpans {
		c.unknown = max(c.unknown, c.spans[0].hi)
		c.spans = append(c.spans[:0], c.spans[1:]...)
	}
}

// Encoding (format 1): a 0 byte, then uvarints lastTime, born, floor,
// unknown, len(spans), per span lo and hi-lo, len(results), per result
// seq, code, len(data), data. The 0 byte and lastTime come first so that
// eviction reads them without decoding the rest.
//
// Format 0, of earlier versions, had no leading 0 byte (it began with the
// index of the client's last entry, never 0): last index, floor,
// len(results) and the results. It is read as last used now.
func (c *clientRecord) encode() []byte {
	n := 1 + 6*binary.MaxVarintLen64 + 2*binary.MaxVarintLen64*len(c.spans)
	for _, r := range c.results {
		n += 3*binary.MaxVarintLen64 + len(r.result.Data)
	}
	b := make([]byte, 1, n)
	for _, v := range []uint64{c.lastTime, c.born, c.floor, c.unknown, uint64(len(c.spans))} {
		b = binary.AppendUvarint(b, v)
	}
	for _, s := range c.spans {
		b = binary.AppendUvarint(b, s.lo)
		b = binary.AppendUvarint(b, s.hi-s.lo)
	}
	b = binary.AppendUvarint(b, uint64(len(c.results)))
	for _, r := range c.results {
		b = binary.AppendUvarint(b, r.seq)
		b = binary.AppendUvarint(b, uint64(r.result.Code))
		b = binary.AppendUvarint(b, uint64(len(r.result.Data)))
		b = append(b, r.result.Data...)
	}
	return b
}

var errCorruptDedup = corruption.New("statemachine: corrupt exactly-once record")

// uvarints decodes len(vals) uvarints from b.
func uvarints(b []byte, vals []uint64) ([]byte, error) {
	for i := range vals {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errCorruptDedup
		}
		vals[i], b = v, b[n:]
	}
	return b, nil
}

// decodeClientRecord decodes a record; now is the clock, taken as the
// last use of a record of format 0.
func decodeClientRecord(b []byte, now uint64) (*clientRecord, error) {
	c := &clientRecord{}
	var err error
	if len(b) > 0 && b[0] == 0 {
		var v [5]uint64
		if b, err = uvarints(b[1:], v[:]); err != nil {
			return nil, err
		}
		c.lastTime, c.born, c.floor, c.unknown = v[0], v[1], v[2], v[3]
		if v[4] > uint64(len(b)) {
			return nil, errCorruptDedup
		}
		c.spans = make([]span, 0, v[4])
		for i := uint64(0); i < v[4]; i++ {
			var s [2]uint64
			if b, err = uvarints(b, s[:]); err != nil {
				return nil, err
			}
			c.spans = append(c.spans, span{lo: s[0], hi: s[0] + s[1]})
		}
	} else {
		var v [2]uint64
		if b, err = uvarints(b, v[:]); err != nil {
			return nil, err
		}
		c.lastTime, c.floor = now, max(v[1], 1)
	}
	var count [1]uint64
	if b, err = uvarints(b, count[:]); err != nil {
		return nil, err
	}
	if count[0] > uint64(len(b)) {
		return nil, errCorruptDedup
	}
	c.results = make([]storedResult, 0, count[0])
	for i := uint64(0); i < count[0]; i++ {
		var f [3]uint64
		if b, err = uvarints(b, f[:]); err != nil {
			return nil, err
		}
		if f[2] > uint64(len(b)) {
			return nil, errCorruptDedup
		}
		data := bytes.Clone(b[:f[2]])
		b = b[f[2]:]
		c.results = append(c.results, storedResult{seq: f[0], result: Result{Code: wire.Code(f[1]), Data: data}})
	}
	return c, nil
}

// recordLastTime decodes only the last-use time of an encoded record;
// legacy is true for a record of format 0 (which has none).
func recordLastTime(b []byte) (last uint64, legacy, ok bool) {
	if len(b) == 0 {
		return 0, false, false
	}
	if b[0] != 0 {
		return 0, true, true
	}
	v, n := binary.Uvarint(b[1:])
	return v, false, n > 0
}
