package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/queue"
)

func TestPrintQueueAndBarrier(t *testing.T) {
	item := &queue.Item{Seq: 42, Value: []byte("job 1"), Deliveries: 2}
	fresh := &queue.Item{Seq: 7, Value: []byte("x"), Deliveries: 1}
	binary := &queue.Item{Seq: 8, Value: []byte{0xff, 0x00}, Deliveries: 1}
	owned := &queue.Item{Seq: 42, Value: []byte("job 1"), Deliveries: 2, Receipt: 0xdeadbeef}
	tests := []struct {
		name string
		f    func(w *bytes.Buffer) error
		want string
	}{
		{"push", func(w *bytes.Buffer) error { return printQueueSeqs(w, formatSimple, []int64{1, 2, 3}) }, "1\n2\n3\n"},
		{"push json", func(w *bytes.Buffer) error { return printQueueSeqs(w, formatJSON, []int64{1, 2}) }, `{"seqs":[1,2]}` + "\n"},
		{"push json none", func(w *bytes.Buffer) error { return printQueueSeqs(w, formatJSON, nil) }, `{"seqs":[]}` + "\n"},
		{"pop", func(w *bytes.Buffer) error { return printQueueItem(w, formatSimple, fresh, false, false) }, "7\nx\n"},
		{"pop deliveries", func(w *bytes.Buffer) error { return printQueueItem(w, formatSimple, item, true, false) }, "42\njob 1\ndeliveries: 2\n"},
		{"pop json", func(w *bytes.Buffer) error { return printQueueItem(w, formatJSON, item, false, false) },
			`{"seq":42,"value":"job 1","deliveries":2}` + "\n"},
		{"pop json binary", func(w *bytes.Buffer) error { return printQueueItem(w, formatJSON, binary, false, false) },
			`{"seq":8,"value_base64":"/wA=","deliveries":1}` + "\n"},
		{"pop binary", func(w *bytes.Buffer) error { return printQueueItem(w, formatSimple, binary, false, false) }, "8\n\xff\x00\n"},
		{"pop table", func(w *bytes.Buffer) error { return printQueueItem(w, formatTable, item, false, false) }, "" +
			"+-----+-------+------------+\n" +
			"| SEQ | VALUE | DELIVERIES |\n" +
			"+-----+-------+------------+\n" +
			"|  42 | job 1 |          2 |\n" +
			"+-----+-------+------------+\n"},
		{"pop no-ack", func(w *bytes.Buffer) error { return printQueueItem(w, formatSimple, owned, true, true) },
			"42\njob 1\ndeliveries: 2\nreceipt: 00000000deadbeef\n"},
		{"pop no-ack json", func(w *bytes.Buffer) error { return printQueueItem(w, formatJSON, owned, true, true) },
			`{"seq":42,"value":"job 1","deliveries":2,"receipt":"00000000deadbeef"}` + "\n"},
		{"pop no-ack table", func(w *bytes.Buffer) error { return printQueueItem(w, formatTable, owned, true, true) }, "" +
			"+-----+-------+------------+------------------+\n" +
			"| SEQ | VALUE | DELIVERIES | RECEIPT          |\n" +
			"+-----+-------+------------+------------------+\n" +
			"|  42 | job 1 |          2 | 00000000deadbeef |\n" +
			"+-----+-------+------------+------------------+\n"},
		{"len", func(w *bytes.Buffer) error { return printQueueLen(w, formatSimple, "jobs", 3, 2) }, "5\n"},
		{"len json", func(w *bytes.Buffer) error { return printQueueLen(w, formatJSON, "jobs", 3, 2) },
			`{"name":"jobs","len":5,"ready":3,"in_flight":2}` + "\n"},
		{"len table", func(w *bytes.Buffer) error { return printQueueLen(w, formatTable, "jobs", 3, 2) }, "" +
			"+------+-------+-----------+-------+\n" +
			"| NAME | READY | IN FLIGHT | TOTAL |\n" +
			"+------+-------+-----------+-------+\n" +
			"| jobs |     3 |         2 |     5 |\n" +
			"+------+-------+-----------+-------+\n"},
		{"entered", func(w *bytes.Buffer) error { return printBarrierStep(w, formatSimple, "B", 3, "entered") }, "entered\n"},
		{"left json", func(w *bytes.Buffer) error { return printBarrierStep(w, formatJSON, "B", 3, "left") },
			`{"name":"B","count":3,"state":"left"}` + "\n"},
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

func TestReorderArgsQueueAndBarrier(t *testing.T) {
	tests := []struct{ in, want string }{
		{"coord queue push Q a b --max-deliveries 3", "coord queue push --max-deliveries 3 -- Q a b"},
		{"coord queue push Q -- -a --b", "coord queue push -- Q -a --b"},
		{"coord queue pop Q --wait 5s --no-ack -w json", "coord -w json queue pop --wait 5s --no-ack -- Q"},
		{"coord queue pop --visibility=1s Q", "coord queue pop --visibility=1s -- Q"},
		{"coord queue ack Q 12 --endpoints x:1", "coord --endpoints x:1 queue ack -- Q 12"},
		{"coord queue ack Q 12 --receipt 00ff", "coord queue ack --receipt 00ff -- Q 12"},
		{"coord barrier wait B --timeout 1s", "coord --timeout 1s barrier wait -- B"},
		// barrier enter runs a command after "--", kept behind a second "--".
		{"coord barrier enter B --count 3 -- date +%s.%N", "coord barrier enter --count 3 -- B -- date +%s.%N"},
		{"coord barrier enter B -- sh --count 2 -w json", "coord barrier enter -- B -- sh --count 2 -w json"},
		{"coord barrier enter --ttl 5s B --count=2", "coord barrier enter --ttl 5s --count=2 -- B"},
	}
	app := newApp(&cliEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
	for _, tt := range tests {
		if got := joinTestArgs(reorderArgs(app, strings.Fields(tt.in))); got != tt.want {
			t.Errorf("reorderArgs(%q)\n got  %q\n want %q", tt.in, got, tt.want)
		}
	}
}

// TestBarrierEnterParsing runs barrier enter's argument handling with its
// action's network part replaced.
func TestBarrierEnterParsing(t *testing.T) {
	type seen struct {
		name  string
		count int64
		ttl   int64
		argv  []string
	}
	parse := func(args ...string) (seen, int) {
		t.Helper()
		var s seen
		app := newApp(&cliEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
		enter := findCommand(findCommand(app.Commands, "barrier", true).Subcommands, "enter", false)
		enter.Action = func(c *cli.Context) error {
			own, o, err := parseGuard(c, 1, "NAME")
			if err != nil {
				return err
			}
			s = seen{name: own[0], count: c.Int64("count"), ttl: o.ttl, argv: o.argv}
			return nil
		}
		code := reportError(app.Run(reorderArgs(app, append([]string{"coord"}, args...))), io.Discard)
		return s, code
	}
	s, code := parse("barrier", "enter", "B", "--count", "3", "--", "sh", "-c", "echo --count $COORD_BARRIER_COUNT", "--ttl", "1")
	if code != 0 || s.name != "B" || s.count != 3 || s.ttl != 10 ||
		strings.Join(s.argv, "|") != "sh|-c|echo --count $COORD_BARRIER_COUNT|--ttl|1" {
		t.Fatalf("exit %d, %+v", code, s)
	}
	s, code = parse("barrier", "enter", "--ttl", "3s", "B", "--count=2")
	if code != 0 || s.name != "B" || s.count != 2 || s.ttl != 3 || s.argv != nil {
		t.Fatalf("exit %d, %+v", code, s)
	}
}

func TestQueueAndBarrierUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"queue", "push"}, "Error: missing argument: NAME VALUE..."},
		{[]string{"queue", "push", "Q"}, "Error: missing argument: NAME VALUE..."},
		{[]string{"queue", "push", "Q", "v", "--max-deliveries", "-1"}, "Error: --max-deliveries must not be negative"},
		{[]string{"queue", "pop"}, "Error: missing argument: NAME"},
		{[]string{"queue", "pop", "Q", "R"}, `Error: too many arguments: unexpected "R"`},
		{[]string{"queue", "pop", "Q", "--wait", "-1s"}, "Error: --wait must not be negative"},
		{[]string{"queue", "pop", "Q", "--visibility", "0s"}, "Error: --visibility must be positive"},
		{[]string{"queue", "pop", "Q", "--wait", "soon"}, `Error: invalid value "soon" for flag -wait`},
		{[]string{"queue", "pop", "Q", "-w", "yaml"}, `Error: unknown output format "yaml"`},
		{[]string{"queue", "ack", "Q"}, "Error: missing argument: NAME SEQ"},
		{[]string{"queue", "ack", "Q", "x"}, `Error: SEQ must be a positive integer, got "x"`},
		{[]string{"queue", "ack", "Q", "0"}, `Error: SEQ must be a positive integer, got "0"`},
		{[]string{"queue", "ack", "Q", "3"}, "Error: missing --receipt R: the receipt that pop --no-ack printed"},
		{[]string{"queue", "ack", "Q", "3", "--receipt", "xyz"}, `Error: --receipt: receipt "xyz" is not 1 to 16 hex digits`},
		{[]string{"queue", "ack", "Q", "3", "--receipt", "0"}, `Error: --receipt: receipt "0" is zero`},
		{[]string{"queue", "peek"}, "Error: missing argument: NAME"},
		{[]string{"queue", "len", "Q", "R"}, `Error: too many arguments: unexpected "R"`},
		{[]string{"queue", "frob"}, `Error: unknown queue command "frob"`},
		{[]string{"barrier", "hold"}, "Error: missing argument: NAME"},
		{[]string{"barrier", "release", "B", "C"}, `Error: too many arguments: unexpected "C"`},
		{[]string{"barrier", "wait"}, "Error: missing argument: NAME"},
		{[]string{"barrier", "enter", "B"}, "Error: missing --count N"},
		{[]string{"barrier", "enter", "--count", "2"}, "Error: missing argument: NAME"},
		{[]string{"barrier", "enter", "B", "--count", "0"}, "Error: --count must be at least 1"},
		{[]string{"barrier", "enter", "B", "--count", "2", "x"}, `Error: too many arguments: unexpected "x" (a command to run goes after "--"`},
		{[]string{"barrier", "enter", "B", "--count", "2", "--"}, `Error: missing command after "--"`},
		{[]string{"barrier", "enter", "B", "--count", "2", "--ttl", "0"}, "Error: --ttl: TTL must be positive"},
		{[]string{"barrier", "frob"}, `Error: unknown barrier command "frob"`},
	} {
		code, out, errOut := runCLI(t, "", tt.args...)
		if code != exitUsage || out != "" || !strings.HasPrefix(errOut, tt.want) || strings.Count(errOut, "\n") != 2 {
			t.Errorf("%q: exit %d stdout %q stderr %q, want usage error %q", tt.args, code, out, errOut, tt.want)
		}
	}
}

