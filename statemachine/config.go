package statemachine

import (
	"fmt"
	"time"
)

// Config tunes the state machine. Every member of a cluster must use the
// same Config: it changes what apply does (which exactly-once records are
// dropped, and when), so members configured differently would diverge.
type Config struct {
	// DedupRetention is how long an idle client's exactly-once record is
	// kept, on the state machine's clock (the highest time stamped on a
	// command by a proposing member). A write first sent more than half of
	// it before its client's record was created (because the shard never
	// saw the client, or dropped its record) is answered
	// wire.CodeOutcomeUnknown and not applied: it may have been applied
	// under the dropped record. Clients must therefore stop retrying well
	// within half of it (the Go client stops after Config.RetryWindow, 1
	// minute by default).
	//
	// This holds if, for any two members, the offset between their wall
	// clocks plus the time a request takes to reach a member is under
	// half the retention (5 minutes by default); clock rates do not
	// matter. (A member whose clock is further ahead advances the state
	// machine's clock, so records are dropped early; late retries proposed
	// through the other members get CodeOutcomeUnknown, but one proposed
	// through that member looks recent and may be applied again.) At
	// least 1 ms; whole milliseconds.
	DedupRetention time.Duration

	// LatestCacheKeys bounds, per shard, the in-memory cache of keys'
	// latest versions that spares the write path a Pebble lookup of the
	// previous version of each key it writes (see mvcc.LatestCache). Each
	// cached key costs about its length plus up to mvcc.MaxCachedValue
	// bytes of value plus ~150 bytes, in every shard of the node (a full
	// cache of the default size with 256-byte values is ~110 MB of heap).
	// 0 disables the cache. Unlike the other fields, it changes no result:
	// members may differ here.
	LatestCacheKeys int

	// MaxBatchBytes bounds the Pebble batches that a snapshot restore and
	// a compaction commit (a batch goes over it by at most one record):
	// both stream through a shard of any size in parts of about this
	// size instead of one batch (Pebble refuses batches of 4 GiB, and
	// memory runs out first). 0 means DefaultMaxBatchBytes. Like
	// LatestCacheKeys it changes no result: members may differ here.
	MaxBatchBytes int
}

// DefaultMaxBatchBytes is the default of Config.MaxBatchBytes.
const DefaultMaxBatchBytes = 8 << 20

// DefaultLatestCacheKeys is the default of Config.LatestCacheKeys: at most
// ~110 MB of heap per shard with 256-byte values, ~45 MB with small ones.
// Keys beyond it still work, at the cost of a Pebble seek per write.
const DefaultLatestCacheKeys = 256 << 10

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{DedupRetention: DefaultDedupRetention, LatestCacheKeys: DefaultLatestCacheKeys, MaxBatchBytes: DefaultMaxBatchBytes}
}

// DefaultDedupRetention is the default of Config.DedupRetention.
const DefaultDedupRetention = 10 * time.Minute

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.DedupRetention < time.Millisecond {
		return fmt.Errorf("statemachine: DedupRetention must be at least 1ms, not %v (it is a duration; default %v)", c.DedupRetention, DefaultDedupRetention)
	}
	if c.LatestCacheKeys < 0 {
		return fmt.Errorf("statemachine: LatestCacheKeys must not be negative (0 disables the cache; default %d)", DefaultLatestCacheKeys)
	}
	if c.MaxBatchBytes < 0 {
		return fmt.Errorf("statemachine: MaxBatchBytes must not be negative (0 means the default, %d)", DefaultMaxBatchBytes)
	}
	return nil
}
