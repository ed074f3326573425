//go:build cgo

package server

// builtWithCgo reports whether this binary was built with cgo (see
// ErrBuiltWithoutCgo).
const builtWithCgo = true
