// Package corruption holds the one mark of corrupt stored state:
// ErrCorruption. Every error a Coord package returns for replicated or
// persisted data that does not decode or breaks its layout's invariants (a
// record, an exactly-once result, a lease, a queue or lock record, a
// snapshot stream) is marked with it, as Pebble marks its own corruption
// errors, so a caller asks one question — errors.Is(err, ErrCorruption) —
// whatever package found the damage. The marked errors keep their own
// messages and any package sentinels they had.
//
// It is a leaf (standard library only) so that the state machine, the
// store layer (statemachine/mvcc) and the primitives' rules can all
// import it; package statemachine re-exports the sentinel. It holds no
// state and starts no goroutines.
package corruption
