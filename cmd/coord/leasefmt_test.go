package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/coord-io/coord/coord/wire"
)

func TestLeaseIDFormatAndParse(t *testing.T) {
	for _, tt := range []struct {
		id   int64
		want string
	}{
		{0x694d77aa9e38260f, "694d77aa9e38260f"},
		{wire.LeaseID(0, 1), "0001000000000001"},
		{wire.LeaseID(3, 0xabc), "0004000000000abc"},
		{1, "0000000000000001"},
	} {
		if got := leaseHex(tt.id); got != tt.want {
			t.Errorf("leaseHex(%d) = %q, want %q", tt.id, got, tt.want)
		}
		for _, s := range []string{tt.want, "0x" + tt.want, "0X" + tt.want} {
			if id, err := parseLeaseArg(s); err != nil || id != tt.id {
				t.Errorf("parseLeaseArg(%q) = %d, %v; want %d", s, id, err, tt.id)
			}
		}
	}
	if id, err := parseLeaseArg("1000000000001"); err != nil || id != wire.LeaseID(0, 1) {
		t.Errorf("short form: %d %v", id, err)
	}
	if id, err := parseLeaseArg("694D77AA9E38260F"); err != nil || id != 0x694d77aa9e38260f {
		t.Errorf("upper case: %x %v", id, err)
	}
	for _, bad := range []string{"", "0", "0x", "xyz", "-1", "+1", "8000000000000000", "ffffffffffffffff", "10000000000000000", "12 34"} {
		if id, err := parseLeaseArg(bad); err == nil {
			t.Errorf("parseLeaseArg(%q) = %d, want an error", bad, id)
		}
	}
	if formatLease(0) != "0" || formatLease(wire.LeaseID(0, 1)) != "0001000000000001" {
		t.Errorf("formatLease: %q %q", formatLease(0), formatLease(wire.LeaseID(0, 1)))
	}
}

