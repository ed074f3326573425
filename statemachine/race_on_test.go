//go:build race

package statemachine

// raceEnabled: built with -race, where sync.Pool drops a quarter of the
// items put back at random, so pooled code allocates a varying amount.
const raceEnabled = true
