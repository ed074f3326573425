package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sampleResult is a small run's result, built through the Recorder.
func sampleResult() *Result {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	r := NewRecorder(start)
	for i := 1; i <= 100; i++ {
		r.Done(time.Duration(i)*100*time.Microsecond, nil)
		if i%25 == 0 {
			r.Rotate(start.Add(time.Duration(i/25) * 250 * time.Millisecond))
		}
	}
	r.Done(time.Millisecond, errors.New("coord: timeout"))
	res := &Result{Workload: "put", Target: "coord", Endpoints: []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"},
		LocalCluster: true, Shards: 1, Unit: "put", Start: start.Format(time.RFC3339), ElapsedS: 1,
		Params: Params{Clients: 4, Conns: 2, DurationS: 1, Keys: 10, ValueSize: 256}}
	r.fill(res)
	res.OpsPerSec = 100
	res.Extra = map[string]any{"cas_succeeded": 3}
	res.Resources = &Resources{Scope: "this process", Processes: []ProcessStat{{PID: 1, CPUSeconds: 0.5, CPUCores: 0.5, RSSStart: 1 << 20, RSSEnd: 2 << 20, RSSPeak: 3 << 20}}}
	return res
}

func TestJSONShape(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sampleResult()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "}\n") {
		t.Fatalf("want one object on one line, got %q", out)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"workload", "target", "endpoints", "local_cluster", "shards", "params", "start", "elapsed_s",
		"ops", "errors", "error_kinds", "ops_per_s", "unit", "latency_ms", "percentiles", "timeline", "extra", "resources"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing key %q in %s", k, out)
		}
	}
	lat := m["latency_ms"].(map[string]any)
	for _, k := range []string{"count", "min", "mean", "stddev", "p50", "p90", "p99", "p99_9", "max"} {
		if _, ok := lat[k].(float64); !ok {
			t.Errorf("latency_ms.%s missing or not a number", k)
		}
	}
	params := m["params"].(map[string]any)
	if params["clients"].(float64) != 4 || params["conns"].(float64) != 2 {
		t.Errorf("params %v", params)
	}
	tl := m["timeline"].([]any)
	if len(tl) != 4 {
		t.Fatalf("timeline has %d intervals, want 4", len(tl))
	}
	for _, k := range []string{"end_s", "ops", "errors", "p50_ms", "p99_ms", "max_ms"} {
		if _, ok := tl[0].(map[string]any)[k]; !ok {
			t.Errorf("timeline entry lacks %q", k)
		}
	}
	if m["ops"].(float64) != 101 || m["errors"].(float64) != 1 {
		t.Errorf("ops %v errors %v", m["ops"], m["errors"])
	}
	// The struct round-trips.
	var back Result
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.Latency.P99 != sampleResult().Latency.P99 {
		t.Fatalf("round trip: %v %+v", err, back.Latency)
	}
}

func TestWriteText(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteText(&buf, sampleResult()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"put on coord (local 3-member cluster, 1 shard), 4 clients over 2 connections, 10 keys, 256-byte values\n",
		"  throughput  100.0 ops/s\n",
		"  errors      1\n",
		"  latency     p50 5.00 ms  p90 9.01 ms  p99 9.90 ms  p99.9 10.0 ms  max 10.0 ms\n",
		"  error       1× coord: timeout\n",
		"  extra       cas_succeeded=3\n",
		"pid 1: 0.50 CPU s (0.50 cores), RSS 1 MiB → 2 MiB (peak 3 MiB)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
}

// wellFormed checks that s parses as XML from start to end.
func wellFormed(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
	}
}

func TestReports(t *testing.T) {
	dir := t.TempDir()
	res := sampleResult()
	svgPath, htmlPath := filepath.Join(dir, "r.svg"), filepath.Join(dir, "r.html")
	if err := WriteReport(svgPath, res); err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(htmlPath, res); err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(filepath.Join(dir, "r.png"), res); err == nil {
		t.Fatal("a .png report was accepted")
	}
	svg, _ := os.ReadFile(svgPath)
	wellFormed(t, string(svg))
	page, _ := os.ReadFile(htmlPath)
	for _, want := range []string{"Latency over time", "Latency distribution", "Throughput over time", "<path d=\"M"} {
		if !strings.Contains(string(svg), want) || !strings.Contains(string(page), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// Each inline chart of the page is well-formed SVG too.
	for _, part := range strings.Split(string(page), "<svg")[1:] {
		wellFormed(t, "<svg"+strings.SplitAfter(part, "</svg>")[0])
	}
	// An empty run still makes a report.
	empty := &Result{Workload: "get", Target: "etcd"}
	wellFormed(t, ReportSVG(empty))
	if !strings.Contains(ReportSVG(empty), "no data") {
		t.Error("empty report does not say there is no data")
	}
}

func TestProgressLine(t *testing.T) {
	cfg := Config{Workload: "put", Duration: 10 * time.Second}
	got := progressLine(cfg, 5*time.Second, 5000, 2)
	want := "put [===============>              ]  50%  5.0s/10s, 5000 ops  1000 ops/s  2 errors"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	cfg = Config{Workload: "get", Total: 100}
	if got := progressLine(cfg, time.Second, 100, 0); !strings.Contains(got, "[==============================] 100%  100/100 ops") {
		t.Fatalf("got %q", got)
	}
}
