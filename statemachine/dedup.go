package statemachine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sort"

	"github.com/coord-io/coord/coord/wire"
)

// Exactly-once bookkeeping.
//
// Each client (ClientID != 0) has one record under [shard]'d'[client ID]:
// the results of its sequence numbers not yet acknowledged, the watermark
// below which results were forgotten (the highest AckBelow seen), and the
// index of the last entry the client sent. Records are rewritten once per
// Apply batch that touches them and dropped DedupRetention entries after
// their last use (checked every evictEvery indexes).

// evictEvery is how often, in log indexes, idle records are looked for:
// before the first entry whose index/evictEvery differs from the previous
// applied entry's.
const evictEvery = 4096

// maxPendingResults bounds the results kept per client. A client that
// never acknowledges loses its oldest results first (a retry of one then
// gets CodeDuplicate).
const maxPendingResults = 1024

type storedResult struct {
	seq    uint64
	result Result
}

type clientRecord struct {
	last    uint64         // index of the last entry from the client
	floor   uint64         // results of seqs below floor are forgotten
	results []storedResult // ascending seq
}

// forgetBelow drops the results of seqs below ack and raises the floor.
func (c *clientRecord) forgetBelow(ack uint64) {
	if ack <= c.floor {
		return
	}
	c.floor = ack
	i := sort.Search(len(c.results), func(i int) bool { return c.results[i].seq >= ack })
	c.results = append(c.results[:0], c.results[i:]...)
}

func (c *clientRecord) lookup(seq uint64) (Result, bool) {
	i := sort.Search(len(c.results), func(i int) bool { return c.results[i].seq >= seq })
	if i < len(c.results) && c.results[i].seq == seq {
		return c.results[i].result, true
	}
	return Result{}, false
}

// store remembers the result of seq (not yet stored).
func (c *clientRecord) store(seq uint64, r Result) {
	r.Data = bytes.Clone(r.Data)
	i := sort.Search(len(c.results), func(i int) bool { return c.results[i].seq >= seq })
	c.results = append(c.results, storedResult{})
	copy(c.results[i+1:], c.results[i:])
	c.results[i] = storedResult{seq: seq, result: r}
	if n := len(c.results) - maxPendingResults; n > 0 {
		c.forgetBelow(c.results[n].seq)
	}
}

// Encoding: uvarint last, uvarint floor, uvarint count, then per result
// uvarint seq, uvarint code, uvarint len(data), data. last comes first so
// eviction can read it without decoding the rest.
func (c *clientRecord) encode() []byte {
	n := 3 * binary.MaxVarintLen64
	for _, r := range c.results {
		n += 3*binary.MaxVarintLen64 + len(r.result.Data)
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, c.last)
	b = binary.AppendUvarint(b, c.floor)
	b = binary.AppendUvarint(b, uint64(len(c.results)))
	for _, r := range c.results {
		b = binary.AppendUvarint(b, r.seq)
		b = binary.AppendUvarint(b, uint64(r.result.Code))
		b = binary.AppendUvarint(b, uint64(len(r.result.Data)))
		b = append(b, r.result.Data...)
	}
	return b
}

var errCorruptDedup = errors.New("statemachine: corrupt exactly-once record")

func decodeClientRecord(b []byte) (*clientRecord, error) {
	var vals [3]uint64
	for i := range vals {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errCorruptDedup
		}
		vals[i], b = v, b[n:]
	}
	c := &clientRecord{last: vals[0], floor: vals[1]}
	if vals[2] > uint64(len(b)) {
		return nil, errCorruptDedup
	}
	c.results = make([]storedResult, 0, vals[2])
	for i := uint64(0); i < vals[2]; i++ {
		var f [3]uint64
		for j := range f {
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, errCorruptDedup
			}
			f[j], b = v, b[n:]
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

// recordLast decodes only the last-used index of an encoded record.
func recordLast(b []byte) (uint64, bool) {
	v, n := binary.Uvarint(b)
	return v, n > 0
}