func TestQueueAndBarrierHelp(t *testing.T) {
	for _, args := range [][]string{
		{"queue", "--help"}, {"queue", "push", "--help"}, {"queue", "pop", "--help"}, {"queue", "ack", "--help"},
		{"queue", "peek", "--help"}, {"queue", "len", "--help"},
		{"barrier", "--help"}, {"barrier", "hold", "--help"}, {"barrier", "release", "--help"},
		{"barrier", "wait", "--help"}, {"barrier", "enter", "--help"},
	} {
		code, out, errOut := runCLI(t, "", args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "coord "+strings.Join(args[:len(args)-1], " ")) {
			t.Errorf("%q: exit %d stdout %q stderr %q", args, code, out, errOut)
		}
	}
	// Each command's help has examples.
	for _, args := range [][]string{{"queue", "pop"}, {"barrier", "enter"}, {"barrier", "wait"}, {"queue", "push"}} {
		_, out, _ := runCLI(t, "", append(args, "--help")...)
		if strings.Count(out, "   coord "+strings.Join(args, " ")) < 1 {
			t.Errorf("%q --help has no example:\n%s", args, out)
		}
	}
	// The network part is never reached for a command that cannot be found.
	code, out, errOut := runCLI(t, "", "barrier", "enter", "B", "--count", "2", "--endpoints", "127.0.0.1:1", "--", "coord-no-such-command")
	if code != exitError || out != "" || !strings.Contains(errOut, "cannot run coord-no-such-command") {
		t.Errorf("barrier enter -- missing command: exit %d stdout %q stderr %q", code, out, errOut)
	}
}

// TestQueueAndBarrierUnreachable: the commands that wait fail at once when
// no member can be reached, instead of waiting forever.
func TestQueueAndBarrierUnreachable(t *testing.T) {
	dead := freeAddr(t)
	for _, args := range [][]string{
		{"barrier", "wait", "B"},
		{"barrier", "enter", "B", "--count", "2"},
		{"barrier", "enter", "B", "--count", "2", "--", "true"},
		{"queue", "pop", "Q", "--wait", "1m"},
		{"queue", "pop", "Q", "--no-ack"},
	} {
		start := time.Now()
		code, out, errOut := runCLI(t, "", append(args, "--endpoints", dead, "--timeout", "2s")...)
		if code != exitError || out != "" || !strings.Contains(errOut, "is a member running?") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: exit %d stdout %q stderr %q", args, code, out, errOut)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%q took %s", args, d)
		}
	}
}
