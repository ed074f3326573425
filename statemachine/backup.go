package statemachine

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble"
	"github.com/coord-io/coord/coord/wire"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/coord-io/coord/statemachine/corruption"
	"github.com/coord-io/coord/statemachine/mvcc"
)

// Backup file format (version 1): one file holding a snapshot of every
// shard of a cluster, as one member had them. `coord snapshot save` and
// the etcd door's Maintenance.Snapshot stream the same bytes.
//
//	magic   "coordbk1"
//	header  uvarint length, then the msgpack BackupHeader (cluster
//	        identity, member, time, and each shard's applied index and
//	        revisions)
//	shard*  for each shard of the header, in its order: the shard's
//	        snapshot stream, exactly as SaveSnapshot writes it (its own
//	        magic, records, end mark and CRC-32C)
//	pad     zero bytes up to a multiple of 512 bytes
//	sum     SHA-256 of everything before it (32 bytes)
//
// The padding and the trailing SHA-256 are what etcdctl's `snapshot save`
// checks (a file size of 32 modulo 512, as etcd's page-aligned bolt file
// with its digest appended has), so etcdctl saves Coord's stream as is.
//
// Each shard's part is its state at one applied index, read after a
// linearizable barrier on that shard; the shards are not one atomic cut
// of the whole cluster (no more than a fan-out range is).
const (
	backupMagic = "coordbk1"
	// BackupVersion is the version of the backup format this package
	// writes and reads.
	BackupVersion = 1
	// backupAlign is the size the body is padded to a multiple of.
	backupAlign = 512
	// maxBackupHeader bounds the header's length.
	maxBackupHeader = 16 << 20
)

// ErrCorruptBackup matches every error about a backup file that is not
// one WriteBackup wrote whole: truncated, a checksum mismatch, a malformed
// header or shard stream. It matches ErrCorruption too.
var ErrCorruptBackup = corruption.New("statemachine: corrupt backup")

// BackupHeader is what a backup says about itself.
type BackupHeader struct {
	Version int `msgpack:"v"`
	// ClusterID is the identity of the cluster the backup was taken from
	// (a cluster restored from it gets a new one).
	ClusterID uint64 `msgpack:"cluster"`
	// Member is the name of the member that wrote it.
	Member string `msgpack:"member"`
	// Created is when the member began the backup, Unix milliseconds of
	// its clock.
	Created int64         `msgpack:"created"`
	Shards  []BackupShard `msgpack:"shards"`
}

// BackupShard is one shard's state in a backup.
type BackupShard struct {
	Shard           uint32 `msgpack:"shard"`
	AppliedIndex    uint64 `msgpack:"applied"`
	Revision        int64  `msgpack:"rev"`
	CompactRevision int64  `msgpack:"compact"`
}

// BackupShardSummary is what reading a shard's part of a backup found.
type BackupShardSummary struct {
	BackupShard
	// Keys is the number of live user keys (the primitives' reserved
	// keys included), Versions the stored versions of all keys
	// (history and tombstones included), Leases the leases.
	Keys, Versions, Leases int64
	// Bytes is the size of the shard's part of the file.
	Bytes int64
}

// BackupSummary describes a verified backup.
type BackupSummary struct {
	Header BackupHeader
	Shards []BackupShardSummary
	// Size is the file's size; SHA256 its trailing checksum (hex).
	Size   int64
	SHA256 string
}

// BackupPart is one shard and its snapshot, to write into a backup.
type BackupPart struct {
	Shard *Shard
	Snap  *Snapshot
}

