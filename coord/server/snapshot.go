package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lni/dragonboat/v3"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine"
)

// Backup and restore (README "Backup and restore").
//
// Save: the snapshot call (wire.MethodSnapshot, both doors) makes, for
// each shard in turn, a linearizable read barrier (ReadIndex, so the
// member's replica has applied everything committed before the call),
// then takes a Pebble snapshot of the shard (statemachine.PrepareBackup;
// it waits while a compaction is committing its parts). Once every shard
// is held, it streams the backup file (statemachine.WriteBackup) in
// messages of wire.SnapshotChunk bytes; the door's flow control paces it.
// Each shard's part is that shard at one applied index; the shards are
// not one atomic cut.
//
// Restore (Restore, `coord snapshot restore`): each member of the new
// cluster gets a data directory whose store holds the backup's state at
// applied index 0, without the old cluster identity and member registry
// (statemachine.RestoreBackup), and a restore marker (restoreMarkerFile).
// Its Raft log starts empty; every member applies the same log on top of
// the same restored state. On its first start the member checks the
// marker's shard count against its own, then asks Dragonboat for a Raft
// snapshot of each shard with its log compacted behind it
// (runRestoredCompaction): until then a member added later would be sent
// the log from index 1 instead of a snapshot and miss the restored state.
// The new cluster draws a new identity (identity.go), and each lease's
// TTL starts again from when the member loaded it (the lessor's reset).

// restoreMarkerFile, in a data directory, says that it was made by
// Restore and from what.
const restoreMarkerFile = "restore.json"

// restoreMarker is the content of restoreMarkerFile.
type restoreMarker struct {
	Shards      int    `json:"shards"`
	FromCluster uint64 `json:"from_cluster"`
	FromMember  string `json:"from_member"`
	SHA256      string `json:"sha256"`
	// Compacted is set once every shard's Raft log was compacted behind
	// a snapshot (runRestoredCompaction).
	Compacted bool `json:"compacted"`
}

// ErrRestoreTarget is returned by Restore for a data directory it will not
// restore into (one that holds anything).
var ErrRestoreTarget = errors.New("server: restore needs a new, empty data directory")

// RestoreConfig is what Restore needs: the backup file, the new member's
// data directory and its place in the new cluster.
type RestoreConfig struct {
	Backup         string // the backup file
	DataDir        string // the member's data directory, new or empty
	Name           string // the member's name, one of InitialCluster's
	InitialCluster string // the new cluster, "n1=host:port,..."
}

// Restore builds a new member's data directory from a backup (see the
// top of this file); the member is then started with `coord serve` and
// the same --name, --initial-cluster and --shards (the backup's shard
// count). The backup is verified whole first; a corrupt one is an error
// matching statemachine.ErrCorruptBackup and nothing is written.
func Restore(rc RestoreConfig) (*statemachine.BackupSummary, error) {
	ms, err := ParseInitialCluster(rc.InitialCluster)
	if err != nil {
		return nil, fmt.Errorf("initial cluster: %w", err)
	}
	found := false
	for _, m := range ms {
		found = found || m.Name == rc.Name
	}
	if !found {
		return nil, fmt.Errorf("member %q is not in the initial cluster %q", rc.Name, rc.InitialCluster)
	}
	if rc.DataDir == "" {
		return nil, fmt.Errorf("%w: no data directory given", ErrRestoreTarget)
	}
	if ents, err := os.ReadDir(rc.DataDir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%w: %s is not empty", ErrRestoreTarget, rc.DataDir)
	}
	f, size, err := statemachine.OpenBackupFile(rc.Backup)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	created := false
	if _, err := os.Stat(rc.DataDir); errors.Is(err, os.ErrNotExist) {
		created = true
	}
	sum, err := statemachine.RestoreBackup(f, size, filepath.Join(rc.DataDir, "state"), smConfig(DefaultConfig()))
	if err == nil {
		err = writeRestoreMarker(rc.DataDir, &restoreMarker{Shards: len(sum.Shards), FromCluster: sum.Header.ClusterID,
			FromMember: sum.Header.Member, SHA256: sum.SHA256})
	}
	if err != nil {
		if created {
			_ = os.RemoveAll(rc.DataDir)
		} else {
			_ = os.RemoveAll(filepath.Join(rc.DataDir, "state"))
			_ = os.Remove(filepath.Join(rc.DataDir, restoreMarkerFile))
		}
		return nil, err
	}
	return sum, nil
}

func writeRestoreMarker(dir string, m *restoreMarker) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, restoreMarkerFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, restoreMarkerFile))
}

