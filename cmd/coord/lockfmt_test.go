package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord/wire"
)

func TestPrintLockAndLeader(t *testing.T) {
	h := wire.ResponseHeader{Shard: 1, Revision: 7, RaftTerm: 2, Member: "n1"}
	const hj = `{"shard":1,"revision":7,"raft_term":2,"member":"n1"}`
	held := &wire.LockStatusResponse{Header: h, Held: true, Key: []byte("\x00coord/lock/{L}/1"), Owner: []byte("web1 pid 42: ./backup.sh"),
		Token: 1234, Lease: 0x694d77aa9e38260f, LeaseTTL: 8, Waiters: 2}
	free := &wire.LockStatusResponse{Header: h}
	leader := &wire.LeaderResponse{Header: h, Key: []byte("k"), Value: []byte("10.0.0.5:5432"), Term: 99, Lease: 0x694d77aa9e38260f}
	tests := []struct {
		name string
		f    func(w *bytes.Buffer) error
		want string
	}{
		{"held", func(w *bytes.Buffer) error { return printLockHeld(w, formatSimple, "L", []byte("k"), 1234) }, "L 1234\n"},
		{"held json", func(w *bytes.Buffer) error { return printLockHeld(w, formatJSON, "L", []byte("k"), 1234) },
			`{"name":"L","key":"k","token":1234}` + "\n"},
		{"status", func(w *bytes.Buffer) error { return printLockStatus(w, formatSimple, "L", held) },
			"holder: web1 pid 42: ./backup.sh\ntoken: 1234\nlease: 694d77aa9e38260f\nttl: 8s\nwaiters: 2\n"},
		{"status free", func(w *bytes.Buffer) error { return printLockStatus(w, formatSimple, "L", free) }, "free\nwaiters: 0\n"},
		{"status json", func(w *bytes.Buffer) error { return printLockStatus(w, formatJSON, "L", held) },
			`{"header":` + hj + `,"name":"L","held":true,"key":"\u0000coord/lock/{L}/1","owner":"web1 pid 42: ./backup.sh","token":1234,"lease":7587852521871779343,"lease_ttl":8,"waiters":2}` + "\n"},
		{"status free json", func(w *bytes.Buffer) error { return printLockStatus(w, formatJSON, "L", free) },
			`{"header":` + hj + `,"name":"L","held":false,"token":0,"lease":0,"lease_ttl":0,"waiters":0}` + "\n"},
		{"status binary owner", func(w *bytes.Buffer) error {
			return printLockStatus(w, formatJSON, "L", &wire.LockStatusResponse{Held: true, Owner: []byte{0xff}, Token: 1})
		}, `{"header":{"shard":0,"revision":0,"raft_term":0,"member":""},"name":"L","held":true,"key":"","owner_base64":"/w==","token":1,"lease":0,"lease_ttl":0,"waiters":0}` + "\n"},
		{"status table", func(w *bytes.Buffer) error { return printLockStatus(w, formatTable, "L", held) }, "" +
			"+------+--------------------------+-------+------------------+-----+---------+\n" +
			"| NAME | HOLDER                   | TOKEN | LEASE            | TTL | WAITERS |\n" +
			"+------+--------------------------+-------+------------------+-----+---------+\n" +
			"| L    | web1 pid 42: ./backup.sh |  1234 | 694d77aa9e38260f |  8s |       2 |\n" +
			"+------+--------------------------+-------+------------------+-----+---------+\n"},
		{"status free table", func(w *bytes.Buffer) error { return printLockStatus(w, formatTable, "L", free) }, "" +
			"+------+--------+-------+-------+-----+---------+\n" +
			"| NAME | HOLDER | TOKEN | LEASE | TTL | WAITERS |\n" +
			"+------+--------+-------+-------+-----+---------+\n" +
			"| L    | (free) |       |       |     |       0 |\n" +
			"+------+--------+-------+-------+-----+---------+\n"},
		{"campaign", func(w *bytes.Buffer) error { return printCampaignLeader(w, formatSimple, "db", leader) }, "db\n10.0.0.5:5432\nterm 99\n"},
		{"campaign json", func(w *bytes.Buffer) error { return printCampaignLeader(w, formatJSON, "db", leader) },
			`{"name":"db","key":"k","value":"10.0.0.5:5432","term":99,"lease":7587852521871779343}` + "\n"},
		{"leader", func(w *bytes.Buffer) error { return printLeader(w, formatSimple, "db", leader) }, "10.0.0.5:5432\nterm 99\n"},
		{"leader json", func(w *bytes.Buffer) error { return printLeader(w, formatJSON, "db", leader) },
			`{"header":` + hj + `,"name":"db","key":"k","value":"10.0.0.5:5432","term":99,"lease":7587852521871779343}` + "\n"},
		{"leader table", func(w *bytes.Buffer) error { return printLeader(w, formatTable, "db", leader) }, "" +
			"+------+---------------+------+------------------+\n" +
			"| NAME | VALUE         | TERM | LEASE            |\n" +
			"+------+---------------+------+------------------+\n" +
			"| db   | 10.0.0.5:5432 |   99 | 694d77aa9e38260f |\n" +
			"+------+---------------+------+------------------+\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := tt.f(&buf); err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if buf.String() != tt.want {
			t.Errorf("%s:\n got  %q\n want %q", tt.name, buf.String(), tt.want)
		}
	}
}

