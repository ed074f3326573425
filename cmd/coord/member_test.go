package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coord-io/coord/coord/server"
)

// startCluster starts n members with the given shard count in-process and
// returns their configurations once every member is ready.
func startCluster(t *testing.T, n, shards int) []server.Config {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lc, err := server.StartLocalCluster(ctx, server.LocalClusterConfig{
		Members: n, Shards: shards, StopTimeout: 10 * time.Second,
		Configure: func(cfg *server.Config) { cfg.ListenHTTP = "" },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lc.Close() })
	return lc.Configs()
}

type jsonMembers struct {
	Endpoint string `json:"endpoint"`
	Member   string `json:"member"`
	Shards   int    `json:"shards"`
	Members  []struct {
		Name       string   `json:"name"`
		PeerAddr   string   `json:"peer_addr"`
		ClientAddr string   `json:"client_addr"`
		IsLeader   bool     `json:"is_leader"`
		LeaderOf   []uint32 `json:"leader_of_shards"`
		ID         uint64   `json:"id"`
		EtcdURL    string   `json:"etcd_url"`
		HTTPAddr   string   `json:"http_addr"`
		Status     string   `json:"status"`
		IsLearner  bool     `json:"is_learner"`
	} `json:"members"`
}

func TestCLIMemberList(t *testing.T) {
	cfgs := startCluster(t, 3, 2)
	var eps []string
	for _, c := range cfgs {
		eps = append(eps, c.ListenClient)
	}
	all := strings.Join(eps, ",")

	code, out, errOut := runCLI(t, "", "member", "list", "--endpoints", all, "-w", "json")
	var ml jsonMembers
	if code != 0 || json.Unmarshal([]byte(out), &ml) != nil {
		t.Fatalf("member list -w json: %d %q %q", code, out, errOut)
	}
	if ml.Endpoint != eps[0] || ml.Member != "n1" || ml.Shards != 2 || len(ml.Members) != 3 {
		t.Fatalf("member list -w json: %s", out)
	}
	led := map[uint32]int{}
	for i, m := range ml.Members {
		if m.Name != cfgs[i].Name || m.PeerAddr != cfgs[i].ListenPeer || m.ClientAddr != cfgs[i].ListenClient || m.ID != uint64(i+1) ||
			m.Status != "started" || m.IsLearner {
			t.Fatalf("member %d: %+v, want %s %s %s", i, m, cfgs[i].Name, cfgs[i].ListenPeer, cfgs[i].ListenClient)
		}
		for _, s := range m.LeaderOf {
			led[s]++
		}
		if m.IsLeader != (len(m.LeaderOf) > 0 && m.LeaderOf[0] == 0) {
			t.Fatalf("member %s: is_leader %v but leads %v", m.Name, m.IsLeader, m.LeaderOf)
		}
	}
	if led[0] != 1 || led[1] != 1 || len(led) != 2 {
		t.Fatalf("shard leaders: %v in %s", led, out)
	}

	// Simple output: a header and a row per member; with two shards the
	// last column lists the shards each member leads.
	code, out, _ = runCLI(t, "", "member", "list", "--endpoints", all)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "NAME ID STATUS PEER ADDR CLIENT ADDR IS LEARNER LEADER OF SHARDS" {
		t.Fatalf("member list:\n%s", out)
	}
	for i, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 7 || f[0] != cfgs[i].Name || f[1] != fmt.Sprint(i+1) || f[2] != "started" || f[3] != cfgs[i].ListenPeer || f[4] != cfgs[i].ListenClient || f[5] != "false" {
			t.Fatalf("member list row %q", l)
		}
	}
	code, out, _ = runCLI(t, "", "member", "list", "--endpoints", all, "-w", "table")
	if code != 0 || !strings.Contains(out, "| NAME |") || !strings.Contains(out, "| n3   | 3  | started | "+cfgs[2].ListenPeer) {
		t.Fatalf("member list -w table:\n%s", out)
	}

	// The first reachable endpoint answers; every member's client address
	// comes from the member registry, also those not among the endpoints.
	dead := freeAddr(t)
	code, out, errOut = runCLI(t, "", "member", "list", "--endpoints", dead+","+eps[1], "-w", "json", "--dial-timeout", "300ms")
	ml = jsonMembers{}
	if code != 0 || json.Unmarshal([]byte(out), &ml) != nil || ml.Endpoint != eps[1] || ml.Member != "n2" || len(ml.Members) != 3 {
		t.Fatalf("member list with a dead endpoint first: %d %q %q", code, out, errOut)
	}
	if ml.Members[0].ClientAddr != eps[0] || ml.Members[1].ClientAddr != eps[1] || ml.Members[2].ClientAddr != eps[2] {
		t.Fatalf("client addresses: %s", out)
	}

	// No endpoint answers: exit 1 with a reason.
	code, _, errOut = runCLI(t, "", "member", "list", "--endpoints", dead, "--dial-timeout", "300ms")
	if code != exitError || !strings.HasPrefix(errOut, "Error: ") || !strings.Contains(errOut, dead) || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("member list, nothing reachable: exit %d stderr %q", code, errOut)
	}
}

