package statemachine

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/coord-io/coord/coord/wire"
)

// backupFixture is a store of two shards with data: shard 0 holds the
// cluster identity, a member record, a raised alarm, keys (one deleted),
// a lease with a key attached; shard 1 keys only.
func backupFixture(t *testing.T) (*Store, []*harness) {
	t.Helper()
	st, err := OpenStore(t.TempDir(), DefaultConfig())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	var hs []*harness
	for i := uint32(0); i < 2; i++ {
		sh := st.Shard(i)
		_, err := sh.Open()
		require.NoError(t, err)
		hs = append(hs, &harness{t: t, st: st, sh: sh})
	}
	h0, h1 := hs[0], hs[1]
	h0.apply1(&Command{Op: OpClusterIdentity, req: &ClusterIdentity{ID: 42}})
	h0.apply1(&Command{Op: OpMemberPublish, req: &MemberPublish{Record: MemberRecord{Name: "n1", NodeID: 1, Peer: "127.0.0.1:1"}}})
	h0.put("a", "1")
	h0.put("a", "2")
	h0.put("b", "x")
	h0.del("b", "")
	g := h0.grant(30)
	decodeOK(t, h0.apply1(leasePut("c", "leased", g.ID)), &wire.PutResponse{})
	h0.apply1(&Command{Op: OpAlarmActivate, req: &AlarmActivate{Alarm: wire.Alarm{Member: "n1", Type: wire.AlarmNoSpace}}})
	h1.put("z", "9")
	return st, hs
}

// writeFixtureBackup backs up the fixture's shards.
func writeFixtureBackup(t *testing.T, hs []*harness) []byte {
	t.Helper()
	hdr := &BackupHeader{ClusterID: 42, Member: "n1", Created: 1000}
	var parts []BackupPart
	for _, h := range hs {
		snap, info, busy, err := h.sh.PrepareBackup()
		require.NoError(t, err)
		require.False(t, busy)
		hdr.Shards = append(hdr.Shards, info)
		parts = append(parts, BackupPart{Shard: h.sh, Snap: snap})
	}
	var buf bytes.Buffer
	n, err := WriteBackup(&buf, hdr, parts)
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), n)
	return buf.Bytes()
}

// TestBackupRoundTrip: a backup's header and summary describe the
// shards it was taken from; its size is what etcdctl checks (32 modulo
// 512) and its last 32 bytes are the SHA-256 of the rest; a store
// restored from it serves the same keys, revisions and leases, at applied
// index 0, without the cluster identity or the member registry, and goes
// on applying from index 1 at the next revision.
func TestBackupRoundTrip(t *testing.T) {
	_, hs := backupFixture(t)
	b := writeFixtureBackup(t, hs)
	require.Equal(t, int64(32), int64(len(b))%512, "etcdctl's check: size %% 512 == 32")
	sum := sha256.Sum256(b[:len(b)-32])
	require.Equal(t, sum[:], b[len(b)-32:])

	s, err := ReadBackup(bytes.NewReader(b), int64(len(b)), nil)
	require.NoError(t, err)
	require.Equal(t, uint64(42), s.Header.ClusterID)
	require.Equal(t, "n1", s.Header.Member)
	require.Equal(t, BackupVersion, s.Header.Version)
	require.Len(t, s.Shards, 2)
	cur0, _ := hs[0].sh.Revision()
	cur1, _ := hs[1].sh.Revision()
	require.Equal(t, cur0, s.Shards[0].Revision)
	require.Equal(t, hs[0].sh.AppliedIndex(), s.Shards[0].AppliedIndex)
	require.Equal(t, cur1, s.Shards[1].Revision)
	require.Equal(t, int64(2), s.Shards[0].Keys, "a and c live, b deleted")
	require.Equal(t, int64(5), s.Shards[0].Versions, "a twice, b and its tombstone, c")
	require.Equal(t, int64(1), s.Shards[0].Leases)
	require.Equal(t, int64(1), s.Shards[1].Keys)
	require.Equal(t, int64(len(b)), s.Size)

	dir := filepath.Join(t.TempDir(), "state")
	_, err = RestoreBackup(bytes.NewReader(b), int64(len(b)), dir, DefaultConfig())
	require.NoError(t, err)
	st, err := OpenStore(dir, DefaultConfig())
	require.NoError(t, err)
	defer st.Close()
	r0 := &harness{t: t, st: st, sh: st.Shard(0)}
	idx, err := r0.sh.Open()
	require.NoError(t, err)
	require.Zero(t, idx, "a restored shard starts at applied index 0")
	require.Zero(t, r0.sh.ClusterID(), "the cluster identity is left out")
	require.Empty(t, r0.sh.Members(), "the member registry is left out")
	require.Empty(t, r0.sh.Alarms(), "the alarms are left out")
	cur, _ := r0.sh.Revision()
	require.Equal(t, cur0, cur)
	require.Equal(t, "2", string(r0.get("a", 0).Value))
	require.Nil(t, r0.get("b", 0))
	require.Equal(t, "1", string(r0.get("a", r0.get("a", 0).CreateRevision).Value), "history is kept (the first put, at a's create revision)")
	leases, err := r0.sh.Leases()
	require.NoError(t, err)
	require.Len(t, leases, 1)
	require.Equal(t, int64(30), leases[0].TTL)
	keys, err := r0.sh.LeaseKeys(leases[0].ID)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.Equal(t, "c", string(keys[0]))
	// The new cluster's log starts at 1.
	pr := r0.put("d", "new")
	require.Equal(t, cur0+1, pr.Header.Revision)
	require.Equal(t, uint64(1), r0.sh.AppliedIndex())

	r1 := &harness{t: t, st: st, sh: st.Shard(1)}
	_, err = r1.sh.Open()
	require.NoError(t, err)
	require.Equal(t, "9", string(r1.get("z", 0).Value))
}

