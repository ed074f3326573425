package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord/server"
)

// runCLI runs the command line in-process and returns its exit code,
// stdout and stderr.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"coord"}, args...), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		hint    string
	}{
		{[]string{"get"}, "Error: missing argument: KEY [RANGE_END]", "coord get --help"},
		{[]string{"get", "a", "b", "c"}, `Error: too many arguments: unexpected "c"`, "coord get --help"},
		{[]string{"put", "a", "b", "c"}, `Error: too many arguments: unexpected "c"`, "coord put --help"},
		{[]string{"get", "a", "--bogus"}, "Error: unknown flag: --bogus", "coord get --help"},
		{[]string{"--bogus", "get", "a"}, "Error: unknown flag: --bogus", "coord get --help"},
		{[]string{"get", "a", "--limit", "x"}, `Error: invalid value "x" for flag -limit`, "coord get --help"},
		{[]string{"get", "a", "-w", "yaml"}, `Error: unknown output format "yaml"`, "coord get --help"},
		{[]string{"get", "a", "--prefix", "--from-key"}, "Error: --prefix and --from-key cannot be used together", "coord get --help"},
		{[]string{"nosuch"}, `Error: unknown command "nosuch"`, "coord --help"},
		{[]string{"version", "x"}, `Error: unexpected argument "x"`, "coord version --help"},
		{[]string{"compact", "abc"}, `Error: REV must be a positive integer`, "coord compact --help"},
		{[]string{"status", "--endpoints", ""}, "Error: --endpoints is empty", "coord status --help"},
		{[]string{"put", "k", "v", "--cert", "c.pem"}, "Error: --cert and --key must be given together", "coord put --help"},
		{[]string{"serve", "--shards", "0", "--data-dir", os.DevNull}, "Error: shards must be between 1 and 1024", "coord serve --help"},
		{[]string{"serve", "--log-format", "xml"}, `Error: unknown log format "xml"`, "coord serve --help"},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, "", tt.args...)
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

func TestTxnParseErrorIsUsageError(t *testing.T) {
	code, _, errOut := runCLI(t, "value(\"a\") = \"1\"\n\nfrob a\n", "txn")
	if code != exitUsage || !strings.HasPrefix(errOut, `Error: txn: line 3: unknown operation "frob"`) {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
}

func TestVersionAndHelp(t *testing.T) {
	code, out, _ := runCLI(t, "", "version")
	if code != 0 || out != "coord version "+version+"\n" {
		t.Fatalf("version: %d %q", code, out)
	}
	for _, args := range [][]string{
		{"--help"}, {"help"}, {},
		{"get", "--help"}, {"get", "a", "--help"}, {"help", "get"},
		{"put", "-h"}, {"del", "--help"}, {"txn", "--help"}, {"compact", "--help"},
		{"status", "--help"}, {"serve", "--help"}, {"dev", "--help"}, {"version", "--help"},
	} {
		code, out, errOut := runCLI(t, "", args...)
		if code != 0 || out == "" || errOut != "" {
			t.Errorf("%q: code %d, stdout %d bytes, stderr %q", args, code, len(out), errOut)
		}
	}
	_, out, _ = runCLI(t, "", "get", "--help")
	for _, want := range []string{"RANGE_END", "--prefix", "--print-value-only", "member_id", "--sort-by", "coord get greeting"} {
		if !strings.Contains(out, want) {
			t.Errorf("get --help lacks %q:\n%s", want, out)
		}
	}
	_, out, _ = runCLI(t, "", "serve", "--help")
	if !strings.Contains(out, "COORD_DATA_DIR") || !strings.Contains(out, "--max-txn-ops") {
		t.Errorf("serve --help lacks env vars or limits:\n%s", out)
	}
	code, _, errOut := runCLI(t, "", "help", "nosuch")
	if code != exitUsage || !strings.Contains(errOut, "nosuch") {
		t.Errorf("help nosuch: code %d stderr %q", code, errOut)
	}
}

// TestUnreachable checks that a failed operation exits 1 with one line.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	code, out, errOut := runCLI(t, "", "get", "a", "--endpoints", addr, "--timeout", "1s", "--dial-timeout", "200ms")
	if code != exitError || out != "" {
		t.Fatalf("code %d stdout %q stderr %q", code, out, errOut)
	}
	if !strings.HasPrefix(errOut, "Error: ") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("want one Error: line, got %q", errOut)
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("a\nb\r\n\n c \n"); got != "a; b; c" {
		t.Fatalf("oneLine = %q", got)
	}
	if got := oneLine(" x "); got != "x" {
		t.Fatalf("oneLine = %q", got)
	}
}

func TestReportError(t *testing.T) {
	var buf bytes.Buffer
	if code := reportError(nil, &buf); code != 0 || buf.Len() != 0 {
		t.Fatalf("nil: %d %q", code, buf.String())
	}
	buf.Reset()
	if code := reportError(errTest("boom\nsecond line"), &buf); code != exitError || buf.String() != "Error: boom; second line\n" {
		t.Fatalf("error: %d %q", code, buf.String())
	}
	buf.Reset()
	if code := reportError(&usageError{cmd: "coord get", msg: "bad"}, &buf); code != exitUsage || buf.String() != "Error: bad\nRun 'coord get --help' for usage.\n" {
		t.Fatalf("usage: %d %q", code, buf.String())
	}
	buf.Reset()
	if code := reportError(cli.Exit("", 0), &buf); code != 0 {
		t.Fatalf("exit 0: %d", code)
	}
}

