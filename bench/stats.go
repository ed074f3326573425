package bench

import (
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to 10 minutes, with
// three significant digits (HdrHistogram's usual precision: 0.1%).
const (
	histMinMicros = 1
	histMaxMicros = int64(10 * time.Minute / time.Microsecond)
	histSigFigs   = 3
)

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMinMicros, histMaxMicros, histSigFigs)
}

func micros(d time.Duration) int64 {
	us := d.Microseconds()
	if us < histMinMicros {
		us = histMinMicros
	}
	if us > histMaxMicros {
		us = histMaxMicros
	}
	return us
}

// Latency summarizes a latency histogram, in milliseconds.
type Latency struct {
	Count  int64   `json:"count"`
	Min    float64 `json:"min"`
	Mean   float64 `json:"mean"`
	StdDev float64 `json:"stddev"`
	P50    float64 `json:"p50"`
	P90    float64 `json:"p90"`
	P99    float64 `json:"p99"`
	P999   float64 `json:"p99_9"`
	Max    float64 `json:"max"`
}

// Percentile is one point of the latency distribution: Percent of the
// samples took at most Ms milliseconds.
type Percentile struct {
	Percent float64 `json:"percent"`
	Ms      float64 `json:"ms"`
}

// Interval is one slice of the run's timeline: the operations that ended
// in it (seconds EndS-width to EndS since the start) and their latency.
type Interval struct {
	EndS   float64 `json:"end_s"`
	Ops    int64   `json:"ops"`
	Errors int64   `json:"errors"`
	P50    float64 `json:"p50_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
}

func ms(us int64) float64 { return float64(us) / 1000 }

func summarize(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Count:  h.TotalCount(),
		Min:    ms(h.Min()),
		Mean:   round3(h.Mean() / 1000),
		StdDev: round3(h.StdDev() / 1000),
		P50:    ms(h.ValueAtQuantile(50)),
		P90:    ms(h.ValueAtQuantile(90)),
		P99:    ms(h.ValueAtQuantile(99)),
		P999:   ms(h.ValueAtQuantile(99.9)),
		Max:    ms(h.Max()),
	}
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// percentileCurve returns the latency at percentiles 0, 90, 99, 99.9, …
// in ten steps per decade (the usual HdrHistogram percentile plot), up
// to the largest percentile the sample count supports, then 100.
func percentileCurve(h *hdrhistogram.Histogram) []Percentile {
	n := h.TotalCount()
	if n == 0 {
		return nil
	}
	var out []Percentile
	maxNines := math.Log10(float64(n)) // beyond 1/n the curve is just the max
	for i := 0; ; i++ {
		nines := float64(i) / 10
		if nines > maxNines || nines > 6 {
			break
		}
		p := 100 * (1 - math.Pow(10, -nines))
		out = append(out, Percentile{Percent: round3(p), Ms: ms(h.ValueAtQuantile(p))})
	}
	out = append(out, Percentile{Percent: 100, Ms: ms(h.Max())})
	return out
}

// Recorder collects the operations of a run: a histogram of their
// latencies for the whole run and one per timeline interval, and the
// errors by message. It is safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	start    time.Time
	total    *hdrhistogram.Histogram
	cur      *hdrhistogram.Histogram
	ops      int64
	errs     int64
	curOps   int64
	curErrs  int64
	errKinds map[string]int64
	timeline []Interval
}

// NewRecorder starts recording at start.
func NewRecorder(start time.Time) *Recorder {
	return &Recorder{start: start, total: newHist(), cur: newHist(), errKinds: map[string]int64{}}
}

// maxErrorKinds bounds the distinct error messages kept.
const maxErrorKinds = 20

// Done counts one finished operation: its latency when err is nil, else
// the error.
func (r *Recorder) Done(d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops++
	r.curOps++
	if err != nil {
		r.countErr(err)
		return
	}
	us := micros(d)
	r.total.RecordValue(us) //nolint:errcheck // micros clamps into range
	r.cur.RecordValue(us)   //nolint:errcheck
}

// Count counts one finished operation without a latency sample (for
// workloads that Observe their own latencies).
func (r *Recorder) Count(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops++
	r.curOps++
	if err != nil {
		r.countErr(err)
	}
}

// Observe adds one latency sample without counting an operation.
func (r *Recorder) Observe(d time.Duration) {
	us := micros(d)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total.RecordValue(us) //nolint:errcheck
	r.cur.RecordValue(us)   //nolint:errcheck
}

func (r *Recorder) countErr(err error) {
	r.errs++
	r.curErrs++
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	msg = strings.ReplaceAll(msg, "\n", " ")
	if _, ok := r.errKinds[msg]; ok || len(r.errKinds) < maxErrorKinds {
		r.errKinds[msg]++
	} else {
		r.errKinds["(other errors)"]++
	}
}

// Rotate closes the current timeline interval at now.
func (r *Recorder) Rotate(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	iv := Interval{EndS: round3(now.Sub(r.start).Seconds()), Ops: r.curOps, Errors: r.curErrs}
	if r.cur.TotalCount() > 0 {
		iv.P50 = ms(r.cur.ValueAtQuantile(50))
		iv.P99 = ms(r.cur.ValueAtQuantile(99))
		iv.Max = ms(r.cur.Max())
	}
	r.timeline = append(r.timeline, iv)
	r.cur.Reset()
	r.curOps, r.curErrs = 0, 0
}

// Counts returns the operations and errors so far.
func (r *Recorder) Counts() (ops, errs int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ops, r.errs
}

// fill writes the recorder's figures into res.
func (r *Recorder) fill(res *Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res.Ops, res.Errors = r.ops, r.errs
	if len(r.errKinds) > 0 {
		res.ErrorKinds = map[string]int64{}
		for k, v := range r.errKinds {
			res.ErrorKinds[k] = v
		}
	}
	res.Latency = summarize(r.total)
	res.Percentiles = percentileCurve(r.total)
	res.Timeline = append([]Interval(nil), r.timeline...)
}

// topErrors returns the error messages, most frequent first.
func topErrors(kinds map[string]int64) []string {
	msgs := make([]string, 0, len(kinds))
	for k := range kinds {
		msgs = append(msgs, k)
	}
	sort.Slice(msgs, func(i, j int) bool {
		if kinds[msgs[i]] != kinds[msgs[j]] {
			return kinds[msgs[i]] > kinds[msgs[j]]
		}
		return msgs[i] < msgs[j]
	})
	return msgs
}
