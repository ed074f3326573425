package fault

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Stats counts what a run did; Summary prints it in the form CI greps for.
type Stats struct {
	mu         sync.Mutex
	Scenarios  int
	Ops        int
	Faults     int
	Violations int
}

// Add adds one scenario's numbers.
func (s *Stats) Add(scenarios, ops, faults, violations int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Scenarios += scenarios
	s.Ops += ops
	s.Faults += faults
	s.Violations += violations
}

// Summary returns "faults: scenarios=N ops=N faults=N violations=N".
func (s *Stats) Summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("faults: scenarios=%d ops=%d faults=%d violations=%d", s.Scenarios, s.Ops, s.Faults, s.Violations)
}

// Duration returns the long-mode duration from COORD_FAULT_DURATION
// ("10m"), or 0 for the short, fixed set of scenarios.
func Duration(t testing.TB) time.Duration {
	v := os.Getenv("COORD_FAULT_DURATION")
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("COORD_FAULT_DURATION=%q: %v", v, err)
	}
	return d
}

// Seed returns the run's seed: COORD_FAULT_SEED when set (to replay a
// failing run's fault schedule), else the clock. It is logged.
func Seed(t testing.TB) int64 {
	seed := time.Now().UnixNano()
	if v := os.Getenv("COORD_FAULT_SEED"); v != "" {
		s, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("COORD_FAULT_SEED=%q: %v", v, err)
		}
		seed = s
	}
	t.Logf("seed %d (replay with COORD_FAULT_SEED=%d)", seed, seed)
	return seed
}

// NewRand returns a source seeded with seed.
func NewRand(seed int64) *rand.Rand { return rand.New(rand.NewSource(seed)) }

// ArtifactDir is where failing runs leave their histories:
// $COORD_FAULT_OUT, else $TMPDIR/coord-fault. It outlives the test.
func ArtifactDir() string {
	if d := os.Getenv("COORD_FAULT_OUT"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "coord-fault")
}

// WriteArtifact writes v as indented JSON to ArtifactDir()/name and
// returns the path.
func WriteArtifact(name string, v any) (string, error) {
	dir := ArtifactDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, b, 0o644)
}

// artifactName makes a file name out of its parts.
func artifactName(parts ...any) string {
	var s []string
	for _, p := range parts {
		s = append(s, strings.NewReplacer("/", "_", " ", "_").Replace(fmt.Sprint(p)))
	}
	return strings.Join(s, "-")
}
