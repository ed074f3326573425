package statemachine

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	"github.com/cockroachdb/pebble"

	"github.com/coord-io/coord/statemachine/corruption"
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
	defer sh.release()
	if err != nil {
		return nil, err
	}
	return &Snapshot{snap: db.NewSnapshot()}, nil
}

// SaveSnapshot writes s to w and releases s. It may run concurrently with
// Apply.
func (sh *Shard) SaveSnapshot(s *Snapshot, w io.Writer) error {
	_, err := sh.acquire()
	defer sh.release()
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
var errBadSnapshot = corruption.New("statemachine: malformed snapshot")

// RecoverFromSnapshot replaces the shard's whole state (data, meta and
// exactly-once records) by the snapshot read from r.
//
// The new state is committed in batches of about Config.MaxBatchBytes, so
// that a shard of any size restores in bounded memory: the first batch
// clears the shard and sets the restoring marker, the last one writes the
// meta record (held back from its place in the stream) and removes the
// marker, synced. Readers wait meanwhile (the shard's state lock), so none
// sees a half-restored shard. A crash in between leaves the marker and no
// meta: Open then empties the shard and reports index 0, and Dragonboat
// restores the snapshot again. A stream that fails (malformed, bad
// checksum, read error) leaves the shard empty and marked the same way:
// the shard must not be used until it is restored or reopened.
func (sh *Shard) RecoverFromSnapshot(r io.Reader) error {
	db, err := sh.store.acquire()
	defer sh.store.mu.RUnlock()
	if err == nil && sh.closed.Load() {
		err = ErrClosed
	}
	if err != nil {
		return err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()

	sr := snapshotReader{r: bufio.NewReaderSize(r, 256<<10), h: crc32.New(crcTable)}
	if magic := sr.read(len(snapshotMagic)); sr.err == nil && string(magic) != snapshotMagic {
		return fmt.Errorf("%w: bad magic %q", errBadSnapshot, magic)
	} else if sr.err == nil {
		sr.h.Write(magic)
	}
	// From here the caches may not describe the DB: empty them before
	// the first part is committed, and refill them from the new state
	// once it is complete.
	sh.latest.Reset(false)
	sh.clients = make(map[uint64]*clientRecord)
	if started, err := sh.restore(db, &sr); err != nil {
		if !started { // nothing committed: the old state stands
			if m, merr := getMeta(db, sh.space); merr == nil {
				sh.publish(m)
				_ = sh.resetLatest(db)
			}
			return err
		}
		sh.publish(newMeta())
		sh.members.Store(nil)
		sh.alarms.Store(nil)
		if werr := sh.markEmpty(db); werr != nil {
			return errors.Join(err, werr)
		}
		return err
	}
	m, err := getMeta(db, sh.space)
	if err != nil {
		return err
	}
	if err := sh.loadClusterID(db); err != nil {
		return err
	}
	if err := sh.loadMembers(db); err != nil {
		return err
	}
	if err := sh.loadAlarms(db); err != nil {
		return err
	}
	if err := sh.resetLatest(db); err != nil {
		return err
	}
	sh.publish(m)
	return nil
}

// restore writes the records of sr (past the magic) into the shard in
// bounded batches (see RecoverFromSnapshot). started tells whether it
// committed anything.
func (sh *Shard) restore(db *pebble.DB, sr *snapshotReader) (started bool, err error) {
	b := db.NewBatch()
	defer func() { _ = b.Close() }()
	commit := func(opts *pebble.WriteOptions) error {
		if testCommitHook != nil {
			testCommitHook(b)
		}
		started = true
		if err := db.Apply(b, opts); err != nil {
			return fmt.Errorf("statemachine: recover snapshot: %w", err)
		}
		_ = b.Close()
		b = db.NewBatch()
		return nil
	}
	if err := b.DeleteRange(sh.space.Lower(), sh.space.Upper(), nil); err != nil {
		return started, err
	}
	if err := b.Set(sh.space.RestoringKey(), nil, nil); err != nil {
		return started, err
	}
	limit := sh.store.cfg.MaxBatchBytes
	metaKey := sh.space.MetaKey()
	var metaValue []byte
	key := sh.space.Prefix()
	for sr.err == nil {
		k := sr.bytes()
		if sr.err != nil || len(k) == 0 {
			break
		}
		v := sr.bytes()
		key = append(key[:len(sh.space.Lower())], k...)
		if bytes.Equal(key, metaKey) {
			metaValue = v
			continue
		}
		if len(b.Repr()) >= limit {
			if err := commit(pebble.NoSync); err != nil {
				return started, err
			}
		}
		if err := b.Set(key, v, nil); err != nil {
			return started, err
		}
	}
	want := sr.h.Sum32()
	crc := sr.read(4)
	if sr.err != nil {
		return started, fmt.Errorf("%w: %v", errBadSnapshot, sr.err)
	}
	if got := binary.BigEndian.Uint32(crc); got != want {
		return started, fmt.Errorf("%w: checksum mismatch", errBadSnapshot)
	}
	if metaValue != nil {
		if err := b.Set(metaKey, metaValue, nil); err != nil {
			return started, err
		}
	}
	if err := b.Delete(sh.space.RestoringKey(), nil); err != nil {
		return started, err
	}
	return true, commit(pebble.Sync)
}

// markEmpty leaves a shard whose restore failed empty and marked as
// half-restored.
func (sh *Shard) markEmpty(db *pebble.DB) error {
	b := db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(sh.space.Lower(), sh.space.Upper(), nil); err != nil {
		return err
	}
	if err := b.Set(sh.space.RestoringKey(), nil, nil); err != nil {
		return err
	}
	return db.Apply(b, pebble.Sync)
}

// dropHalfRestored empties the shard if a restore was interrupted.
func (sh *Shard) dropHalfRestored(db *pebble.DB) error {
	_, closer, err := db.Get(sh.space.RestoringKey())
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_ = closer.Close()
	if err := db.DeleteRange(sh.space.Lower(), sh.space.Upper(), pebble.Sync); err != nil {
		return fmt.Errorf("statemachine: drop half-restored shard: %w", err)
	}
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