// PrepareBackup takes a snapshot of the shard for a backup and reports
// its applied index and revisions. busy is true (and no snapshot taken)
// while a compaction command is committing its parts: the caller tries
// again a moment later, so that a backup never holds a half-compacted
// shard.
func (sh *Shard) PrepareBackup() (snap *Snapshot, info BackupShard, busy bool, err error) {
	s, err := sh.PrepareSnapshot()
	if err != nil {
		return nil, BackupShard{}, false, err
	}
	for _, k := range [][]byte{sh.space.CompactingKey(), sh.space.RestoringKey()} {
		_, closer, gerr := s.snap.Get(k)
		if gerr == nil {
			_ = closer.Close()
			_ = s.Close()
			return nil, BackupShard{}, true, nil
		}
		if !errors.Is(gerr, pebble.ErrNotFound) {
			_ = s.Close()
			return nil, BackupShard{}, false, gerr
		}
	}
	var m meta
	v, closer, err := s.snap.Get(sh.space.MetaKey())
	switch {
	case err == nil:
		m, err = decodeMeta(v)
		_ = closer.Close()
		if err != nil {
			_ = s.Close()
			return nil, BackupShard{}, false, err
		}
	case !errors.Is(err, pebble.ErrNotFound):
		_ = s.Close()
		return nil, BackupShard{}, false, err
	}
	return s, BackupShard{Shard: sh.id, AppliedIndex: m.applied, Revision: int64(m.current), CompactRevision: int64(m.compacted)}, false, nil
}

// WriteBackup writes a backup of parts (every shard, in order, each with
// the snapshot PrepareBackup took) with header hdr to w, and returns the
// bytes written. It releases every part's snapshot, also on error.
func WriteBackup(w io.Writer, hdr *BackupHeader, parts []BackupPart) (n int64, err error) {
	defer func() {
		for _, p := range parts {
			_ = p.Snap.Close()
		}
	}()
	if len(hdr.Shards) != len(parts) {
		return 0, fmt.Errorf("statemachine: backup header names %d shards, %d given", len(hdr.Shards), len(parts))
	}
	hdr.Version = BackupVersion
	hb, err := msgpack.Marshal(hdr)
	if err != nil {
		return 0, fmt.Errorf("statemachine: encode backup header: %w", err)
	}
	bw := &hashWriter{w: w, h: sha256.New()}
	_, _ = bw.Write([]byte(backupMagic))
	_, _ = bw.Write(binary.AppendUvarint(nil, uint64(len(hb))))
	_, _ = bw.Write(hb)
	for i, p := range parts {
		if bw.err != nil {
			break
		}
		if p.Shard.id != hdr.Shards[i].Shard {
			return bw.n, fmt.Errorf("statemachine: backup part %d is shard %d, the header says %d", i, p.Shard.id, hdr.Shards[i].Shard)
		}
		if err := p.Shard.SaveSnapshot(p.Snap, bw); err != nil {
			return bw.n, err
		}
	}
	if pad := (backupAlign - bw.n%backupAlign) % backupAlign; pad > 0 {
		_, _ = bw.Write(make([]byte, pad))
	}
	if bw.err == nil {
		var m int
		m, bw.err = w.Write(bw.h.Sum(nil))
		bw.n += int64(m)
	}
	if bw.err != nil {
		return bw.n, fmt.Errorf("statemachine: write backup: %w", bw.err)
	}
	return bw.n, nil
}

// hashWriter writes to w, hashing and counting what it wrote.
type hashWriter struct {
	w   io.Writer
	h   hash.Hash
	n   int64
	err error
}

func (hw *hashWriter) Write(p []byte) (int, error) {
	if hw.err != nil {
		return 0, hw.err
	}
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	hw.err = err
	return n, err
}

// corruptBackup is an ErrCorruptBackup with a reason.
func corruptBackup(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorruptBackup, fmt.Sprintf(format, args...))
}

