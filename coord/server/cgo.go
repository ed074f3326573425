package server

import (
	"errors"
	"fmt"
)

// ErrBuiltWithoutCgo: this binary was built with CGO_ENABLED=0, and a
// member refuses to start. The Pebble version Dragonboat v3.3.8 pins
// (v0.0.0-20210331181633-27fc006b8bfb, used by Dragonboat's log and by the
// state machine) keeps Go pointers in block-cache memory that, without
// cgo, is an ordinary Go []byte the garbage collector does not scan: it
// frees cache entries still in use, and a member crashes under read load
// with a corrupted heap ("slice bounds out of range" in sstable.blockIter,
// "unexpected fault address"), as `coord bench get` against a
// CGO_ENABLED=0 build showed here. Pebble fixed it upstream
// (cockroachdb/pebble#1011) after that version. Build with cgo; for a
// static binary: CGO_ENABLED=1 go build -tags osusergo,netgo -ldflags
// '-linkmode external -extldflags -static' ./cmd/coord.
var ErrBuiltWithoutCgo = errors.New("this coord was built with CGO_ENABLED=0, which corrupts memory in the storage engine Dragonboat v3.3.8 pins (cockroachdb/pebble#1010); rebuild with cgo (static: CGO_ENABLED=1 go build -tags osusergo,netgo -ldflags '-linkmode external -extldflags -static' ./cmd/coord)")

// checkCgo refuses to run a member in a binary built without cgo.
func checkCgo(withCgo bool) error {
	if !withCgo {
		return fmt.Errorf("%w", ErrBuiltWithoutCgo)
	}
	return nil
}
