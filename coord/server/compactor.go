package server

import (
	"context"
	"time"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine"
	"github.com/coord-io/coord/statemachine/mvcc"
)

// revSample is a shard's revision at a moment.
type revSample struct {
	at  time.Time
	rev int64
}

// runCompactor is periodic auto-compaction, as etcd's: every tenth of the
// retention each member samples every shard's revision; the leader of a
// shard compacts it to the newest revision sampled at least the retention
// ago, so at least the retention's worth of history stays readable.
func (s *Core) runCompactor(stop <-chan struct{}) {
	retention := s.cfg.AutoCompactionRetention
	interval := max(retention/10, 50*time.Millisecond)
	samples := make([][]revSample, len(s.shards))
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := time.Now()
		for i, sh := range s.shards {
			shard := uint32(i)
			cur, compacted := sh.Revision()
			samples[i] = append(samples[i], revSample{now, cur})
			// The newest sample at least the retention old.
			k := -1
			for j, smp := range samples[i] {
				if now.Sub(smp.at) >= retention {
					k = j
				}
			}
			if k < 0 {
				continue
			}
			target := samples[i][k].rev
			samples[i] = samples[i][k:]
			// Nothing is stored at or below a fresh shard's revision
			// (mvcc.InitialRevision): compacting there would drop nothing
			// and refuse watches from it.
			if leader, _ := s.leader(shard); leader != s.cfg.Name || target <= max(compacted, int64(mvcc.InitialRevision)) {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, werr := s.propose(ctx, shard, statemachine.NewCommand(statemachine.OpCompact, &wire.CompactRequest{Revision: target, Shard: shard}))
			cancel()
			if werr != nil && werr.Code != wire.CodeCompacted {
				s.log.Warn("auto-compaction failed", "shard", shard, "revision", target, "err", werr)
			} else if werr == nil {
				s.log.Info("auto-compacted", "shard", shard, "revision", target)
			}
		}
	}
}
