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
		if m.Name != cfgs[i].Name || m.PeerAddr != cfgs[i].ListenPeer || m.ClientAddr != cfgs[i].ListenClient || m.ID != uint64(i+1) {
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
	if code != 0 || len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "NAME PEER ADDR CLIENT ADDR LEADER OF SHARDS" {
		t.Fatalf("member list:\n%s", out)
	}
	for i, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 4 || f[0] != cfgs[i].Name || f[1] != cfgs[i].ListenPeer || f[2] != cfgs[i].ListenClient {
			t.Fatalf("member list row %q", l)
		}
	}
	code, out, _ = runCLI(t, "", "member", "list", "--endpoints", all, "-w", "table")
	if code != 0 || !strings.Contains(out, "| NAME |") || !strings.Contains(out, "| n3   | "+cfgs[2].ListenPeer) {
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
	if code != 0 || len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME PEER ADDR CLIENT ADDR IS LEADER" {
		t.Fatalf("member list: %d %q %q", code, out, errOut)
	}
	if f := strings.Fields(lines[1]); len(f) != 4 || f[0] != "n1" || f[2] != ep || f[3] != "true" {
		t.Fatalf("member list row %q", lines[1])
	}
}

func TestCLIMemberAddRemoveUnsupported(t *testing.T) {
	for _, args := range [][]string{{"member", "add", "n4", "127.0.0.1:7390"}, {"member", "remove", "n2"}} {
		code, out, errOut := runCLI(t, "", args...)
		want := fmt.Sprintf("Error: member %s is not supported yet: the membership is fixed when the cluster is created (--initial-cluster)\n", args[1])
		if code != exitError || out != "" || errOut != want {
			t.Errorf("%q: exit %d stdout %q stderr %q, want exit 1 and %q", args, code, out, errOut, want)
		}
	}
	for _, args := range [][]string{{"member", "--help"}, {"member", "add", "--help"}, {"member", "remove", "--help"}} {
		code, out, _ := runCLI(t, "", args...)
		if code != 0 || !strings.Contains(out, "not supported yet") {
			t.Errorf("%q: exit %d, help lacks \"not supported yet\":\n%s", args, code, out)
		}
	}
	if code, _, errOut := runCLI(t, "", "member", "frob"); code != exitUsage || !strings.Contains(errOut, `unknown member command "frob"`) {
		t.Errorf("member frob: exit %d stderr %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "member", "list", "extra"); code != exitUsage || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Errorf("member list extra: exit %d stderr %q", code, errOut)
	}
}
