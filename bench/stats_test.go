package bench

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

func approx(t *testing.T, what string, got, want float64) {
	t.Helper()
	// HdrHistogram with 3 significant digits: within 0.1%.
	if math.Abs(got-want) > want*0.001+0.001 {
		t.Errorf("%s = %v, want %v (±0.1%%)", what, got, want)
	}
}

func TestRecorderPercentiles(t *testing.T) {
	r := NewRecorder(time.Now())
	// 1..1000 ms, in a shuffled order.
	for i := 0; i < 1000; i++ {
		v := (i*379)%1000 + 1
		r.Done(time.Duration(v)*time.Millisecond, nil)
	}
	var res Result
	r.fill(&res)
	l := res.Latency
	if l.Count != 1000 || res.Ops != 1000 || res.Errors != 0 {
		t.Fatalf("count %d ops %d errors %d", l.Count, res.Ops, res.Errors)
	}
	approx(t, "min", l.Min, 1)
	approx(t, "p50", l.P50, 500)
	approx(t, "p90", l.P90, 900)
	approx(t, "p99", l.P99, 990)
	approx(t, "p99.9", l.P999, 999)
	approx(t, "max", l.Max, 1000)
	approx(t, "mean", l.Mean, 500.5)
	approx(t, "stddev", l.StdDev, 288.675)
}

func TestRecorderSmallAndClamped(t *testing.T) {
	r := NewRecorder(time.Now())
	r.Done(0, nil) // below the lowest value: counted as 1 µs
	r.Done(500*time.Microsecond, nil)
	r.Done(time.Hour, nil) // above the highest: counted as the highest
	var res Result
	r.fill(&res)
	approx(t, "min", res.Latency.Min, 0.001)
	approx(t, "p50", res.Latency.P50, 0.5)
	approx(t, "max", res.Latency.Max, float64(histMaxMicros)/1000)
}

func TestRecorderErrorsAndTimeline(t *testing.T) {
	start := time.Now()
	r := NewRecorder(start)
	r.Done(time.Millisecond, nil)
	r.Done(time.Millisecond, errors.New("boom"))
	r.Done(time.Millisecond, errors.New("boom"))
	r.Rotate(start.Add(time.Second))
	r.Done(3*time.Millisecond, nil)
	for i := 0; i < maxErrorKinds+5; i++ {
		r.Count(fmt.Errorf("distinct %d", i))
	}
	r.Observe(7 * time.Millisecond) // a sample, not an op
	r.Rotate(start.Add(2 * time.Second))

	var res Result
	r.fill(&res)
	if res.Ops != 4+maxErrorKinds+5 || res.Errors != 2+maxErrorKinds+5 {
		t.Fatalf("ops %d errors %d", res.Ops, res.Errors)
	}
	if res.ErrorKinds["boom"] != 2 || len(res.ErrorKinds) != maxErrorKinds+1 || res.ErrorKinds["(other errors)"] != 6 {
		t.Fatalf("error kinds %v", res.ErrorKinds)
	}
	if got := topErrors(res.ErrorKinds)[0]; got != "(other errors)" {
		t.Fatalf("most frequent error %q", got)
	}
	if res.Latency.Count != 3 {
		t.Fatalf("latency samples %d, want 3 (errors are not timed)", res.Latency.Count)
	}
	tl := res.Timeline
	if len(tl) != 2 || tl[0].EndS != 1 || tl[0].Ops != 3 || tl[0].Errors != 2 || tl[0].P50 != 1 ||
		tl[1].EndS != 2 || tl[1].Ops != 1+maxErrorKinds+5 || math.Abs(tl[1].Max-7) > 0.01 {
		t.Fatalf("timeline %+v", tl)
	}
}

func TestPercentileCurve(t *testing.T) {
	h := newHist()
	for i := 1; i <= 10000; i++ {
		h.RecordValue(int64(i)) //nolint:errcheck
	}
	c := percentileCurve(h)
	if c[0].Percent != 0 || c[len(c)-1].Percent != 100 {
		t.Fatalf("curve ends %v … %v", c[0], c[len(c)-1])
	}
	// 10,000 samples support four nines: the last point before 100% is 99.99%.
	if p := c[len(c)-2].Percent; p != 99.99 {
		t.Fatalf("last measured percentile %v, want 99.99", p)
	}
	for i := 1; i < len(c); i++ {
		if c[i].Percent <= c[i-1].Percent || c[i].Ms < c[i-1].Ms {
			t.Fatalf("curve not increasing at %d: %v then %v", i, c[i-1], c[i])
		}
	}
	if len(percentileCurve(newHist())) != 0 {
		t.Fatal("curve of an empty histogram")
	}
}

func TestTimelineInterval(t *testing.T) {
	for _, tt := range []struct{ d, want time.Duration }{
		{0, 250 * time.Millisecond},
		{time.Second, 100 * time.Millisecond},
		{time.Minute, 300 * time.Millisecond},
		{10 * time.Hour, 5 * time.Second},
	} {
		if got := timelineInterval(tt.d); got != tt.want {
			t.Errorf("timelineInterval(%s) = %s, want %s", tt.d, got, tt.want)
		}
	}
}