func TestCLIMemberSingleShard(t *testing.T) {
	ep := startMember(t, 1024)
	code, out, errOut := runCLI(t, "", "member", "list", "--endpoints", ep)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME ID STATUS PEER ADDR CLIENT ADDR IS LEARNER IS LEADER" {
		t.Fatalf("member list: %d %q %q", code, out, errOut)
	}
	if f := strings.Fields(lines[1]); len(f) != 7 || f[0] != "n1" || f[4] != ep || f[6] != "true" {
		t.Fatalf("member list row %q", lines[1])
	}
}

// TestCLIMemberChangeErrors: add, promote and remove explain their
// usage and refusals with a one-line reason and exit 1 (the changes
// themselves: TestMemberChangeScenario, on real processes).
func TestCLIMemberChangeErrors(t *testing.T) {
	cfgs := startCluster(t, 1, 1)
	ep := cfgs[0].ListenClient
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"member", "add", "n1", "127.0.0.1:1"}, "Error: member n1 exists"},
		{[]string{"member", "add", "n2", cfgs[0].ListenPeer}, "Error: peer address " + cfgs[0].ListenPeer + " is member n1's"},
		{[]string{"member", "add", "n2", "nohost"}, `Error: member n2: bad peer address "nohost"`},
		{[]string{"member", "promote", "n9"}, `Error: member "n9" not found`},
		{[]string{"member", "promote", "n1"}, "Error: member n1 is not a learner"},
		{[]string{"member", "remove", "n9"}, `Error: member "n9" not found`},
	} {
		code, out, errOut := runCLI(t, "", append(tc.args, "--endpoints", ep)...)
		if code != exitError || out != "" || !strings.HasPrefix(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: exit %d stdout %q stderr %q, want exit 1 and %q...", tc.args, code, out, errOut, tc.want)
		}
	}
	for _, args := range [][]string{{"member", "--help"}, {"member", "add", "--help"}, {"member", "remove", "--help"}, {"member", "promote", "--help"}} {
		code, out, _ := runCLI(t, "", args...)
		if code != 0 || !strings.Contains(out, "voter") {
			t.Errorf("%q: exit %d, help does not explain voters:\n%s", args, code, out)
		}
	}
	if code, _, errOut := runCLI(t, "", "member", "frob"); code != exitUsage || !strings.Contains(errOut, `unknown member command "frob"`) {
		t.Errorf("member frob: exit %d stderr %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "member", "list", "extra"); code != exitUsage || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Errorf("member list extra: exit %d stderr %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "member", "add", "n4"); code != exitUsage || !strings.Contains(errOut, "missing argument: NAME PEER_ADDR") {
		t.Errorf("member add n4: exit %d stderr %q", code, errOut)
	}
}

// TestCLIMemberMoveLeader: move-leader makes a follower the leader of
// every shard (member list shows it), again is a no-op, and refuses an
// unknown member with a one-line reason and exit 1.
func TestCLIMemberMoveLeader(t *testing.T) {
	cfgs := startCluster(t, 3, 2)
	var eps []string
	for _, c := range cfgs {
		eps = append(eps, c.ListenClient)
	}
	all := strings.Join(eps, ",")
	leaders := func() map[string][]uint32 {
		code, out, errOut := runCLI(t, "", "member", "list", "--endpoints", all, "-w", "json")
		var ml jsonMembers
		if code != 0 || json.Unmarshal([]byte(out), &ml) != nil {
			t.Fatalf("member list -w json: %d %q %q", code, out, errOut)
		}
		led := map[string][]uint32{}
		for _, m := range ml.Members {
			led[m.Name] = m.LeaderOf
		}
		return led
	}
	// The member that leads no shard, or else the one leading fewest.
	before := leaders()
	to := ""
	for _, c := range cfgs {
		if to == "" || len(before[c.Name]) < len(before[to]) {
			to = c.Name
		}
	}
	if len(before[to]) == 2 {
		t.Fatalf("one member leads both shards and no other: %v", before)
	}
	for i := 0; i < 2; i++ {
		code, out, errOut := runCLI(t, "", "member", "move-leader", to, "--endpoints", all)
		if code != 0 || !strings.HasPrefix(out, "Member "+to+" leads every shard of cluster ") {
			t.Fatalf("member move-leader %s (%d): exit %d stdout %q stderr %q", to, i, code, out, errOut)
		}
		// Every member's view follows within moments.
		var after map[string][]uint32
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if after = leaders(); len(after[to]) == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after move-leader %s: leaders %v (before %v)", to, after, before)
			}
		}
	}
	code, out, errOut := runCLI(t, "", "member", "move-leader", "n9", "--endpoints", all)
	if code != exitError || out != "" || !strings.HasPrefix(errOut, `Error: member "n9" not found`) || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("move-leader n9: exit %d stdout %q stderr %q", code, out, errOut)
	}
	if code, out, _ := runCLI(t, "", "member", "move-leader", "--help"); code != 0 || !strings.Contains(out, "learner cannot lead") {
		t.Fatalf("move-leader --help: exit %d\n%s", code, out)
	}
}
