package wire

import "fmt"

// Code is the stable, wire-level classification of an error. Codes never
// change meaning; new ones are only added. The Go client maps each code to
// an exported sentinel error.
type Code uint16

// Error codes. OK (0) means success.
const (
	OK                   Code = iota
	CodeUnknown               // an unexpected server-side failure
	CodeInvalid               // a malformed or meaningless request
	CodeNotFound              // a named thing does not exist
	CodeCompacted             // the requested revision has been compacted
	CodeFutureRevision        // the requested revision is newer than the store
	CodeLeaseNotFound         // the lease does not exist (expired or revoked)
	CodeWrongShard            // a key or lease belongs to another shard
	CodeCrossShardTxn         // a transaction touches keys of more than one shard
	CodeTooLarge              // a key, value, request or transaction over its limit
	CodeTimeout               // the deadline passed; the outcome of a write is unknown
	CodeUnavailable           // no quorum or the member is stopping; try another endpoint
	CodePermissionDenied      // the reserved keyspace or an unauthorized call
	CodeCanceled              // the caller cancelled the call
	CodeUnimplemented         // the method is not known to this server
	CodeDuplicate             // a retried request whose first result is gone
	CodeLocked                // a lock is held by someone else
	CodeNotLeader             // the caller is not the leader of an election
	CodeNotHolder             // the caller does not hold the lock
	CodeEmpty                 // a queue has no ready item
	CodeNotOwner              // the caller does not prove it owns what it releases (lease, receipt)
	CodeOutcomeUnknown        // a retried write may or may not have been applied; it was not applied again
	CodeClusterMismatch       // the member belongs to another cluster than the one the client talked to
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
