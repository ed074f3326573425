package election

import (
	"github.com/coord-io/coord/election/electionrules"
	"github.com/coord-io/coord/locks"
)

// The replicated rules of elections live in package electionrules (which
// the state machine registers, without linking this client package).
// These are the names users, the server and tests already call.

// Root is the prefix of every election's state (see Prefix).
const Root = electionrules.Root

// ValidateName checks an election name (see electionrules.ValidateName).
func ValidateName(name string) error { return electionrules.ValidateName(name) }

// Prefix returns the prefix of every key of election name:
// "\x00coord/elect/{NAME}/".
func Prefix(name string) []byte { return electionrules.Prefix(name) }

// LeaderKey returns the key of election name's leader record.
func LeaderKey(name string) []byte { return electionrules.LeaderKey(name) }

// DecodeLeader decodes the value of a leader record (LeaderKey).
func DecodeLeader(value []byte) (locks.Holder, error) { return electionrules.DecodeLeader(value) }
