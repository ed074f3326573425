package statemachine

import "fmt"

// Config tunes the state machine. Every member of a cluster must use the
// same Config: it changes what apply does (which exactly-once records are
// dropped, and when), so members configured differently would diverge.
type Config struct {
	// DedupRetention is the number of applied log entries after which an
	// idle client's exactly-once record is dropped. A client retrying a
	// write later than that may have it applied twice.
	DedupRetention uint64

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
	return Config{DedupRetention: 1_000_000, LatestCacheKeys: DefaultLatestCacheKeys, MaxBatchBytes: DefaultMaxBatchBytes}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.DedupRetention == 0 {
		return fmt.Errorf("statemachine: DedupRetention must be at least 1 entry (default %d)", DefaultConfig().DedupRetention)
	}
	if c.LatestCacheKeys < 0 {
		return fmt.Errorf("statemachine: LatestCacheKeys must not be negative (0 disables the cache; default %d)", DefaultLatestCacheKeys)
	}
	if c.MaxBatchBytes < 0 {
		return fmt.Errorf("statemachine: MaxBatchBytes must not be negative (0 means the default, %d)", DefaultMaxBatchBytes)
	}
	return nil
}
