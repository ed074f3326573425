package barrier

import (
	"github.com/coord-io/coord/barrier/barrierrules"
)

// The replicated rules of barriers live in package barrierrules (which
// the state machine registers, without linking this client package).
// These are the names users, the server and tests already call; the key
// layout is described in doc.go.

// Root is the prefix of every barrier's state (see Prefix).
const Root = barrierrules.Root

// MaxNameLen is the longest name of a barrier, in bytes.
const MaxNameLen = barrierrules.MaxNameLen

// ValidateName checks a barrier name (see barrierrules.ValidateName).
func ValidateName(name string) error { return barrierrules.ValidateName(name) }

// Prefix returns the prefix of every key of barrier name.
func Prefix(name string) []byte { return barrierrules.Prefix(name) }

// GateKey returns the key of barrier name's gate record.
func GateKey(name string) []byte { return barrierrules.GateKey(name) }

// ReadyKey returns the key of barrier name's ready record.
func ReadyKey(name string) []byte { return barrierrules.ReadyKey(name) }

// ParticipantPrefix returns the prefix of barrier name's participants.
func ParticipantPrefix(name string) []byte { return barrierrules.ParticipantPrefix(name) }

// ParticipantKey returns the key of the participant of barrier name that
// entered at revision rev.
func ParticipantKey(name string, rev int64) []byte { return barrierrules.ParticipantKey(name, rev) }

// IsParticipantKey reports whether key is a participant key of barrier
// name.
func IsParticipantKey(name string, key []byte) bool { return barrierrules.IsParticipantKey(name, key) }
