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
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{DedupRetention: 1_000_000}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.DedupRetention == 0 {
		return fmt.Errorf("statemachine: DedupRetention must be at least 1 entry (default %d)", DefaultConfig().DedupRetention)
	}
	return nil
}
