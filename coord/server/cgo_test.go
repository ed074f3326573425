package server

import (
	"errors"
	"testing"
)

// TestCheckCgo: a member refuses to start in a binary built without cgo
// (ErrBuiltWithoutCgo), and starts in one built with it (as every test
// binary of this package is: -race needs cgo).
func TestCheckCgo(t *testing.T) {
	if err := checkCgo(false); !errors.Is(err, ErrBuiltWithoutCgo) {
		t.Fatalf("checkCgo(false) = %v, want ErrBuiltWithoutCgo", err)
	}
	if err := checkCgo(true); err != nil {
		t.Fatalf("checkCgo(true) = %v", err)
	}
	if !builtWithCgo {
		t.Fatal("this test binary was built without cgo: every member it starts would refuse")
	}
}
