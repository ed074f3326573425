package wire

import "fmt"

// Code is the stable, wire-level classification of an error. Codes never
// change meaning; new ones are only added. The Go client maps each code to
// an exported sentinel error.
type Code uint16

// Error codes. OK (0) means success.
//
// Codes are append-only: exactly-once records persist a write's result,
// its error code included, in the replicated state, so a number never
// changes meaning. Never renumber, reorder or reuse one; give a new code
// the next number at the end of the block (TestCodesPinned checks).
const (
	OK                   Code = 0
	CodeUnknown          Code = 1  // an unexpected server-side failure
	CodeInvalid          Code = 2  // a malformed or meaningless request
	CodeNotFound         Code = 3  // a named thing does not exist
	CodeCompacted        Code = 4  // the requested revision has been compacted
	CodeFutureRevision   Code = 5  // the requested revision is newer than the store
	CodeLeaseNotFound    Code = 6  // the lease does not exist (expired or revoked)
	CodeWrongShard       Code = 7  // a key or lease belongs to another shard
	CodeCrossShardTxn    Code = 8  // a transaction touches keys of more than one shard
	CodeTooLarge         Code = 9  // a key, value, request or transaction over its limit
	CodeTimeout          Code = 10 // the deadline passed; the outcome of a write is unknown
	CodeUnavailable      Code = 11 // no quorum or the member is stopping; try another endpoint
	CodePermissionDenied Code = 12 // the reserved keyspace or an unauthorized call
	CodeCanceled         Code = 13 // the caller cancelled the call
	CodeUnimplemented    Code = 14 // the method is not known to this server
	CodeDuplicate        Code = 15 // a retried request whose first result is gone
	CodeLocked           Code = 16 // a lock is held by someone else
	CodeNotLeader        Code = 17 // the caller is not the leader of an election
	CodeNotHolder        Code = 18 // the caller does not hold the lock
	CodeEmpty            Code = 19 // a queue has no ready item
	CodeNotOwner         Code = 20 // the caller does not prove it owns what it releases (lease, receipt)
	CodeOutcomeUnknown   Code = 21 // a retried write may or may not have been applied; it was not applied again
	CodeClusterMismatch  Code = 22 // the member belongs to another cluster than the one the client talked to
	CodeAlreadyExists    Code = 23 // a user or role of that name exists
	CodeAuthFailed       Code = 24 // wrong or missing credentials, an unknown or expired token
	CodeNoSpace          Code = 25 // a NOSPACE alarm is raised: writes that grow the store are refused
	CodeMemberRemoved    Code = 26 // this member was removed from the cluster
	CodeNotLearner       Code = 27 // a promote of a member that is already a voter
)

var codeNames = map[Code]string{
	OK:                   "ok",
	CodeUnknown:          "unknown",
	CodeInvalid:          "invalid argument",
	CodeNotFound:         "not found",
	CodeCompacted:        "revision compacted",
	CodeFutureRevision:   "future revision",
	CodeLeaseNotFound:    "lease not found",
	CodeWrongShard:       "wrong shard",
	CodeCrossShardTxn:    "cross-shard transaction",
	CodeTooLarge:         "too large",
	CodeTimeout:          "timeout",
	CodeUnavailable:      "unavailable",
	CodePermissionDenied: "permission denied",
	CodeCanceled:         "canceled",
	CodeUnimplemented:    "unimplemented",
	CodeDuplicate:        "duplicate request",
	CodeLocked:           "locked",
	CodeNotLeader:        "not leader",
	CodeNotHolder:        "not holder",
	CodeEmpty:            "empty",
	CodeNotOwner:         "not owner",
	CodeOutcomeUnknown:   "outcome unknown",
	CodeClusterMismatch:  "cluster mismatch",
	CodeAlreadyExists:    "already exists",
	CodeAuthFailed:       "authentication failed",
	CodeNoSpace:          "database space exceeded",
	CodeMemberRemoved:    "member removed",
	CodeNotLearner:       "not a learner",
}

func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("code(%d)", uint16(c))
}

// Error is an error as it travels on the wire: a code and a one-line
// message for people. CompactRevision is set with CodeCompacted.
type Error struct {
	Code            Code   `msgpack:"c"`
	Message         string `msgpack:"m,omitempty"`
	CompactRevision int64  `msgpack:"cr,omitempty"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code.String()
	}
	return e.Message
}

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