// ReadBackup verifies the backup in r (size bytes) and summarizes it:
// the trailing SHA-256 first, then the header and every shard's stream
// (each with its CRC-32C), handing each record to each (nil: none) with
// its shard and its key less the shard prefix (both valid only during the
// call). Any damage is an error matching ErrCorruptBackup; an error from
// each is returned as is.
func ReadBackup(r io.ReaderAt, size int64, each func(shard uint32, key, value []byte) error) (*BackupSummary, error) {
	if size < int64(len(backupMagic))+sha256.Size {
		return nil, corruptBackup("%d bytes is too short for a backup (truncated?)", size)
	}
	magic := make([]byte, len(backupMagic))
	if _, err := r.ReadAt(magic, 0); err != nil {
		return nil, fmt.Errorf("statemachine: read backup: %w", err)
	}
	if string(magic) != backupMagic {
		return nil, corruptBackup("not a Coord backup (bad magic %q)", magic)
	}
	if size%backupAlign != sha256.Size {
		return nil, corruptBackup("size %d is not a multiple of %d plus the %d-byte checksum (truncated?)", size, backupAlign, sha256.Size)
	}
	body := size - sha256.Size
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, body)); err != nil {
		return nil, fmt.Errorf("statemachine: read backup: %w", err)
	}
	sum := make([]byte, sha256.Size)
	if _, err := r.ReadAt(sum, body); err != nil {
		return nil, fmt.Errorf("statemachine: read backup: %w", err)
	}
	if !bytes.Equal(sum, h.Sum(nil)) {
		return nil, corruptBackup("SHA-256 checksum mismatch (the file was damaged or truncated)")
	}
	out := &BackupSummary{Size: size, SHA256: fmt.Sprintf("%x", sum)}

	cr := &countingReader{r: bufio.NewReaderSize(io.NewSectionReader(r, 0, body), 256<<10)}
	if _, err := io.ReadFull(cr, magic); err != nil {
		return nil, corruptBackup("%v", err)
	}
	hlen, err := binary.ReadUvarint(cr)
	if err != nil || hlen > maxBackupHeader {
		return nil, corruptBackup("bad header length")
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(cr, hb); err != nil {
		return nil, corruptBackup("header: %v", err)
	}
	if err := wire.Unmarshal(hb, &out.Header); err != nil {
		return nil, corruptBackup("header: %v", err)
	}
	if out.Header.Version != BackupVersion {
		return nil, fmt.Errorf("%w: backup format version %d, this coord reads version %d", ErrCorruptBackup, out.Header.Version, BackupVersion)
	}
	if len(out.Header.Shards) == 0 {
		return nil, corruptBackup("the header names no shard")
	}
	for i, bs := range out.Header.Shards {
		if bs.Shard != uint32(i) {
			return nil, corruptBackup("the header's shard %d is numbered %d", i, bs.Shard)
		}
		start := cr.n
		ss, err := readShardStream(cr, func(key, value []byte) error {
			if each != nil {
				return each(bs.Shard, key, value)
			}
			return nil
		})
		if err != nil {
			if errors.Is(err, errBadSnapshot) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil, corruptBackup("shard %d: %v", bs.Shard, err)
			}
			return nil, err
		}
		ss.BackupShard = bs
		ss.Bytes = cr.n - start
		out.Shards = append(out.Shards, ss)
	}
	rest, err := io.ReadAll(cr)
	if err != nil {
		return nil, fmt.Errorf("statemachine: read backup: %w", err)
	}
	if len(rest) >= backupAlign || len(bytes.Trim(rest, "\x00")) > 0 {
		return nil, corruptBackup("%d unexpected bytes after the last shard", len(rest))
	}
	return out, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// readShardStream reads one shard's snapshot stream (SaveSnapshot's