// readRestoreMarker reads the data directory's restore marker, nil when
// there is none.
func readRestoreMarker(dir string) (*restoreMarker, error) {
	b, err := os.ReadFile(filepath.Join(dir, restoreMarkerFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m restoreMarker
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", restoreMarkerFile, err)
	}
	return &m, nil
}

// checkRestored refuses to start a member restored from a backup of
// another shard count than its own (its keys would be routed to the
// wrong shards).
func checkRestored(cfg Config) (*restoreMarker, error) {
	m, err := readRestoreMarker(cfg.DataDir)
	if err != nil || m == nil {
		return nil, err
	}
	if m.Shards != cfg.Shards {
		return nil, fmt.Errorf("data directory %s was restored from a backup of %d shards: start it with --shards %d (it was given %d)",
			cfg.DataDir, m.Shards, m.Shards, cfg.Shards)
	}
	return m, nil
}

// runRestoredCompaction asks for a Raft snapshot of every shard with its
// log compacted behind it, once, on a restored member's first start (see
// the top of this file), then records it in the marker.
func (s *Core) runRestoredCompaction(m *restoreMarker) func(stop <-chan struct{}) {
	return func(stop <-chan struct{}) {
		for shard := 0; shard < len(s.shards); shard++ {
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				// Index 0: Dragonboat took none (nothing new applied). The
				// log of a new cluster starts with one configuration entry
				// per initial member, which every initial member writes
				// itself: the snapshot must come after them (after the
				// first leader's entry), or an initial member that starts
				// empty could still be sent the log from there.
				idx, err := s.nh.SyncRequestSnapshot(ctx, clusterID(uint32(shard)),
					dragonboat.SnapshotOption{OverrideCompactionOverhead: true, CompactionOverhead: 0})
				cancel()
				if err == nil && idx > uint64(len(s.names)) {
					s.log.Debug("restored member: raft snapshot taken, log compacted", "shard", shard, "index", idx)
					break
				}
				s.log.Debug("restored member: raft snapshot not taken yet", "shard", shard, "err", err)
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
		}
		m.Compacted = true
		if err := writeRestoreMarker(s.cfg.DataDir, m); err != nil {
			s.log.Warn("restored member: cannot update the restore marker", "err", err)
			return
		}
		s.log.Info("restored member: every shard's raft log compacted behind a snapshot")
	}
}

// snapshot streams a backup of every shard as this member has it (see
// the top of this file), and answers the file's size.
func (s *Core) snapshot(ctx context.Context, _ *Caller, _ *wire.SnapshotRequest, st Stream[wire.SnapshotResponse]) (*wire.SnapshotResponse, *wire.Error) {
	hdr := &statemachine.BackupHeader{ClusterID: s.ClusterID(), Member: s.cfg.Name, Created: time.Now().UnixMilli()}
	parts := make([]statemachine.BackupPart, 0, len(s.shards))
	defer func() {
		for _, p := range parts {
			_ = p.Snap.Close()
		}
	}()
	for i := range s.shards {
		shard := uint32(i)
		snap, info, werr := s.prepareBackup(ctx, shard)
		if werr != nil {
			return nil, werr
		}
		hdr.Shards = append(hdr.Shards, info)
		parts = append(parts, statemachine.BackupPart{Shard: s.shards[shard], Snap: snap})
	}
	w := &snapshotWriter{st: st, ctx: ctx, stopping: s.Stopping}
	n, err := statemachine.WriteBackup(w, hdr, parts)
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		switch {
		case s.Stopping():
			return nil, wire.Errorf(wire.CodeUnavailable, "member %s is stopping", s.cfg.Name)
		case ctx.Err() != nil || errors.Is(err, errConnClosed):
			return nil, wire.Errorf(wire.CodeCanceled, "snapshot: the caller went away")
		}
		return nil, wire.Errorf(wire.CodeUnavailable, "snapshot: %v", err)
	}
	s.log.Info("backup streamed", "bytes", n, "shards", len(parts))
	return &wire.SnapshotResponse{Size: n}, nil
}

// prepareBackup takes shard's snapshot for a backup after a linearizable
// read barrier, waiting out a compaction in progress.
func (s *Core) prepareBackup(ctx context.Context, shard uint32) (*statemachine.Snapshot, statemachine.BackupShard, *wire.Error) {
	for {
		if _, werr := s.read(ctx, shard, &wire.RangeRequest{Key: []byte{0}, CountOnly: true}); werr != nil {
			return nil, statemachine.BackupShard{}, werr
		}
		snap, info, busy, err := s.shards[shard].PrepareBackup()
		if err != nil {
			return nil, info, wire.Errorf(wire.CodeUnavailable, "snapshot of shard %d: %v", shard, err)
		}
		if !busy {
			return snap, info, nil
		}
		select {
		case <-ctx.Done():
			return nil, info, wire.Errorf(wire.CodeTimeout, "snapshot of shard %d: a compaction did not end in time", shard)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// snapshotWriter cuts the backup into messages of wire.SnapshotChunk
// bytes. It fails once the call's context ends or the member begins to
// stop, so that a stream nobody reads any more (a cancelled call whose
// connection lives on) or a stopping member does not go on sending.
type snapshotWriter struct {
	st       Stream[wire.SnapshotResponse]
	ctx      context.Context
	stopping func() bool
	buf      []byte
}

func (w *snapshotWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if w.buf == nil {
			w.buf = make([]byte, 0, wire.SnapshotChunk)
		}
		k := min(len(p), wire.SnapshotChunk-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == wire.SnapshotChunk {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *snapshotWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if w.stopping() {
		return errors.New("the member is stopping")
	}
	b := w.buf
	w.buf = nil
	return w.st.Send(&wire.SnapshotResponse{Blob: b})
}