func TestParseTTL(t *testing.T) {
	for in, want := range map[string]int64{
		"5": 5, "5s": 5, "1m": 60, "1m30s": 90, "1.5s": 2, "1ms": 1, "2h": 7200, "60": 60, "2147483647": 2147483647,
	} {
		if got, err := parseTTL(in); err != nil || got != want {
			t.Errorf("parseTTL(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "0s", "-5", "-1s", "five", "5x", "2147483648", "1000000h"} {
		if got, err := parseTTL(bad); err == nil {
			t.Errorf("parseTTL(%q) = %d, want an error", bad, got)
		}
	}
}

func TestPrintLease(t *testing.T) {
	const id = int64(0x694d77aa9e38260f)
	h := wire.ResponseHeader{Shard: 1, Revision: 7, RaftTerm: 2, Member: "n1"}
	const hj = `{"shard":1,"revision":7,"raft_term":2,"member":"n1"}`
	ttl := &wire.LeaseTimeToLiveResponse{Header: h, ID: id, TTL: 7, GrantedTTL: 10, Keys: [][]byte{[]byte("a"), []byte("b")}}
	ka := &wire.LeaseKeepAliveResponse{Header: h, IDs: []int64{id}, TTLs: []int64{5}}
	leases := &wire.LeaseLeasesResponse{Header: h, Leases: []wire.LeaseStatus{{ID: id, TTL: 5}, {ID: wire.LeaseID(2, 9), TTL: 60}}}
	tests := []struct {
		name string
		f    func(w *bytes.Buffer) error
		want string
	}{
		{"grant", func(w *bytes.Buffer) error {
			return printLeaseGrant(w, formatSimple, &wire.LeaseGrantResponse{Header: h, ID: id, TTL: 5})
		}, "lease 694d77aa9e38260f granted with TTL(5s)\n"},
		{"grant json", func(w *bytes.Buffer) error {
			return printLeaseGrant(w, formatJSON, &wire.LeaseGrantResponse{Header: h, ID: id, TTL: 5})
		}, `{"header":` + hj + `,"id":7587852521871779343,"ttl":5}` + "\n"},
		{"grant table", func(w *bytes.Buffer) error {
			return printLeaseGrant(w, formatTable, &wire.LeaseGrantResponse{Header: h, ID: id, TTL: 5})
		}, "lease 694d77aa9e38260f granted with TTL(5s)\n"},
		{"revoke", func(w *bytes.Buffer) error {
			return printLeaseRevoke(w, formatSimple, id, &wire.LeaseRevokeResponse{Header: h})
		}, "lease 694d77aa9e38260f revoked\n"},
		{"revoke json", func(w *bytes.Buffer) error {
			return printLeaseRevoke(w, formatJSON, id, &wire.LeaseRevokeResponse{Header: h})
		}, `{"header":` + hj + `,"id":7587852521871779343}` + "\n"},
		{"keepalive", func(w *bytes.Buffer) error {
			return printLeaseKeepAlive(w, formatSimple, id, 5, ka)
		}, "lease 694d77aa9e38260f keepalived with TTL(5)\n"},
		{"keepalive json", func(w *bytes.Buffer) error {
			return printLeaseKeepAlive(w, formatJSON, id, 5, ka)
		}, `{"header":` + hj + `,"id":7587852521871779343,"ttl":5}` + "\n"},
		{"ttl", func(w *bytes.Buffer) error {
			return printLeaseTTL(w, formatSimple, id, ttl, false)
		}, "lease 694d77aa9e38260f granted with TTL(10s), remaining(7s)\n"},
		{"ttl keys", func(w *bytes.Buffer) error {
			return printLeaseTTL(w, formatSimple, id, ttl, true)
		}, "lease 694d77aa9e38260f granted with TTL(10s), remaining(7s), attached keys([a b])\n"},
		{"ttl no keys", func(w *bytes.Buffer) error {
			return printLeaseTTL(w, formatSimple, id, &wire.LeaseTimeToLiveResponse{ID: id, TTL: 3, GrantedTTL: 5}, true)
		}, "lease 694d77aa9e38260f granted with TTL(5s), remaining(3s), attached keys([])\n"},
		{"ttl expired", func(w *bytes.Buffer) error {
			return printLeaseTTL(w, formatSimple, id, &wire.LeaseTimeToLiveResponse{Header: h, TTL: -1}, true)
		}, "lease 694d77aa9e38260f already expired\n"},
		{"ttl json", func(w *bytes.Buffer) error {
			return printLeaseTTL(w, formatJSON, id, ttl, true)
		}, `{"header":` + hj + `,"id":7587852521871779343,"ttl":7,"granted_ttl":10,"keys":["a","b"]}` + "\n"},
		{"ttl json binary key", func(w *bytes.Buffer) error {
			r := *ttl
			r.Keys = [][]byte{[]byte("a"), {0xff}}
			return printLeaseTTL(w, formatJSON, id, &r, true)
		}, `{"header":` + hj + `,"id":7587852521871779343,"ttl":7,"granted_ttl":10,"keys_base64":["YQ==","/w=="]}` + "\n"},
		{"ttl json expired", func(w *bytes.Buffer) error {
			return printLeaseTTL(w, formatJSON, id, &wire.LeaseTimeToLiveResponse{Header: h, TTL: -1}, false)
		}, `{"header":` + hj + `,"id":7587852521871779343,"ttl":-1,"granted_ttl":0}` + "\n"},
		{"list", func(w *bytes.Buffer) error {
			return printLeases(w, formatSimple, leases)
		}, "found 2 leases\n694d77aa9e38260f\n0003000000000009\n"},
		{"list empty", func(w *bytes.Buffer) error {
			return printLeases(w, formatSimple, &wire.LeaseLeasesResponse{})
		}, "found 0 leases\n"},
		{"list json", func(w *bytes.Buffer) error {
			return printLeases(w, formatJSON, leases)
		}, `{"header":` + hj + `,"leases":[{"id":7587852521871779343,"ttl":5},{"id":844424930131977,"ttl":60}]}` + "\n"},
		{"list json empty", func(w *bytes.Buffer) error {
			return printLeases(w, formatJSON, &wire.LeaseLeasesResponse{Header: h})
		}, `{"header":` + hj + `,"leases":[]}` + "\n"},
		{"list table", func(w *bytes.Buffer) error {
			return printLeases(w, formatTable, leases)
		}, `+------------------+-------+-----+
| ID               | SHARD | TTL |
+------------------+-------+-----+
| 694d77aa9e38260f | 26956 |   5 |
| 0003000000000009 |     2 |  60 |
+------------------+-------+-----+
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(t, tt.f); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestKeepAliveTTL(t *testing.T) {
	r := &wire.LeaseKeepAliveResponse{IDs: []int64{4, 9}, TTLs: []int64{5, 0}}
	if ttl, ok := keepAliveTTL(r, 4); !ok || ttl != 5 {
		t.Errorf("id 4: %d %v", ttl, ok)
	}
	if ttl, ok := keepAliveTTL(r, 9); !ok || ttl != 0 {
		t.Errorf("id 9: %d %v", ttl, ok)
	}
	if _, ok := keepAliveTTL(r, 7); ok {
		t.Error("id 7 found")
	}
}

func TestLeaseWatchUsageErrors(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		hint    string
	}{
		{[]string{"lease"}, "", ""}, // help, exit 0
		{[]string{"lease", "frob"}, `Error: unknown lease command "frob"`, "coord lease --help"},
		{[]string{"lease", "grant"}, "Error: missing argument: TTL", "coord lease grant --help"},
		{[]string{"lease", "grant", "0"}, `Error: TTL must be positive, got "0"`, "coord lease grant --help"},
		{[]string{"lease", "grant", "ten"}, `Error: bad TTL "ten"`, "coord lease grant --help"},
		{[]string{"lease", "grant", "5", "6"}, `Error: too many arguments: unexpected "6"`, "coord lease grant --help"},
		{[]string{"lease", "revoke"}, "Error: missing argument: ID", "coord lease revoke --help"},
		{[]string{"lease", "revoke", "xyz"}, `Error: bad lease ID "xyz"`, "coord lease revoke --help"},
		{[]string{"lease", "keepalive", "0"}, `Error: bad lease ID "0"`, "coord lease keepalive --help"},
		{[]string{"lease", "ttl", "--", "-5"}, `Error: bad lease ID "-5"`, "coord lease ttl --help"},
		{[]string{"lease", "list", "x"}, `Error: unexpected argument "x"`, "coord lease list --help"},
		{[]string{"lease", "grant", "5", "--key", "k", "--cert", "c.pem"}, "Error: --cert and --key must be given together", "coord lease grant --help"},
		{[]string{"put", "k", "v", "--lease", "1", "--ttl", "5s"}, "Error: --lease and --ttl cannot be used together", "coord put --help"},
		{[]string{"put", "k", "v", "--lease", "nope"}, `Error: --lease: bad lease ID "nope"`, "coord put --help"},
		{[]string{"put", "k", "v", "--ttl", "-1s"}, `Error: --ttl: TTL must be positive`, "coord put --help"},
		{[]string{"watch"}, "Error: missing argument: KEY [RANGE_END]", "coord watch --help"},
		{[]string{"watch", "a", "b", "--prefix"}, "Error: --prefix and RANGE_END cannot be used together", "coord watch --help"},
		{[]string{"watch", "a", "--filter-put", "--filter-delete"}, "Error: --filter-put and --filter-delete cannot be used together", "coord watch --help"},
		{[]string{"watch", "a", "--rev", "-3"}, "Error: --rev must not be negative", "coord watch --help"},
		{[]string{"watch", "a", "-w", "yaml"}, `Error: unknown output format "yaml"`, "coord watch --help"},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, "", tt.args...)
		if tt.wantErr == "" {
			if code != 0 || out == "" || errOut != "" {
				t.Errorf("%q: exit %d, stdout %d bytes, stderr %q", tt.args, code, len(out), errOut)
			}
			continue
		}
		if code != exitUsage {
			t.Errorf("%q: exit code %d, want %d (stderr %q)", tt.args, code, exitUsage, errOut)
			continue
		}
		lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], tt.wantErr) || !strings.Contains(lines[1], tt.hint) {
			t.Errorf("%q: stderr %q, want %q then a hint naming %q", tt.args, errOut, tt.wantErr, tt.hint)
		}
		if out != "" {
			t.Errorf("%q: unexpected stdout %q", tt.args, out)
		}
	}
}

func TestLeaseWatchHelp(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"lease", "--help"}, []string{"grant", "revoke", "keepalive", "ttl", "list", "--lease"}},
		{[]string{"help", "lease"}, []string{"grant", "keepalive"}},
		{[]string{"lease", "grant", "--help"}, []string{"TTL", "--key", "coord lease grant 30", "hash tag"}},
		{[]string{"lease", "grant", "5", "-h"}, []string{"coord lease grant 30"}},
		{[]string{"lease", "revoke", "--help"}, []string{"coord lease revoke 694d77aa9e38260f"}},
		{[]string{"lease", "keepalive", "--help"}, []string{"--once", "keepalived with TTL", "Ctrl-C"}},
		{[]string{"lease", "ttl", "--help"}, []string{"--keys", "remaining", "already expired"}},
		{[]string{"lease", "list", "--help"}, []string{"found N leases", "-w table"}},
		{[]string{"watch", "--help"}, []string{"--prefix", "--rev", "--prev-kv", "--filter-put", "--filter-delete", "CompactRevision", "Ctrl-C"}},
		{[]string{"put", "--help"}, []string{"--lease ID", "--ttl DUR"}},
		{[]string{"--help"}, []string{"watch", "lease"}},
	} {
		code, out, errOut := runCLI(t, "", tt.args...)
		if code != 0 || errOut != "" {
			t.Errorf("%q: exit %d stderr %q", tt.args, code, errOut)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%q: help lacks %q:\n%s", tt.args, w, out)
			}
		}
	}
}
