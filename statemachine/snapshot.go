package statemachine

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	"github.com/cockroachdb/pebble"
)

// Snapshot format (version 1), the same bytes for the same shard state:
//
//	magic  "coordsm1"
//	record* uvarint len(key) key uvarint len(value) value — every key of
//	        the shard in key order, without the 4-byte shard prefix
//	end    uvarint 0 (keys are never empty)
//	crc    uint32 big-endian, CRC-32C of everything before it
//
// A snapshot carries the meta record (applied index, revisions, lease
// counter, exactly-once clock), the exactly-once records, the leases and their attachments
// with the data, so a restored replica continues
// exactly where the snapshot was taken.
const snapshotMagic = "coordsm1"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Snapshot is a point-in-time view of one shard, taken by PrepareSnapshot
// and written out by SaveSnapshot.
type Snapshot struct {
	snap *pebble.Snapshot
}

// Close releases the snapshot without saving it. It is idempotent, and
// SaveSnapshot calls it.
func (s *Snapshot) Close() error {
	if s == nil || s.snap == nil {
		return nil
	}
	err := s.snap.Close()
	s.snap = nil
	return err
}

// PrepareSnapshot captures the shard's current state.
func (sh *Shard) PrepareSnapshot() (*Snapshot, error) {
	db, err := sh.acquire()
	defer sh.store.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	return &Snapshot{snap: db.NewSnapshot()}, nil
}

// SaveSnapshot writes s to w and releases s. It may run concurrently with
// Apply.
func (sh *Shard) SaveSnapshot(s *Snapshot, w io.Writer) error {
	_, err := sh.acquire()
	defer sh.store.mu.RUnlock()
	defer s.Close()
	if err != nil {
		return err
	}
	if s == nil || s.snap == nil {
		return errors.New("statemachine: snapshot already released")
	}
	sw := snapshotWriter{w: bufio.NewWriterSize(w, 256<<10), h: crc32.New(crcTable)}
	sw.write([]byte(snapshotMagic))
	it := sh.newIter(s.snap)
	prefix := len(sh.space.Lower())
	for valid := it.First(); valid && sw.err == nil; valid = it.Next() {
		sw.bytes(it.Key()[prefix:])
		sw.bytes(it.Value())
	}
	if err := it.Close(); err != nil {
		return err
	}
	sw.uvarint(0)
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], sw.h.Sum32())
	if sw.err == nil {
		_, sw.err = sw.w.Write(crc[:])
	}
	if sw.err == nil {
		sw.err = sw.w.Flush()
	}
	if sw.err != nil {
		return fmt.Errorf("statemachine: save snapshot: %w", sw.err)
	}
	return nil
}

type snapshotWriter struct {
	w   *bufio.Writer
	h   hash.Hash32
	buf [binary.MaxVarintLen64]byte
	err error
}

func (sw *snapshotWriter) write(b []byte) {
	if sw.err != nil {
		return
	}
	sw.h.Write(b)
	_, sw.err = sw.w.Write(b)
}

func (sw *snapshotWriter) uvarint(v uint64) {
	sw.write(sw.buf[:binary.PutUvarint(sw.buf[:], v)])
}

func (sw *snapshotWriter) bytes(b []byte) {
	sw.uvarint(uint64(len(b)))
	sw.write(b)
}

// errBadSnapshot reports a snapshot stream that is not one SaveSnapshot wrote.
var errBadSnapshot = errors.New("statemachine: malformed snapshot")

// RecoverFromSnapshot replaces the shard's whole state (data, meta and
// exactly-once records) by the snapshot read from r. The new state is
// written in one synced batch, so a crash leaves the old state or the new.
func (sh *Shard) RecoverFromSnapshot(r io.Reader) error {
	db, err := sh.acquire()
	defer sh.store.mu.RUnlock()
	if err != nil {
		return err
	}
	sr := snapshotReader{r: bufio.NewReaderSize(r, 256<<10), h: crc32.New(crcTable)}
	if magic := sr.read(len(snapshotMagic)); sr.err == nil && string(magic) != snapshotMagic {
		return fmt.Errorf("%w: bad magic %q", errBadSnapshot, magic)
	} else if sr.err == nil {
		sr.h.Write(magic)
	}
	b := db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(sh.space.Lower(), sh.space.Upper(), nil); err != nil {
		return err
	}
	key := sh.space.Prefix()
	for sr.err == nil {
		k := sr.bytes()
		if sr.err != nil || len(k) == 0 {
			break
		}
		v := sr.bytes()
		key = append(key[:len(sh.space.Lower())], k...)
		if err := b.Set(key, v, nil); err != nil {
			return err
		}
	}
	want := sr.h.Sum32()
	crc := sr.read(4)
	if sr.err != nil {
		return fmt.Errorf("%w: %v", errBadSnapshot, sr.err)
	}
	if got := binary.BigEndian.Uint32(crc); got != want {
		return fmt.Errorf("%w: checksum mismatch", errBadSnapshot)
	}
	// From here the cache may not describe the DB: empty it before the
	// new state is visible, and again from the new state once it is.
	sh.latest.Reset(false)
	if err := db.Apply(b, pebble.Sync); err != nil {
		return fmt.Errorf("statemachine: recover snapshot: %w", err)
	}
	m, err := getMeta(db, sh.space)
	if err != nil {
		return err
	}
	if err := sh.resetLatest(db); err != nil {
		return err
	}
	sh.publish(m)
	sh.clients = make(map[uint64]*clientRecord)
	return nil
}

type snapshotReader struct {
	r   *bufio.Reader
	h   hash.Hash32
	err error
}

// read returns the next n bytes (not hashed: the caller hashes).
func (sr *snapshotReader) read(n int) []byte {
	if sr.err != nil {
		return nil
	}
	b := make([]byte, n)
	if _, sr.err = io.ReadFull(sr.r, b); sr.err != nil {
		return nil
	}
	return b
}

func (sr *snapshotReader) bytes() []byte {
	if sr.err != nil {
		return nil
	}
	n, err := binary.ReadUvarint(sr.r)
	if err != nil {
		sr.err = err
		return nil
	}
	var buf [binary.MaxVarintLen64]byte
	sr.h.Write(buf[:binary.PutUvarint(buf[:], n)])
	if n == 0 {
		return nil
	}
	if n > 1<<30 {
		sr.err = errBadSnapshot
		return nil
	}
	b := sr.read(int(n))
	sr.h.Write(b)
	return b
}
