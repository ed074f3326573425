package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteJSON writes res as one JSON object on one line.
func WriteJSON(w io.Writer, res *Result) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// Describe is a one-line description of the run: workload, target, load.
func Describe(res *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s", res.Workload, res.Target)
	if res.LocalCluster {
		fmt.Fprintf(&b, " (local %d-member cluster", len(res.Endpoints))
		if res.Shards > 0 {
			fmt.Fprintf(&b, ", %d shard%s", res.Shards, plural(res.Shards))
		}
		b.WriteString(")")
	} else if len(res.Endpoints) > 0 {
		fmt.Fprintf(&b, " at %s", strings.Join(res.Endpoints, ","))
	}
	p := res.Params
	fmt.Fprintf(&b, ", %d client%s over %d connection%s", p.Clients, plural(p.Clients), p.Conns, plural(p.Conns))
	if p.Rate > 0 {
		fmt.Fprintf(&b, ", open loop at %g ops/s", p.Rate)
	}
	if p.Keys > 0 {
		fmt.Fprintf(&b, ", %d keys", p.Keys)
	}
	if p.ValueSize > 0 {
		fmt.Fprintf(&b, ", %d-byte values", p.ValueSize)
	}
	if p.Watchers > 0 {
		fmt.Fprintf(&b, ", %d watchers", p.Watchers)
	}
	if p.Sessions > 0 {
		fmt.Fprintf(&b, ", %d sessions", p.Sessions)
	}
	if p.TTLSeconds > 0 {
		fmt.Fprintf(&b, ", TTL %gs", p.TTLSeconds)
	}
	return b.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// SummaryRows returns the result as (name, value) rows: what the text
// and table outputs show.
func SummaryRows(res *Result) [][2]string {
	l := res.Latency
	rows := [][2]string{
		{"operations", fmt.Sprintf("%d (%s) in %.2fs", res.Ops, res.Unit, res.ElapsedS)},
		{"throughput", fmt.Sprintf("%.1f ops/s", res.OpsPerSec)},
		{"errors", fmt.Sprint(res.Errors)},
		{"latency", fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s", fmtMs(l.P50), fmtMs(l.P90), fmtMs(l.P99), fmtMs(l.P999), fmtMs(l.Max))},
		{"", fmt.Sprintf("min %s  mean %s  stddev %s  (%d samples)", fmtMs(l.Min), fmtMs(l.Mean), fmtMs(l.StdDev), l.Count)},
	}
	if r := res.Resources; r != nil {
		for _, p := range r.Processes {
			rows = append(rows, [2]string{"resources", fmt.Sprintf("pid %d: %.2f CPU s (%.2f cores), RSS %s → %s (peak %s)",
				p.PID, p.CPUSeconds, p.CPUCores, mib(p.RSSStart), mib(p.RSSEnd), mib(p.RSSPeak))})
		}
		rows = append(rows, [2]string{"", "measured: " + r.Scope})
	}
	if len(res.Extra) > 0 {
		keys := make([]string, 0, len(res.Extra))
		for k := range res.Extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%v", k, res.Extra[k]))
		}
		rows = append(rows, [2]string{"extra", strings.Join(parts, "  ")})
	}
	msgs := topErrors(res.ErrorKinds)
	for i, m := range msgs {
		if i == 5 {
			rows = append(rows, [2]string{"", fmt.Sprintf("… and %d more kinds", len(msgs)-5)})
			break
		}
		rows = append(rows, [2]string{"error", fmt.Sprintf("%d× %s", res.ErrorKinds[m], m)})
	}
	if res.Interrupted {
		rows = append(rows, [2]string{"note", "interrupted: the figures cover the run until then"})
	}
	return rows
}

// WriteText writes the human summary of res.
func WriteText(w io.Writer, res *Result) error {
	var b strings.Builder
	b.WriteString(Describe(res))
	b.WriteString("\n")
	for _, r := range SummaryRows(res) {
		fmt.Fprintf(&b, "  %-11s %s\n", r[0], r[1])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtMs(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.2f ms", v)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