// TestServeEnv checks that every serve flag is also read from COORD_<FLAG>.
func TestServeEnv(t *testing.T) {
	for _, f := range serveFlags() {
		name := f.Names()[0]
		ev, ok := f.(interface{ GetEnvVars() []string })
		if !ok || len(ev.GetEnvVars()) != 1 || ev.GetEnvVars()[0] != envName(name) {
			t.Errorf("flag --%s: env vars %v, want [%s]", name, ev.GetEnvVars(), envName(name))
		}
	}
	if got := envName("max-request-size"); got != "COORD_MAX_REQUEST_SIZE" {
		t.Errorf("envName = %q", got)
	}

	t.Setenv("COORD_NAME", "n2")
	t.Setenv("COORD_LISTEN_CLIENT", "127.0.0.1:8379")
	t.Setenv("COORD_INITIAL_CLUSTER", "n1=127.0.0.1:7380,n2=127.0.0.1:8380")
	t.Setenv("COORD_LISTEN_PEER", "127.0.0.1:8380")
	t.Setenv("COORD_SHARDS", "4")
	t.Setenv("COORD_MAX_TXN_OPS", "7")
	t.Setenv("COORD_LOG_FORMAT", "json")
	t.Setenv("COORD_LISTEN_ETCD", "127.0.0.1:12379")
	cfg := serveConfigFromArgs(t, "--shards", "8")
	if cfg.ListenEtcd != "127.0.0.1:12379" {
		t.Fatalf("COORD_LISTEN_ETCD: %q", cfg.ListenEtcd)
	}
	if cfg.Name != "n2" || cfg.DataDir != "n2.coord" || cfg.ListenClient != "127.0.0.1:8379" ||
		cfg.ListenPeer != "127.0.0.1:8380" || cfg.InitialCluster != "n1=127.0.0.1:7380,n2=127.0.0.1:8380" ||
		cfg.Shards != 8 || cfg.MaxTxnOps != 7 || cfg.ListenHTTP != "127.0.0.1:7381" {
		t.Fatalf("config from env: %+v", cfg)
	}
	t.Setenv("COORD_DATA_DIR", "/tmp/x")
	if cfg := serveConfigFromArgs(t); cfg.DataDir != "/tmp/x" {
		t.Fatalf("COORD_DATA_DIR: %q", cfg.DataDir)
	}
}

func TestServeDefaults(t *testing.T) {
	cfg := serveConfigFromArgs(t)
	if cfg.Name != "n1" || cfg.DataDir != "default.coord" || cfg.ListenClient != "127.0.0.1:7379" ||
		cfg.ListenPeer != "127.0.0.1:7380" || cfg.ListenHTTP != "127.0.0.1:7381" || cfg.InitialCluster != "" ||
		cfg.ListenEtcd != "127.0.0.1:2379" {
		t.Fatalf("defaults: %+v", cfg)
	}
	if cfg := serveConfigFromArgs(t, "--listen-etcd", ""); cfg.ListenEtcd != "" {
		t.Fatalf(`--listen-etcd "": %q`, cfg.ListenEtcd)
	}
	if cfg := serveConfigFromArgs(t, "--name", "n7"); cfg.DataDir != "n7.coord" {
		t.Fatalf("--name n7: data dir %q", cfg.DataDir)
	}
}

func TestDevConfigs(t *testing.T) {
	lc, err := server.NewLocalCluster(devClusterConfig(3, 7379, devEtcdPorts(3), "/d", 2))
	if err != nil {
		t.Fatal(err)
	}
	cfgs := lc.Configs()
	want := [][5]string{
		{"n1", "127.0.0.1:7379", "127.0.0.1:7380", "127.0.0.1:7381", "127.0.0.1:2379"},
		{"n2", "127.0.0.1:7389", "127.0.0.1:7390", "127.0.0.1:7391", "127.0.0.1:22379"},
		{"n3", "127.0.0.1:7399", "127.0.0.1:7400", "127.0.0.1:7401", "127.0.0.1:32379"},
	}
	for i, w := range want {
		c := cfgs[i]
		if c.Name != w[0] || c.ListenClient != w[1] || c.ListenPeer != w[2] || c.ListenHTTP != w[3] || c.ListenEtcd != w[4] || c.Shards != 2 || c.DataDir != "/d/"+w[0] {
			t.Errorf("member %d: %+v", i+1, c)
		}
		if c.InitialCluster != "n1=127.0.0.1:7380,n2=127.0.0.1:7390,n3=127.0.0.1:7400" {
			t.Errorf("initial cluster %q", c.InitialCluster)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("member %d: %v", i+1, err)
		}
	}
}

func TestDevEtcdPorts(t *testing.T) {
	got := devEtcdPorts(8)
	want := []int{2379, 22379, 32379, 42379, 52379, 62379, 0, 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("devEtcdPorts(8) = %v, want %v", got, want)
	}
	for _, tt := range []struct {
		arg  string
		want []int
		err  string
	}{
		{"0", []int{0, 0}, ""},
		{"2379,5000", []int{2379, 5000}, ""},
		{"2379", []int{2379, 0}, ""},
		{"", nil, ""},
		{"x", nil, "--etcd-ports"},
		{"70000", nil, "--etcd-ports"},
	} {
		got, err := parseEtcdPorts(tt.arg, 2)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseEtcdPorts(%q): err %v, want %q", tt.arg, err, tt.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("parseEtcdPorts(%q) = %v, %v; want %v", tt.arg, got, err, tt.want)
		}
	}
}

func serveConfigFromArgs(t *testing.T, args ...string) server.Config {
	t.Helper()
	var cfg server.Config
	app := &cli.App{
		Flags:          serveFlags(),
		Writer:         io.Discard,
		ErrWriter:      io.Discard,
		ExitErrHandler: func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			var err error
			cfg, err = serveConfig(c, io.Discard)
			return err
		},
	}
	if err := app.Run(append([]string{"serve"}, args...)); err != nil {
		t.Fatalf("serve %q: %v", args, err)
	}
	return cfg
}