// TestBackupDeterministic: the same state backs up to the same bytes
// (but the header's time).
func TestBackupDeterministic(t *testing.T) {
	_, hs := backupFixture(t)
	require.Equal(t, writeFixtureBackup(t, hs), writeFixtureBackup(t, hs))
}

// TestBackupCorrupt: a truncated, damaged or foreign file is refused with
// an error matching ErrCorruptBackup (and ErrCorruption) that says why,
// and RestoreBackup writes nothing from it.
func TestBackupCorrupt(t *testing.T) {
	_, hs := backupFixture(t)
	good := writeFixtureBackup(t, hs)
	resum := func(b []byte) []byte {
		s := sha256.Sum256(b[:len(b)-32])
		copy(b[len(b)-32:], s[:])
		return b
	}
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	// The header's length and where the first shard stream starts.
	hlen, n := binary.Uvarint(good[len(backupMagic):])
	shardStart := len(backupMagic) + n + int(hlen)
	badHeader := func(h BackupHeader) []byte {
		hb, err := msgpack.Marshal(&h)
		require.NoError(t, err)
		b := append([]byte(backupMagic), binary.AppendUvarint(nil, uint64(len(hb)))...)
		b = append(b, hb...)
		b = append(b, good[shardStart:len(good)-32]...)
		for len(b)%512 != 0 {
			b = append(b, 0)
		}
		return resum(append(b, make([]byte, 32)...))
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"truncated by one byte", good[:len(good)-1], "truncated"},
		{"truncated by 512 bytes", mod(func(b []byte) []byte { return b[:len(b)-512] }), ""},
		{"a flipped bit", mod(func(b []byte) []byte { b[shardStart+20] ^= 1; return b }), "SHA-256 checksum mismatch"},
		{"not a backup", mod(func(b []byte) []byte { copy(b, "etcdbolt"); return b }), "not a Coord backup"},
		{"a flipped bit, SHA-256 fixed", mod(func(b []byte) []byte { b[shardStart+20] ^= 1; return resum(b) }), "shard 0"},
		{"bad header, SHA-256 fixed", mod(func(b []byte) []byte { b[len(backupMagic)+n] = 0xc1; return resum(b) }), "header"},
		{"future version", badHeader(BackupHeader{Version: 9, Shards: []BackupShard{{}}}), "version 9"},
		{"one shard missing", badHeader(BackupHeader{Version: 1, Shards: []BackupShard{{}, {Shard: 1}, {Shard: 2}}}), "shard 2"},
		{"garbage after the shards", mod(func(b []byte) []byte { b[len(b)-33] = 7; return resum(b) }), "unexpected bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.b)%512 == 32 {
				require.NotEqual(t, good, tc.b)
			}
			_, err := ReadBackup(bytes.NewReader(tc.b), int64(len(tc.b)), nil)
			require.ErrorIs(t, err, ErrCorruptBackup)
			require.ErrorIs(t, err, ErrCorruption)
			require.Contains(t, err.Error(), tc.want)
			dir := filepath.Join(t.TempDir(), "state")
			_, err = RestoreBackup(bytes.NewReader(tc.b), int64(len(tc.b)), dir, DefaultConfig())
			require.ErrorIs(t, err, ErrCorruptBackup)
			require.NoDirExists(t, dir, "nothing restored from a corrupt backup")
		})
	}
}

// TestRestoreRefusesUsedDir: a directory that holds anything is not
// restored into.
func TestRestoreRefusesUsedDir(t *testing.T) {
	st, hs := backupFixture(t)
	_ = st
	b := writeFixtureBackup(t, hs)
	dir := t.TempDir()
	_, err := RestoreBackup(bytes.NewReader(b), int64(len(b)), dir, DefaultConfig())
	require.NoError(t, err)
	_, err = RestoreBackup(bytes.NewReader(b), int64(len(b)), dir, DefaultConfig())
	require.ErrorIs(t, err, ErrDataDirNotEmpty)
}

// TestPrepareBackupWaitsForCompaction: a shard whose compaction is
// committing its parts (the compacting marker) is not backed up half
// compacted: PrepareBackup answers busy until the marker is gone.
func TestPrepareBackupWaitsForCompaction(t *testing.T) {
	st, hs := backupFixture(t)
	sh := hs[0].sh
	require.NoError(t, st.db.Set(sh.space.CompactingKey(), binary.BigEndian.AppendUint64(nil, 2), nil))
	snap, _, busy, err := sh.PrepareBackup()
	require.NoError(t, err)
	require.True(t, busy)
	require.Nil(t, snap)
	require.NoError(t, st.db.Delete(sh.space.CompactingKey(), nil))
	snap, info, busy, err := sh.PrepareBackup()
	require.NoError(t, err)
	require.False(t, busy)
	require.NoError(t, snap.Close())
	cur, _ := sh.Revision()
	require.Equal(t, cur, info.Revision)
}
