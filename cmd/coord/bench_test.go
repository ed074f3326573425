package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runBenchCLI runs `coord ARGS...` with the bench command registered even
// before main.go lists it.
func runBenchCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &cliEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}
	app := newApp(env)
	found := false
	for _, c := range app.Commands {
		if c.Name == "bench" {
			found = true
		}
	}
	if !found {
		cmd := benchCommand(env)
		prepareCommand(cmd)
		app.Commands = append(app.Commands, cmd)
	}
	argv := append([]string{"coord"}, args...)
	code := reportError(app.RunContext(context.Background(), reorderArgs(app, argv)), &errOut)
	return code, out.String(), errOut.String()
}

func TestBenchUsageErrors(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"bench"}, "Error: missing argument: WORKLOAD"},
		{[]string{"bench", "frob"}, `Error: unknown workload "frob"`},
		{[]string{"bench", "put", "--clients", "0"}, "Error: clients must be at least 1"},
		{[]string{"bench", "put", "--target", "etcd"}, "Error: --target etcd needs --endpoints"},
		{[]string{"bench", "put", "--target", "zk", "--endpoints", "127.0.0.1:1"}, `Error: unknown --target "zk"`},
		{[]string{"bench", "put", "--report", "x.png"}, "Error: --report x.png: want a file name ending in .html or .svg"},
		{[]string{"bench", "put", "--server-pids", "a"}, `Error: --server-pids: "a" is not a process ID`},
		{[]string{"bench", "put", "-w", "yaml"}, `Error: unknown output format "yaml"`},
		{[]string{"bench", "put", "--endpoints", "127.0.0.1:1", "--shards", "2"}, "Error: --shards applies only to the local cluster"},
	}
	for _, tt := range tests {
		code, out, errOut := runBenchCLI(t, tt.args...)
		if code != exitUsage || !strings.HasPrefix(errOut, tt.wantErr) || !strings.Contains(errOut, "coord bench --help") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and %q", tt.args, code, errOut, tt.wantErr)
		}
		if out != "" {
			t.Errorf("%q: unexpected stdout %q", tt.args, out)
		}
	}
}

func TestBenchUnreachable(t *testing.T) {
	code, _, errOut := runBenchCLI(t, "bench", "put", "--endpoints", "127.0.0.1:1", "--total", "5", "--dial-timeout", "200ms")
	if code != exitError || !strings.HasPrefix(errOut, "Error: ") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestBenchHelpListsWorkloads(t *testing.T) {
	code, out, _ := runBenchCLI(t, "bench", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, w := range []string{"put", "get", "txn", "lock-contended", "elect", "queue", "barrier", "watch", "lease", "semaphore", "--limit", "--target", "--report"} {
		if !strings.Contains(out, w) {
			t.Errorf("help lacks %q:\n%s", w, out)
		}
	}
}

// TestBenchLocalCluster runs `coord bench put` with no endpoints: it
// starts its own three-member cluster, prints JSON and writes a report.
func TestBenchLocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-member cluster")
	}
	t.Setenv("COORD_ENDPOINTS", "")
	os.Unsetenv("COORD_ENDPOINTS")
	report := filepath.Join(t.TempDir(), "r.html")
	code, out, errOut := runBenchCLI(t, "bench", "put", "--total", "200", "--clients", "8", "-w", "json", "--report", report)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var res struct {
		Workload     string   `json:"workload"`
		LocalCluster bool     `json:"local_cluster"`
		Endpoints    []string `json:"endpoints"`
		Ops          int64    `json:"ops"`
		Errors       int64    `json:"errors"`
		Latency      struct {
			P99 float64 `json:"p99"`
		} `json:"latency_ms"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	if res.Workload != "put" || !res.LocalCluster || len(res.Endpoints) != 3 || res.Ops != 200 || res.Errors != 0 || res.Latency.P99 <= 0 {
		t.Fatalf("unexpected result %+v", res)
	}
	page, err := os.ReadFile(report)
	if err != nil || !strings.Contains(string(page), "<svg") {
		t.Fatalf("report: %v", err)
	}
}
