package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCLIGetSort: get --sort-by/--order as etcdctl's (values
// case-insensitive), sorting the whole range before --limit applies.
func TestCLIGetSort(t *testing.T) {
	// One shard: CREATE and MODIFY compare revisions, which are per shard.
	ep := startMemberShards(t, 1)
	c := cliAt{t, ep}
	// Key order a b c d; value order d c a b; version order (puts) b=3 c=2.
	for _, kv := range [][2]string{{"s/a", "3"}, {"s/b", "0"}, {"s/b", "1"}, {"s/c", "4"}, {"s/b", "2"}, {"s/d", "5"}, {"s/c", "6"}} {
		c.ok("OK\n", "put", kv[0], kv[1])
	}
	keys := func(args ...string) string {
		t.Helper()
		return c.ok("*", append([]string{"get", "s/", "--prefix", "--keys-only"}, args...)...)
	}
	if got := keys("--order", "DESCEND"); got != "s/d\ns/c\ns/b\ns/a\n" {
		t.Fatalf("--order DESCEND (by key): %q", got)
	}
	if got := keys("--sort-by", "value"); got != "s/b\ns/a\ns/d\ns/c\n" {
		t.Fatalf("--sort-by value: %q", got)
	}
	if got := c.ok("*", "get", "s/", "--prefix", "--sort-by", "VALUE", "--order", "descend", "--limit", "2"); got != "s/c\n6\ns/d\n5\n" {
		t.Fatalf("--sort-by VALUE --order descend --limit 2: %q", got)
	}
	if got := keys("--sort-by", "VERSION", "--order", "DESCEND", "--limit", "1"); got != "s/b\n" {
		t.Fatalf("--sort-by VERSION DESCEND --limit 1: %q", got)
	}
	// Creation order a b c d; last modification b c d... : c(6) last, a first.
	if got := keys("--sort-by", "CREATE", "--order", "DESCEND"); got != "s/d\ns/c\ns/b\ns/a\n" {
		t.Fatalf("--sort-by CREATE DESCEND: %q", got)
	}
	if got := keys("--sort-by", "modify"); got != "s/a\ns/b\ns/d\ns/c\n" {
		t.Fatalf("--sort-by modify: %q", got)
	}
	if got := keys("--sort-by", "KEY", "--order", "ASCEND", "--limit", "2"); got != "s/a\ns/b\n" {
		t.Fatalf("--sort-by KEY --limit 2: %q", got)
	}
	// --limit keeps count and more of the whole range.
	out := c.ok("*", "get", "s/", "--prefix", "--sort-by", "VALUE", "--limit", "1", "-w", "json")
	var g jsonGet
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		t.Fatal(err)
	}
	if g.Count != 4 || !g.More || len(g.Kvs) != 1 {
		t.Fatalf("-w json: %s", out)
	}
	for _, tt := range []struct{ flag, value, want string }{
		{"--sort-by", "size", `Error: --sort-by: want KEY, VERSION, CREATE, MODIFY or VALUE, got "size"`},
		{"--order", "up", `Error: --order: want ASCEND or DESCEND, got "up"`},
	} {
		code, _, errOut := c.run("", "get", "s/", "--prefix", tt.flag, tt.value)
		if code != exitUsage || !strings.HasPrefix(errOut, tt.want) {
			t.Errorf("%s %s: exit %d stderr %q", tt.flag, tt.value, code, errOut)
		}
	}
}
