package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coord-io/coord/coord/server/fault"
)

// stamps reads the nanosecond timestamps a command wrote, one a line.
func stamps(t *testing.T, path string) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []int64
	for _, l := range strings.Fields(string(b)) {
		v, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			t.Fatalf("%s: bad timestamp %q", path, l)
		}
		out = append(out, v)
	}
	return out
}

// TestCLILockCommandStopsBeforeNextHolder is the promise of DESIGN §3/§7
// under the fault that hides it best: the holder's client is silently cut
// off the cluster (a blackhole: nothing is closed, nothing answers). Its
// command, which ignores SIGTERM and stamps the time every 50 ms, must be
// gone before the next `lock acquire` of the same lock starts its own.
func TestCLILockCommandStopsBeforeNextHolder(t *testing.T) {
	ep := startMemberShards(t, 1)
	nw := fault.NewNet()
	t.Cleanup(nw.Close)
	proxied, err := nw.AddClientProxy("A", "n1", ep)
	if err != nil {
		t.Fatal(err)
	}
	ttls := []int{2}
	if !testing.Short() {
		ttls = []int{2, 5, 10}
	}
	dir := t.TempDir()
	for _, ttl := range ttls {
		name := fmt.Sprintf("bh%d", ttl)
		stopsBeforeNext(t, nw, dir, ttl, []string{"lock", "acquire", name, "--ttl", fmt.Sprintf("%ds", ttl)},
			[]string{"lock", "acquire", name, "--timeout", "60s"}, proxied, ep)
	}
}

// TestCLIElectCommandStopsBeforeNextLeader: the same for a command run
// while leading an election.
func TestCLIElectCommandStopsBeforeNextLeader(t *testing.T) {
	ep := startMemberShards(t, 1)
	nw := fault.NewNet()
	t.Cleanup(nw.Close)
	proxied, err := nw.AddClientProxy("A", "n1", ep)
	if err != nil {
		t.Fatal(err)
	}
	stopsBeforeNext(t, nw, t.TempDir(), 2, []string{"elect", "campaign", "E", "a", "--ttl", "2s"},
		[]string{"elect", "campaign", "E", "b"}, proxied, ep)
}

// stopsBeforeNext runs holder A (aArgs, through the proxy of client "A")
// with a command that ignores SIGTERM and stamps the time, blackholes A,
// runs B (bArgs, direct) with a command that stamps its start, and
// requires A's last stamp before B's.
func stopsBeforeNext(t *testing.T, nw *fault.Net, dir string, ttl int, aArgs, bArgs []string, proxied, ep string) {
	t.Helper()
	name := fmt.Sprintf("%s-%d", aArgs[0], ttl)
	fileA := filepath.Join(dir, name+".a")
	fileB := filepath.Join(dir, name+".b")
	a := startBG(t, proxied, append(aArgs, "--",
		"sh", "-c", `trap '' TERM; while :; do date +%s%N >> "$1"; sleep 0.05; done`, "sh", fileA)...)
	waitFor(t, 30*time.Second, "holder A's command to run", func() bool {
		a.running(t)
		return len(stamps(t, fileA)) > 0
	})

	nw.Set("A", "n1", fault.LinkBlackhole, 0)
	cut := time.Now()
	code, _, errOut := runCLI(t, "", append(bArgs, "--endpoints", ep, "--",
		"sh", "-c", `date +%s%N > "$1"`, "sh", fileB)...)
	if code != 0 {
		t.Fatalf("TTL %ds: B's %s: exit %d, stderr %q", ttl, aArgs[0], code, errOut)
	}
	sa, sb := stamps(t, fileA), stamps(t, fileB)
	if len(sb) != 1 {
		t.Fatalf("TTL %ds: B's command wrote %v", ttl, sb)
	}
	lastA := sa[len(sa)-1]
	t.Logf("TTL %ds: A's last sign of life %v after the cut, %v before B's command started",
		ttl, time.Unix(0, lastA).Sub(cut).Round(time.Millisecond), time.Duration(sb[0]-lastA).Round(time.Millisecond))
	if lastA >= sb[0] {
		t.Errorf("TTL %ds: A's command ran %v after B's command started", ttl, time.Duration(lastA-sb[0]))
	}

	// Back on the network, A reports the loss and exits 1.
	nw.Heal()
	if code := a.wait(t, 30*time.Second); code != exitError || !strings.Contains(a.stderr.String(), "lost") {
		t.Errorf("TTL %ds: A exited %d, stderr %q; want 1 and the %s lost", ttl, code, a.stderr.String(), aArgs[0])
	}
	if n := len(stamps(t, fileA)); n != len(sa) {
		t.Errorf("TTL %ds: A's command wrote %d more stamps after B's command ran", ttl, n-len(sa))
	}
}