func TestReorderArgsLockAndElect(t *testing.T) {
	tests := []struct{ in, want string }{
		// The command after "--" is kept behind a second "--", untouched.
		{"coord lock acquire L -- sh -c x", "coord lock acquire -- L -- sh -c x"},
		{"coord lock acquire L --ttl 5s -- echo --ttl 1 -w json", "coord lock acquire --ttl 5s -- L -- echo --ttl 1 -w json"},
		{"coord lock acquire --kill-grace 1s L -w json -- cmd", "coord -w json lock acquire --kill-grace 1s -- L -- cmd"},
		{"coord lock acquire L", "coord lock acquire -- L"},
		// After lock acquire, --timeout is the command's (the wait) ...
		{"coord lock acquire L --timeout 1m -- cmd", "coord lock acquire --timeout 1m -- L -- cmd"},
		{"coord lock acquire --timeout=1m L", "coord lock acquire --timeout=1m -- L"},
		// ... before it, the global per-request one; both can be given.
		{"coord --timeout 2s lock acquire L --timeout 1m", "coord --timeout 2s lock acquire --timeout 1m -- L"},
		// Other lock commands have no --timeout of their own.
		{"coord lock status L --timeout 2s", "coord --timeout 2s lock status -- L"},
		{"coord elect campaign E v --ttl 3 -- run.sh -x", "coord elect campaign --ttl 3 -- E v -- run.sh -x"},
		{"coord elect leader E -w json", "coord -w json elect leader -- E"},
		// Help wins, even with a command.
		{"coord lock acquire L --help -- cmd", "coord lock acquire --help"},
		// Only the first "--" starts the command.
		{"coord lock acquire L -- sh -c 'a' -- b", "coord lock acquire -- L -- sh -c 'a' -- b"},
	}
	app := newApp(&cliEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
	for _, tt := range tests {
		if got := joinTestArgs(reorderArgs(app, strings.Fields(tt.in))); got != tt.want {
			t.Errorf("reorderArgs(%q)\n got  %q\n want %q", tt.in, got, tt.want)
		}
	}
}

// TestLockAcquireTimeoutShadowing runs lock acquire's flag parsing with its
// action replaced, to see which --timeout lands where.
func TestLockAcquireTimeoutShadowing(t *testing.T) {
	type seen struct {
		wait, request time.Duration
		args          []string
		argv          []string
		name          string
	}
	parse := func(args ...string) seen {
		t.Helper()
		var s seen
		env := &cliEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
		app := newApp(env)
		acquire := findCommand(findCommand(app.Commands, "lock", true).Subcommands, "acquire", false)
		acquire.Action = func(c *cli.Context) error {
			own, _, err := parseGuard(c, 1, "NAME")
			if err != nil {
				return err
			}
			s.wait, s.request = c.Duration("timeout"), rootContext(c).Duration("timeout")
			s.args = c.Args().Slice()
			s.name = own[0]
			_, s.argv = splitPassthrough(s.args)
			return nil
		}
		var errOut bytes.Buffer
		if code := reportError(app.RunContext(t.Context(), reorderArgs(app, append([]string{"coord"}, args...))), &errOut); code != 0 {
			t.Fatalf("%q: exit %d %s", args, code, errOut.String())
		}
		return s
	}
	s := parse("lock", "acquire", "L")
	if s.wait != 0 || s.request != 5*time.Second || s.name != "L" || s.argv != nil {
		t.Fatalf("defaults: %+v", s)
	}
	s = parse("lock", "acquire", "L", "--timeout", "1m", "--", "sh", "-c", "x --timeout 3s")
	if s.wait != time.Minute || s.request != 5*time.Second || strings.Join(s.argv, "|") != "sh|-c|x --timeout 3s" {
		t.Fatalf("--timeout after: %+v", s)
	}
	s = parse("--timeout", "2s", "lock", "acquire", "L")
	if s.wait != 0 || s.request != 2*time.Second {
		t.Fatalf("--timeout before: %+v", s)
	}
	s = parse("--timeout", "2s", "lock", "acquire", "--timeout", "30s", "L", "--", "true")
	if s.wait != 30*time.Second || s.request != 2*time.Second || strings.Join(s.argv, "|") != "true" {
		t.Fatalf("both: %+v", s)
	}
}

func TestLockElectHelp(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"lock", "--help"}, []string{"acquire", "status", "fencing token"}},
		{[]string{"lock"}, []string{"acquire", "status"}},
		{[]string{"lock", "acquire", "--help"}, []string{"COORD_LOCK_TOKEN", "--kill-grace", "--ttl", "--timeout", "coord --timeout 2s lock acquire", "SIGKILL", "coord lock acquire backup -- ./backup.sh"}},
		{[]string{"help", "lock"}, []string{"acquire"}},
		{[]string{"lock", "status", "-h"}, []string{"holder:", "waiters:", "-w json"}},
		{[]string{"elect", "--help"}, []string{"campaign", "leader", "observe", "resign"}},
		{[]string{"elect", "campaign", "--help"}, []string{"COORD_ELECTION_TERM", "COORD_ELECTION_VALUE", "--kill-grace", "term T"}},
		{[]string{"elect", "leader", "--help"}, []string{"term T", "-w json"}},
		{[]string{"elect", "observe", "--help"}, []string{"Ctrl-C"}},
		{[]string{"elect", "resign", "--help"}, []string{"OK"}},
		{[]string{"--help"}, []string{"lock", "elect"}},
	} {
		code, out, errOut := runCLI(t, "", tt.args...)
		if code != 0 || errOut != "" {
			t.Errorf("%q: exit %d stderr %q", tt.args, code, errOut)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%q lacks %q:\n%s", tt.args, w, out)
			}
		}
	}
	// lock acquire's help does not offer the global --timeout as if it
	// could go after the command.
	_, out, _ := runCLI(t, "", "lock", "acquire", "--help")
	if strings.Contains(out, "--timeout DURATION  --dial-timeout") {
		t.Errorf("lock acquire --help shows the generic global flags footer:\n%s", out)
	}
}

