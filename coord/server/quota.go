package server

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"slices"
	"time"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine"
)

// The space quota (Config.QuotaBackendBytes) and alarms, as etcd has
// them. The member measures its own store (statemachine.Store.DiskSize:
// tables and live WAL of its state, not its Raft log) every
// QuotaCheckInterval in runQuota; past the quota it proposes a NOSPACE
// alarm in its own name to every shard that does not hold it yet. The
// alarm is replicated state (statemachine/alarms.go): every replica of
// every shard then refuses, in apply and so alike, the commands that grow
// the store (put, txn with a put, lease grant, lock, semaphore acquire,
// campaign, proclaim, enqueue, dequeue, barrier hold and enter) with
// CodeNoSpace, while reads, deletes, compaction, lease revokes and the
// releases still work. An operator frees space (delete, compact, then
// defrag, which compacts the member's Pebble files), then disarms the
// alarm (maintenance.alarm, AlarmDeactivate, to every shard). A member
// still over its quota raises its alarm again at its next check.

// quota is the member's effective quota in bytes, 0 for none.
func (s *Core) quota() int64 {
	switch q := s.cfg.QuotaBackendBytes; {
	case q == 0:
		return DefaultQuotaBackendBytes
	case q < 0:
		return 0
	default:
		return q
	}
}

// runQuota checks the store's size against the quota periodically.
func (s *Core) runQuota(stop <-chan struct{}) {
	interval := s.cfg.QuotaCheckInterval
	if interval <= 0 {
		interval = DefaultQuotaCheckInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		s.checkQuota()
	}
}

// checkQuota raises the member's NOSPACE alarm in every shard that does
// not hold it (as the local replica knows) when the store is over the
// quota.
func (s *Core) checkQuota() {
	quota := s.quota()
	if quota == 0 || s.store == nil {
		return
	}
	size := s.store.DiskSize()
	if size <= quota {
		return
	}
	al := wire.Alarm{Member: s.cfg.Name, Type: wire.AlarmNoSpace}
	for i, sh := range s.shards {
		if slices.Contains(sh.Alarms(), al) {
			continue
		}
		s.log.Warn("the store is over its space quota: raising a NOSPACE alarm; writes that grow the store are refused until it is disarmed (coord alarm disarm)",
			"shard", i, "db-size", size, "quota", quota)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, werr := s.propose(ctx, uint32(i), statemachine.NewCommand(statemachine.OpAlarmActivate, &statemachine.AlarmActivate{Alarm: al}))
		cancel()
		if werr != nil {
			s.log.Warn("could not raise the NOSPACE alarm; retrying at the next check", "shard", i, "err", werr)
		}
	}
}

// Alarms returns the alarms raised in any shard, as this member's
// replicas know them, sorted by type then member.
func (s *Core) Alarms() []wire.Alarm {
	var out []wire.Alarm
	for _, sh := range s.shards {
		for _, al := range sh.Alarms() {
			if !slices.Contains(out, al) {
				out = append(out, al)
			}
		}
	}
	slices.SortFunc(out, func(x, y wire.Alarm) int {
		if x.Type != y.Type {
			return int(x.Type) - int(y.Type)
		}
		switch {
		case x.Member < y.Member:
			return -1
		case x.Member > y.Member:
			return 1
		}
		return 0
	})
	return out
}

// alarmCall answers wire.MethodAlarm: lists the alarms (after catching
// every shard up, so the list is linearizable per shard), or raises or
// disarms one in every shard.
func (s *Core) alarmCall(ctx context.Context, _ *Caller, req *wire.AlarmRequest) (*wire.AlarmResponse, *wire.Error) {
	var cmd func() *statemachine.Command
	switch req.Action {
	case wire.AlarmGet:
		if _, werr := fanOut(len(s.shards), func(shard uint32) (struct{}, *wire.Error) {
			return struct{}{}, s.catchUp(ctx, shard)
		}); werr != nil {
			return nil, werr
		}
		out := &wire.AlarmResponse{Alarms: s.Alarms()}
		s.fillHeader(&out.Header, 0)
		return out, nil
	case wire.AlarmActivate:
		al := wire.Alarm{Member: req.Member, Type: req.Type}
		if al.Member == "" {
			al.Member = s.cfg.Name
		}
		if al.Type != wire.AlarmNoSpace {
			return nil, wire.Errorf(wire.CodeInvalid, "alarm: only a NOSPACE alarm can be raised, not %s", al.Type)
		}
		cmd = func() *statemachine.Command {
			return statemachine.NewCommand(statemachine.OpAlarmActivate, &statemachine.AlarmActivate{Alarm: al})
		}
	case wire.AlarmDeactivate:
		cmd = func() *statemachine.Command {
			return statemachine.NewCommand(statemachine.OpAlarmDeactivate, &statemachine.AlarmDeactivate{Member: req.Member, Type: req.Type})
		}
	default:
		return nil, wire.Errorf(wire.CodeInvalid, "alarm: unknown action %d (0 list, 1 raise, 2 disarm)", req.Action)
	}
	// Idempotent commands (no exactly-once tag): a retry after a failure
	// in some shard sets or removes the same records.
	parts, werr := fanOut(len(s.shards), func(shard uint32) (*wire.AlarmResponse, *wire.Error) {
		var resp wire.AlarmResponse
		if werr := s.proposeDecode(ctx, shard, cmd(), &resp, &resp.Header); werr != nil {
			return nil, werr
		}
		return &resp, nil
	})
	if werr != nil {
		return nil, werr
	}
	out := &wire.AlarmResponse{Header: parts[0].Header}
	for _, p := range parts {
		for _, al := range p.Alarms {
			if !slices.Contains(out.Alarms, al) {
				out.Alarms = append(out.Alarms, al)
			}
		}
	}
	if req.Action == wire.AlarmDeactivate {
		s.log.Info("alarms disarmed", "alarms", out.Alarms)
	}
	return out, nil
}

// defragCall answers wire.MethodDefrag: it compacts this member's store
// files and reports their size before and after.
func (s *Core) defragCall(context.Context, *Caller, *wire.DefragRequest) (*wire.DefragResponse, *wire.Error) {
	start := time.Now()
	before, after, err := s.store.Defragment()
	if err != nil {
		return nil, wire.Errorf(wire.CodeUnknown, "defrag of member %s: %v", s.cfg.Name, err)
	}
	took := time.Since(start)
	s.log.Info("defragmented the store", "db-size-before", before, "db-size-after", after, "took", took)
	return &wire.DefragResponse{Member: s.cfg.Name, SizeBefore: before, SizeAfter: after, TookMicros: took.Microseconds()}, nil
}

// hashCall answers wire.MethodHash: a hash of each shard's whole store on
// this member, with the revision of the state it hashed, and one hash of
// them all.
func (s *Core) hashCall(_ context.Context, _ *Caller, _ *wire.HashRequest) (*wire.HashResponse, *wire.Error) {
	out := &wire.HashResponse{Member: s.cfg.Name}
	all := fnv.New64a()
	for i, sh := range s.shards {
		h, rev, err := sh.HashAt()
		if err != nil {
			return nil, wire.Errorf(wire.CodeUnknown, "hash of shard %d on member %s: %v", i, s.cfg.Name, err)
		}
		out.Shards = append(out.Shards, h)
		out.Revisions = append(out.Revisions, rev)
		_ = binary.Write(all, binary.BigEndian, h)
	}
	out.Hash = all.Sum64()
	return out, nil
}
