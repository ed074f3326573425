//go:build !race

package statemachine

// raceEnabled: built with -race (see race_on_test.go).
const raceEnabled = false
