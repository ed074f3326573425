package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/coord-io/coord/coord/server"
	"github.com/coord-io/coord/coord/wire"
)

// TestCLICompactRefuses: `compact` at a revision the cluster has not
// reached, or at or below the compact point, fails with exit 1 and the
// etcd reason, and discards nothing.
func TestCLICompactRefuses(t *testing.T) {
	ep := startMember(t, 1024)
	c := func(args ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, "", append(args, "--endpoints", ep)...)
	}
	for i := 0; i < 9; i++ {
		if code, _, errOut := c("put", "k", fmt.Sprint(i)); code != 0 {
			t.Fatalf("put: exit %d: %s", code, errOut)
		}
	}
	code, out, errOut := c("compact", "1000")
	if code != 1 || out != "" || !strings.Contains(errOut, "required revision is a future revision") {
		t.Fatalf("compact 1000 at revision 10: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, errOut := c("get", "k", "--rev", "3"); code != 0 || out != "k\n1\n" {
		t.Fatalf("get --rev 3 after a refused compaction: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, errOut := c("compact", "5"); code != 0 || out != "compacted revision 5\n" {
		t.Fatalf("compact 5: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = c("compact", "3")
	if code != 1 || out != "" || !strings.Contains(errOut, "required revision has been compacted") {
		t.Fatalf("compact 3 after 5: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = c("compact", "1000", "--shard", "0")
	if code != 1 || !strings.Contains(errOut, "required revision is a future revision") {
		t.Fatalf("compact 1000 --shard 0: exit %d, stderr %q", code, errOut)
	}
}

// TestCLICompactPerShard: with several shards and no --shard, the output
// says what happened in each shard.
func TestCLICompactPerShard(t *testing.T) {
	ep := startMemberWith(t, func(cfg *server.Config) { cfg.Shards = 2 })
	c := func(args ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, "", append(args, "--endpoints", ep)...)
	}
	keys := map[uint32]string{}
	for i := 0; len(keys) < 2; i++ {
		k := fmt.Sprintf("key%d", i)
		if _, ok := keys[wire.ShardOf([]byte(k), 2)]; !ok {
			keys[wire.ShardOf([]byte(k), 2)] = k
		}
	}
	for shard, n := range map[uint32]int{0: 6, 1: 3} {
		for i := 0; i < n; i++ {
			if code, _, errOut := c("put", keys[shard], fmt.Sprint(i)); code != 0 {
				t.Fatalf("put: exit %d: %s", code, errOut)
			}
		}
	}
	code, out, errOut := c("compact", "5")
	want := "shard 0: compacted revision 5\n" +
		"shard 1: not compacted: required revision is a future revision (shard at revision 4)\n"
	if code != 0 || out != want {
		t.Fatalf("compact 5: exit %d, stdout %q, want %q, stderr %q", code, out, want, errOut)
	}
	code, out, errOut = c("compact", "2", "-w", "json")
	if code != 0 {
		t.Fatalf("compact 2 -w json: exit %d, stderr %q", code, errOut)
	}
	var j struct {
		Revision int64 `json:"revision"`
		Shards   []struct {
			Shard           uint32 `json:"shard"`
			Compacted       bool   `json:"compacted"`
			CompactRevision int64  `json:"compact_revision"`
			Revision        int64  `json:"revision"`
			Error           string `json:"error"`
		} `json:"shards"`
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("compact -w json: %v in %q", err, out)
	}
	if j.Revision != 2 || len(j.Shards) != 2 ||
		j.Shards[0].Compacted || j.Shards[0].CompactRevision != 5 || !strings.Contains(j.Shards[0].Error, "required revision has been compacted") ||
		!j.Shards[1].Compacted || j.Shards[1].CompactRevision != 2 || j.Shards[1].Revision != 4 || j.Shards[1].Error != "" {
		t.Fatalf("compact 2 -w json: %s", out)
	}
	code, out, errOut = c("compact", "2")
	if code != 1 || out != "" || !strings.Contains(errOut, "required revision has been compacted") {
		t.Fatalf("compact 2 again: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
