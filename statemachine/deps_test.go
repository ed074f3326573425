package statemachine

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies checks that the replicated core links neither the
// networking client, nor the server, nor the primitives' client packages,
// nor Dragonboat: the primitives' rules come from their rules packages
// (registered in primitives.go), which import only coord/wire and the
// leaves statemachine/primitive and statemachine/corruption; so does the
// auth store (statemachine/auth), which registers as a primitive.
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/coord-io/coord/statemachine/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := map[string]bool{
		"github.com/coord-io/coord/coord":        true, // the Go client
		"github.com/coord-io/coord/coord/server": true,
		"github.com/coord-io/coord/locks":        true,
		"github.com/coord-io/coord/election":     true,
		"github.com/coord-io/coord/queue":        true,
		"github.com/coord-io/coord/barrier":      true,
	}
	rules := 0
	for _, pkg := range strings.Fields(string(out)) {
		if forbidden[pkg] {
			t.Errorf("statemachine links %s", pkg)
		}
		if strings.Contains(pkg, "dragonboat") {
			t.Errorf("statemachine links %s", pkg)
		}
		if strings.HasSuffix(pkg, "rules") && strings.HasPrefix(pkg, "github.com/coord-io/coord/") || pkg == authPkg {
			rules++ // the auth store registers as a primitive too
		}
	}
	if rules != len(primitives) {
		t.Errorf("statemachine links %d rules packages (and the auth store), and registers %d primitives", rules, len(primitives))
	}

	// The auth store's rules stay a leaf: no bcrypt, no other package of
	// Coord than the wire, the registry contract and corruption.
	out, err = exec.Command(goTool, "list", "-deps", authPkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string]bool{
		authPkg:                                true,
		"github.com/coord-io/coord/coord/wire": true,
		"github.com/coord-io/coord/statemachine/primitive":  true,
		"github.com/coord-io/coord/statemachine/corruption": true,
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/coord-io/coord/") && !allowed[pkg] || strings.HasPrefix(pkg, "golang.org/x/crypto") {
			t.Errorf("%s links %s", authPkg, pkg)
		}
	}
}

const authPkg = "github.com/coord-io/coord/statemachine/auth"
