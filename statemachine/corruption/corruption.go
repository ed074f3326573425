package corruption

import (
	"errors"
	"fmt"
)

// ErrCorruption marks every error caused by corrupt stored or replicated
// state. Such an error is not retried: the replica, its data directory or
// the snapshot it was sent needs attention (restore the member from its
// peers).
var ErrCorruption = errors.New("coord: corrupt stored state")

// New returns an error with message text that matches ErrCorruption.
// Use it for a package's own corruption sentinel.
func New(text string) error { return Mark(errors.New(text)) }

// Errorf formats an error (with %w, as fmt.Errorf) that matches
// ErrCorruption besides whatever it wraps.
func Errorf(format string, args ...any) error { return Mark(fmt.Errorf(format, args...)) }

// Mark returns err marked as corruption: the same message, errors.Is
// still finds what err matched, and it matches ErrCorruption too. Mark
// of nil is nil.
func Mark(err error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err}
}

type marked struct{ err error }

func (m *marked) Error() string   { return m.err.Error() }
func (m *marked) Unwrap() []error { return []error{m.err, ErrCorruption} }
