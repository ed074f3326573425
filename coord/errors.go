package coord

import (
	"errors"

	"github.com/coord-io/coord/coord/wire"
)

// Sentinel errors returned by the client. Every error from a call that the
// server refused wraps one of these, so callers test with errors.Is. The
// *wire.Error carrying the server's message can be had with errors.As.
var (
	ErrUnknown          = errors.New("coord: unknown error")
	ErrInvalid          = errors.New("coord: invalid argument")
	ErrNotFound         = errors.New("coord: not found")
	ErrCompacted        = errors.New("coord: revision has been compacted")
	ErrFutureRevision   = errors.New("coord: revision is newer than the store")
	ErrLeaseNotFound    = errors.New("coord: lease not found")
	ErrWrongShard       = errors.New("coord: wrong shard")
	ErrCrossShardTxn    = errors.New("coord: transaction spans shards")
	ErrTooLarge         = errors.New("coord: too large")
	ErrTimeout          = errors.New("coord: timed out")
	ErrUnavailable      = errors.New("coord: unavailable")
	ErrPermissionDenied = errors.New("coord: permission denied")
	ErrCanceled         = errors.New("coord: canceled")
	ErrUnimplemented    = errors.New("coord: unimplemented")
	ErrDuplicate        = errors.New("coord: duplicate request")
	ErrLocked           = errors.New("coord: locked")
	ErrNotLeader        = errors.New("coord: not leader")
	ErrNotHolder        = errors.New("coord: not lock holder")
	ErrEmpty            = errors.New("coord: empty")
	// ErrNotOwner: a release (unlock, resign, proclaim, ack) that did not
	// prove ownership (the holder's session lease, the delivery's receipt).
	ErrNotOwner = errors.New("coord: not owner")
	// ErrOutcomeUnknown: a write was retried past the window in which the
	// cluster remembers it; it may or may not have been applied once.
	ErrOutcomeUnknown = errors.New("coord: outcome unknown")
	// ErrClusterMismatch: an endpoint answered for another cluster than
	// the one this client first talked to.
	ErrClusterMismatch = errors.New("coord: endpoint belongs to another cluster")
	// ErrAlreadyExists: a user or role of that name exists.
	ErrAlreadyExists = errors.New("coord: already exists")
	// ErrAuthFailed: wrong or missing credentials, or an unknown or
	// expired token (Config.Username, Password, Token).
	ErrAuthFailed = errors.New("coord: authentication failed")
	// ErrNoSpace: a NOSPACE alarm is raised in the cluster (a member's
	// store grew past its --quota-backend-bytes), so writes that grow
	// the store are refused until an operator frees space and disarms
	// the alarm (coord alarm disarm). Reads, deletes, lease revokes and
	// compaction still work.
	ErrNoSpace = errors.New("coord: database space exceeded")
	// ErrMemberRemoved: the member was removed from the cluster (coord
	// member remove) and serves no more calls; the client moves on to
	// another endpoint.
	ErrMemberRemoved = errors.New("coord: member removed from the cluster")
	// ErrNotLearner: a promote of a member that already votes.
	ErrNotLearner = errors.New("coord: member is not a learner")
	// ErrClosed is returned by calls on a closed Client.
	ErrClosed = errors.New("coord: client closed")
	// ErrNoEndpoints is returned when no endpoint could be reached.
	ErrNoEndpoints = errors.New("coord: no endpoint reachable")
)

var codeErrors = map[wire.Code]error{
	wire.CodeUnknown:          ErrUnknown,
	wire.CodeInvalid:          ErrInvalid,
	wire.CodeNotFound:         ErrNotFound,
	wire.CodeCompacted:        ErrCompacted,
	wire.CodeFutureRevision:   ErrFutureRevision,
	wire.CodeLeaseNotFound:    ErrLeaseNotFound,
	wire.CodeWrongShard:       ErrWrongShard,
	wire.CodeCrossShardTxn:    ErrCrossShardTxn,
	wire.CodeTooLarge:         ErrTooLarge,
	wire.CodeTimeout:          ErrTimeout,
	wire.CodeUnavailable:      ErrUnavailable,
	wire.CodePermissionDenied: ErrPermissionDenied,
	wire.CodeCanceled:         ErrCanceled,
	wire.CodeUnimplemented:    ErrUnimplemented,
	wire.CodeDuplicate:        ErrDuplicate,
	wire.CodeLocked:           ErrLocked,
	wire.CodeNotLeader:        ErrNotLeader,
	wire.CodeNotHolder:        ErrNotHolder,
	wire.CodeEmpty:            ErrEmpty,
	wire.CodeNotOwner:         ErrNotOwner,
	wire.CodeOutcomeUnknown:   ErrOutcomeUnknown,
	wire.CodeClusterMismatch:  ErrClusterMismatch,
	wire.CodeAlreadyExists:    ErrAlreadyExists,
	wire.CodeAuthFailed:       ErrAuthFailed,
	wire.CodeNoSpace:          ErrNoSpace,
	wire.CodeMemberRemoved:    ErrMemberRemoved,
	wire.CodeNotLearner:       ErrNotLearner,
}

// Error is a server-side error as the client sees it: it prints the
// server's one-line message and matches its sentinel with errors.Is.
type Error struct {
	Wire     *wire.Error
	sentinel error
}

func (e *Error) Error() string { return e.Wire.Error() }

// Unwrap returns the sentinel, so errors.Is(err, ErrCompacted) works.
func (e *Error) Unwrap() error { return e.sentinel }

// CompactRevision returns the compacted revision of an ErrCompacted error, or 0.
func CompactRevision(err error) int64 {
	var e *Error
	if errors.As(err, &e) {
		return e.Wire.CompactRevision
	}
	return 0
}

func fromWire(we *wire.Error) error {
	if we == nil {
		return nil
	}
	s, ok := codeErrors[we.Code]
	if !ok {
		s = ErrUnknown
	}
	if we.Message == "" {
		return s
	}
	return &Error{Wire: we, sentinel: s}
}
