package corruption

import (
	"errors"
	"fmt"
	"testing"
)

func TestMark(t *testing.T) {
	own := New("pkg: corrupt thing")
	if own.Error() != "pkg: corrupt thing" {
		t.Fatalf("New changed the message: %q", own)
	}
	wrapped := fmt.Errorf("pkg: reading x: %w", own)
	for _, err := range []error{own, wrapped, Errorf("pkg: corrupt %d", 7), Mark(errors.New("plain"))} {
		if !errors.Is(err, ErrCorruption) {
			t.Errorf("%q does not match ErrCorruption", err)
		}
	}
	if !errors.Is(wrapped, own) {
		t.Error("a marked sentinel is no longer found through wrapping")
	}
	inner := errors.New("inner")
	if err := Errorf("pkg: %w", inner); !errors.Is(err, inner) || err.Error() != "pkg: inner" {
		t.Errorf("Errorf lost what it wraps: %v", err)
	}
	if Mark(nil) != nil {
		t.Error("Mark(nil) is not nil")
	}
	if errors.Is(errors.New("other"), ErrCorruption) {
		t.Error("an unmarked error matches ErrCorruption")
	}
}