// format) from r, checks it and hands each record to each.
func readShardStream(r *countingReader, each func(key, value []byte) error) (BackupShardSummary, error) {
	var out BackupShardSummary
	h := crc32.New(crcTable)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(r, magic); err != nil {
		return out, fmt.Errorf("%w: %v", errBadSnapshot, err)
	}
	if string(magic) != snapshotMagic {
		return out, fmt.Errorf("%w: bad magic %q", errBadSnapshot, magic)
	}
	h.Write(magic)
	var n [binary.MaxVarintLen64]byte
	field := func() ([]byte, error) {
		l, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errBadSnapshot, err)
		}
		h.Write(n[:binary.PutUvarint(n[:], l)])
		if l > 1<<30 {
			return nil, fmt.Errorf("%w: a record of %d bytes", errBadSnapshot, l)
		}
		b := make([]byte, l)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("%w: %v", errBadSnapshot, err)
		}
		h.Write(b)
		return b, nil
	}
	var lastKey []byte
	for {
		k, err := field()
		if err != nil {
			return out, err
		}
		if len(k) == 0 {
			break
		}
		v, err := field()
		if err != nil {
			return out, err
		}
		if ek, tomb, ok := mvcc.SnapshotDataVersion(k, v); ok {
			out.Versions++
			if !bytes.Equal(ek, lastKey) { // the key's newest version
				lastKey = append(lastKey[:0], ek...)
				if !tomb {
					out.Keys++
				}
			}
		} else if len(k) == 9 && k[0] == mvcc.TagLease {
			out.Leases++
		}
		if err := each(k, v); err != nil {
			return out, err
		}
	}
	want := h.Sum32()
	var crc [4]byte
	if _, err := io.ReadFull(r, crc[:]); err != nil {
		return out, fmt.Errorf("%w: %v", errBadSnapshot, err)
	}
	if binary.BigEndian.Uint32(crc[:]) != want {
		return out, fmt.Errorf("%w: CRC-32C mismatch", errBadSnapshot)
	}
	return out, nil
}

// ErrDataDirNotEmpty is returned by RestoreBackup for a directory that
// already holds a member's state.
var ErrDataDirNotEmpty = errors.New("statemachine: the state directory is not empty")

// RestoreBackup writes the state of every shard of the backup in r into a
// new store in dir (which must not exist or be empty), for a member of a
// new cluster: every key with its history, lease (its TTL starts again
// when the member's lessor loads it), primitive state, exactly-once
// record and the auth store, as the backup holds them, but
//
//   - each shard's applied index is 0: the new cluster's Raft log starts
//     at 1 and applies its entries on top of the restored state (the
//     revisions, the lease counter and the exactly-once clock go on from
//     the backup's);
//   - the cluster identity, the member registry and the alarms are left
//     out: the new cluster draws a new identity, its members publish
//     themselves, and each raises its own alarms (an alarm of the old
//     cluster names one of its members).
//
// Every member of the new cluster restores the same backup, so all start
// from the same state. The backup is verified whole before anything is
// written.
func RestoreBackup(r io.ReaderAt, size int64, dir string, cfg Config) (*BackupSummary, error) {
	sum, err := ReadBackup(r, size, nil)
	if err != nil {
		return nil, err
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrDataDirNotEmpty, dir)
	}
	st, err := OpenStore(dir, cfg)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	db := st.db
	b := db.NewBatch()
	defer func() { _ = b.Close() }()
	limit := st.cfg.MaxBatchBytes
	var key []byte
	_, err = ReadBackup(r, size, func(shard uint32, k, v []byte) error {
		space := mvcc.NewSpace(shard)
		key = append(append(key[:0], space.Lower()...), k...)
		switch {
		case bytes.Equal(key, space.ClusterKey()), bytes.Equal(key, space.RestoringKey()):
			return nil
		case k[0] == mvcc.TagMember, k[0] == mvcc.TagAlarm:
			return nil
		case bytes.Equal(key, space.MetaKey()):
			m, err := decodeMeta(v)
			if err != nil {
				return err
			}
			m.applied = 0
			v = m.encode()
		}
		if len(b.Repr()) >= limit {
			if err := db.Apply(b, pebble.NoSync); err != nil {
				return err
			}
			_ = b.Close()
			b = db.NewBatch()
		}
		return b.Set(key, v, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("statemachine: restore: %w", err)
	}
	if err := db.Apply(b, pebble.Sync); err != nil {
		return nil, fmt.Errorf("statemachine: restore: %w", err)
	}
	return sum, st.Close()
}

// OpenBackupFile opens the backup at path for ReadBackup or RestoreBackup.
func OpenBackupFile(path string) (*os.File, int64, error) {
	f, err := os.Open(filepath.Clean(path))
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}
