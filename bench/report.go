package bench

import (
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// WriteReport writes res to path as a self-contained HTML page (.html,
// .htm) or one SVG image (.svg) with the throughput and latency over time
// and the latency distribution.
func WriteReport(path string, res *Result) error {
	var out string
	switch strings.ToLower(filepath.Ext(path)) {
	case ".html", ".htm":
		out = ReportHTML(res)
	case ".svg":
		out = ReportSVG(res)
	default:
		return fmt.Errorf("report %s: want a file name ending in .html or .svg", path)
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

const (
	chartW = 760
	chartH = 260
)

// charts returns the three charts of a report, as SVG fragments, each
// chartW×chartH, to be placed at the given y offsets.
func charts(res *Result) []string {
	var tput, p50, p99, mx []point
	prev := 0.0
	for _, iv := range res.Timeline {
		width := iv.EndS - prev
		if width > 0 {
			tput = append(tput, point{iv.EndS, float64(iv.Ops-iv.Errors) / width})
		}
		prev = iv.EndS
		if iv.Ops > 0 && iv.Max > 0 {
			p50 = append(p50, point{iv.EndS, iv.P50})
			p99 = append(p99, point{iv.EndS, iv.P99})
			mx = append(mx, point{iv.EndS, iv.Max})
		}
	}
	var dist []point
	for _, p := range res.Percentiles {
		dist = append(dist, point{nines(p.Percent), p.Ms})
	}
	distTicks := []tick{}
	maxX := 0.0
	for _, p := range dist {
		maxX = math.Max(maxX, p.x)
	}
	for i, lbl := range []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%", "100%"} {
		if float64(i) <= math.Ceil(maxX) && i < 7 {
			distTicks = append(distTicks, tick{float64(i), lbl})
		}
	}
	return []string{
		lineChart("Throughput over time", "seconds", "ops/s", nil, []series{{"ops/s", "#1f77b4", tput}}),
		lineChart("Latency over time", "seconds", "ms", nil, []series{{"max", "#d62728", mx}, {"p99", "#ff7f0e", p99}, {"p50", "#2ca02c", p50}}),
		lineChart("Latency distribution (percentile)", "percentile", "ms", distTicks, []series{{"latency", "#9467bd", dist}}),
	}
}

// nines maps a percentile to the x of a percentile plot: 90% → 1,
// 99% → 2, 99.9% → 3; 100% sits one step past the last measured point.
func nines(p float64) float64 {
	if p >= 100 {
		return 6.5
	}
	return -math.Log10(1 - p/100)
}

type point struct{ x, y float64 }

type series struct {
	name  string
	color string
	pts   []point
}

type tick struct {
	x     float64
	label string
}

// lineChart draws series in a chartW×chartH SVG group. xTicks, when
// given, replace the automatic x axis labels.
func lineChart(title, xLabel, yLabel string, xTicks []tick, ss []series) string {
	const left, right, top, bottom = 64, 20, 30, 40
	pw, ph := float64(chartW-left-right), float64(chartH-top-bottom)
	minX, maxX, maxY := math.Inf(1), math.Inf(-1), 0.0
	for _, s := range ss {
		for _, p := range s.pts {
			minX, maxX, maxY = math.Min(minX, p.x), math.Max(maxX, p.x), math.Max(maxY, p.y)
		}
	}
	// The percentile plot ends at 100% (x 6.5): clip to the measured range.
	if xTicks != nil {
		minX = 0
		for _, s := range ss {
			if n := len(s.pts); n > 1 && s.pts[n-1].x == 6.5 {
				last := s.pts[n-2].x
				s.pts[n-1].x = math.Ceil(last + 0.01)
				maxX = math.Max(s.pts[n-1].x, last)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<g font-family="sans-serif" font-size="11">`)
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="white"/>`, chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>`, left, esc(title))
	if math.IsInf(minX, 1) || maxY == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d">no data</text></g>`, left, top+int(ph/2))
		return b.String()
	}
	if maxX == minX {
		maxX = minX + 1
	}
	yTop := niceCeil(maxY)
	sx := func(x float64) float64 { return left + (x-minX)/(maxX-minX)*pw }
	sy := func(y float64) float64 { return top + ph - y/yTop*ph }
	// Grid and y labels.
	for i := 0; i <= 4; i++ {
		y := yTop * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`, left, sy(y), left+pw, sy(y))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, left-6, sy(y)+4, fmtNum(y))
	}
	// X labels.
	if xTicks == nil {
		for i := 0; i <= 5; i++ {
			x := minX + (maxX-minX)*float64(i)/5
			xTicks = append(xTicks, tick{x, fmtNum(x)})
		}
	}
	for _, t := range xTicks {
		if t.x < minX || t.x > maxX+1e-9 {
			continue
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#eee"/>`, sx(t.x), top, sx(t.x), top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, sx(t.x), top+ph+16, esc(t.label))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#888"/>`, left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, left+pw/2, chartH-6, esc(xLabel))
	fmt.Fprintf(&b, `<text x="14" y="%.1f" text-anchor="middle" transform="rotate(-90 14 %.1f)">%s</text>`, top+ph/2, top+ph/2, esc(yLabel))
	// Lines and legend.
	for i, s := range ss {
		if len(s.pts) == 0 {
			continue
		}
		var path strings.Builder
		for j, p := range s.pts {
			cmd := "L"
			if j == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, sx(p.x), sy(p.y))
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.6"/>`, strings.TrimSpace(path.String()), s.color)
		if len(s.pts) == 1 {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, sx(s.pts[0].x), sy(s.pts[0].y), s.color)
		}
		lx := float64(chartW - right - 80)
		ly := float64(top + 14 + 14*i)
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="2"/>`, lx, ly-4, lx+16, ly-4, s.color)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text>`, lx+20, ly, esc(s.name))
	}
	b.WriteString(`</g>`)
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func fmtNum(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 10000:
		return fmt.Sprintf("%.0fk", v/1000)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	case math.Abs(v) >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func esc(s string) string { return html.EscapeString(s) }

// ReportSVG returns the report as one SVG image: a header with the
// summary, then the three charts.
func ReportSVG(res *Result) string {
	rows := SummaryRows(res)
	headH := 30 + 16*(len(rows)+1)
	cs := charts(res)
	total := headH + len(cs)*(chartH+10)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`, chartW, total, chartW, total)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`)
	fmt.Fprintf(&b, `<text x="10" y="20" font-family="sans-serif" font-size="14" font-weight="bold">%s</text>`, esc("coord bench: "+Describe(res)))
	for i, r := range rows {
		fmt.Fprintf(&b, `<text x="10" y="%d" font-family="monospace" font-size="11">%s</text>`, 40+16*i, esc(fmt.Sprintf("%-11s %s", r[0], r[1])))
	}
	for i, c := range cs {
		fmt.Fprintf(&b, `<g transform="translate(0 %d)">%s</g>`, headH+i*(chartH+10), c)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// ReportHTML returns the report as a self-contained HTML page.
func ReportHTML(res *Result) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>")
	b.WriteString(esc("coord bench " + res.Workload + " on " + res.Target))
	b.WriteString(`</title><style>body{font-family:sans-serif;margin:2em;max-width:820px}table{border-collapse:collapse}td{padding:2px 10px;vertical-align:top}td:first-child{color:#555}svg{display:block;margin:1em 0}</style></head><body>`)
	fmt.Fprintf(&b, "<h1>coord bench: %s</h1><p>%s<br>started %s</p><table>", esc(res.Workload+" on "+res.Target), esc(Describe(res)), esc(res.Start))
	for _, r := range SummaryRows(res) {
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td></tr>", esc(r[0]), esc(r[1]))
	}
	b.WriteString("</table>")
	for _, c := range charts(res) {
		fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">%s</svg>`, chartW, chartH, chartW, chartH, c)
	}
	b.WriteString("<p>Latency over time: per interval of the run. Distribution: the x axis counts nines (90%, 99%, 99.9%, …), as HdrHistogram's percentile plots do.</p></body></html>\n")
	return b.String()
}