// TestPrintLockStatusShared: a lock with shared owners lists its holders
// and its queue with their modes (the exclusive-only output is pinned by
// TestPrintLockAndLeader).
func TestPrintLockStatusShared(t *testing.T) {
	h := wire.ResponseHeader{Shard: 1, Revision: 7, RaftTerm: 2, Member: "n1"}
	const hj = `{"shard":1,"revision":7,"raft_term":2,"member":"n1"}`
	const lease = 0x694d77aa9e38260f
	shared := &wire.LockStatusResponse{Header: h, Held: true, Readers: 2, Waiters: 1,
		Holders: []wire.LockOwner{
			{Key: []byte("k1"), Owner: []byte("web1 pid 42: ./read.sh"), Token: 9, Lease: lease, LeaseTTL: 8, Shared: true},
			{Key: []byte("k2"), Owner: []byte("web2 pid 7"), Token: 9, Lease: lease, LeaseTTL: 10, Shared: true},
		},
		Queue: []wire.LockOwner{{Key: []byte("k3"), Owner: []byte("web3 pid 1: ./write.sh"), Lease: lease, LeaseTTL: 9}},
	}
	excl := &wire.LockStatusResponse{Header: h, Held: true, Key: []byte("k1"), Owner: []byte("w"), Token: 5, Lease: lease, LeaseTTL: 3, Waiters: 1,
		Holders: []wire.LockOwner{{Key: []byte("k1"), Owner: []byte("w"), Token: 5, Lease: lease, LeaseTTL: 3}},
		Queue:   []wire.LockOwner{{Key: []byte("k2"), Lease: lease, LeaseTTL: 4, Shared: true}},
	}
	tests := []struct {
		name string
		f    func(w *bytes.Buffer) error
		want string
	}{
		{"shared", func(w *bytes.Buffer) error { return printLockStatus(w, formatSimple, "L", shared) }, "" +
			"readers: 2\n" +
			"waiters: 1\n" +
			"holders:\n" +
			"  shared token 9 lease 694d77aa9e38260f ttl 8s: web1 pid 42: ./read.sh\n" +
			"  shared token 9 lease 694d77aa9e38260f ttl 10s: web2 pid 7\n" +
			"queue:\n" +
			"  exclusive lease 694d77aa9e38260f ttl 9s: web3 pid 1: ./write.sh\n"},
		{"exclusive with a reader waiting", func(w *bytes.Buffer) error { return printLockStatus(w, formatSimple, "L", excl) }, "" +
			"holder: w\ntoken: 5\nlease: 694d77aa9e38260f\nttl: 3s\nwaiters: 1\n" +
			"holders:\n" +
			"  exclusive token 5 lease 694d77aa9e38260f ttl 3s: w\n" +
			"queue:\n" +
			"  shared lease 694d77aa9e38260f ttl 4s\n"},
		{"shared json", func(w *bytes.Buffer) error { return printLockStatus(w, formatJSON, "L", shared) },
			`{"header":` + hj + `,"name":"L","held":true,"token":0,"lease":0,"lease_ttl":0,"waiters":1,"readers":2,"holders":[` +
				`{"key":"k1","owner":"web1 pid 42: ./read.sh","mode":"shared","token":9,"lease":7587852521871779343,"lease_ttl":8},` +
				`{"key":"k2","owner":"web2 pid 7","mode":"shared","token":9,"lease":7587852521871779343,"lease_ttl":10}],"queue":[` +
				`{"key":"k3","owner":"web3 pid 1: ./write.sh","mode":"exclusive","token":0,"lease":7587852521871779343,"lease_ttl":9}]}` + "\n"},
		{"shared table", func(w *bytes.Buffer) error { return printLockStatus(w, formatTable, "L", shared) }, "" +
			"+------+---------+-----------+------------------------+-------+------------------+-----+\n" +
			"| NAME | STATE   | MODE      | OWNER                  | TOKEN | LEASE            | TTL |\n" +
			"+------+---------+-----------+------------------------+-------+------------------+-----+\n" +
			"| L    | holds   | shared    | web1 pid 42: ./read.sh |     9 | 694d77aa9e38260f |  8s |\n" +
			"| L    | holds   | shared    | web2 pid 7             |     9 | 694d77aa9e38260f | 10s |\n" +
			"| L    | waits 1 | exclusive | web3 pid 1: ./write.sh |       | 694d77aa9e38260f |  9s |\n" +
			"+------+---------+-----------+------------------------+-------+------------------+-----+\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := tt.f(&buf); err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if buf.String() != tt.want {
			t.Errorf("%s:\n got  %q\n want %q", tt.name, buf.String(), tt.want)
		}
	}
}
