package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Workload is one kind of operation to measure. Run calls Setup once,
// then Op concurrently from Config.Clients workers (each with its own w,
// 0 ≤ w < Clients) until the run ends, then Teardown once.
type Workload interface {
	// Setup prepares the run: preloads keys, opens sessions, starts
	// watchers. An error that wraps ErrUnsupported means the target
	// cannot run this workload.
	Setup(ctx context.Context, env *Env) error
	// Op runs one operation for worker w.
	Op(ctx context.Context, w int) error
	// Teardown releases what Setup made (sessions, leases, watches).
	Teardown(ctx context.Context) error
}

// Env is what a workload gets to work with.
type Env struct {
	Cfg   Config
	Conns []Conn
	// Observe records one latency sample. Workloads that time their
	// operations themselves (see selfTimed) call it; for the others Run
	// times each Op.
	Observe func(time.Duration)
}

// Conn returns the connection of worker w.
func (e *Env) Conn(w int) Conn { return e.Conns[w%len(e.Conns)] }

// selfTimed is implemented by workloads whose latency is not the time an
// Op takes (watch: put → event at each watcher); they call Env.Observe.
type selfTimed interface{ selfTimed() }

// extraReporter is implemented by workloads with figures of their own.
type extraReporter interface{ Extra() map[string]any }

// Result is the outcome of a run. Its JSON form is what `coord bench -w
// json` prints.
type Result struct {
	Workload     string   `json:"workload"`
	Target       string   `json:"target"`
	Endpoints    []string `json:"endpoints"`
	LocalCluster bool     `json:"local_cluster"`
	Shards       int      `json:"shards,omitempty"`
	Params       Params   `json:"params"`
	Start        string   `json:"start"`

	ElapsedS   float64          `json:"elapsed_s"`
	Ops        int64            `json:"ops"`
	Errors     int64            `json:"errors"`
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
	OpsPerSec  float64          `json:"ops_per_s"`
	// Unit says what one operation is ("put", "acquire+release", …).
	Unit string `json:"unit"`
	// Latency summarizes the successful operations' latencies.
	Latency     Latency        `json:"latency_ms"`
	Percentiles []Percentile   `json:"percentiles"`
	Timeline    []Interval     `json:"timeline"`
	Extra       map[string]any `json:"extra,omitempty"`
	Resources   *Resources     `json:"resources,omitempty"`
	Interrupted bool           `json:"interrupted,omitempty"`
}

// Params are the settings a run used.
type Params struct {
	Clients    int     `json:"clients"`
	Conns      int     `json:"conns"`
	DurationS  float64 `json:"duration_s,omitempty"`
	Total      int64   `json:"total,omitempty"`
	Rate       float64 `json:"rate,omitempty"`
	Keys       int     `json:"keys,omitempty"`
	ValueSize  int     `json:"value_size,omitempty"`
	Watchers   int     `json:"watchers,omitempty"`
	Sessions   int     `json:"sessions,omitempty"`
	TTLSeconds float64 `json:"ttl_s,omitempty"`
}

// stopGrace is how long operations still in flight at the end of a run
// may take before they are cut off (and not counted).
const stopGrace = time.Second

// Run runs cfg.Workload against target and returns its result. Ending
// ctx ends the run early; the result then covers what ran, with
// Interrupted set.
func Run(ctx context.Context, target Target, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := Supports(target, cfg.Workload); err != nil {
		return nil, err
	}
	info := workloads[cfg.Workload]
	if cfg.Keys == 0 {
		cfg.Keys = info.defaultKeys
	}
	wl := info.make(cfg)
	if r, ok := wl.(interface{ defaultRate(Config) float64 }); ok && cfg.Rate == 0 {
		cfg.Rate = r.defaultRate(cfg)
	}

	conns, err := dialAll(ctx, target, cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()

	res := &Result{Workload: cfg.Workload, Target: target.Name(), Unit: info.unit, Params: paramsOf(cfg, info)}
	var rec *Recorder
	env := &Env{Cfg: cfg, Conns: conns, Observe: func(d time.Duration) { rec.Observe(d) }}
	// rec must exist before Setup: watchers may observe stray events.
	rec = NewRecorder(time.Now())
	if err := wl.Setup(ctx, env); err != nil {
		tctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = wl.Teardown(tctx)
		cancel()
		if errors.Is(err, ErrUnsupported) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: setup: %w", cfg.Workload, err)
	}

	probe := newResourceProbe(cfg)
	start := time.Now()
	rec = NewRecorder(start)
	_, timed := wl.(selfTimed)
	res.Start = start.UTC().Format(time.RFC3339)

	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	var stopped atomic.Bool
	stopCh := make(chan struct{})
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			stopped.Store(true)
			close(stopCh)
			// Cut off what is still running after a grace period.
			time.AfterFunc(stopGrace+cfg.OpTimeout/10, cancelRun)
		})
	}
	var interrupted atomic.Bool
	go func() {
		var deadline <-chan time.Time
		if cfg.Duration > 0 {
			t := time.NewTimer(time.Until(start.Add(cfg.Duration)))
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-deadline:
		case <-ctx.Done():
			interrupted.Store(true)
		case <-stopCh:
		}
		stop()
	}()

	interval := cfg.Interval
	if interval <= 0 {
		interval = timelineInterval(cfg.Duration)
	}
	tickDone := make(chan struct{})
	go func() {
		defer close(tickDone)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				rec.Rotate(now)
			case <-stopCh:
				return
			}
		}
	}()
	progDone := startProgress(cfg, rec, start, stopCh)

	var tickets chan time.Time
	if cfg.Rate > 0 {
		tickets = make(chan time.Time, 1<<16)
		go dispatch(cfg, start, tickets, stopCh)
	}

	var issued atomic.Int64
	var lastEnd atomic.Int64 // unix nanos of the last counted op's end
	var remaining atomic.Int64
	remaining.Store(cfg.Total)
	var wg sync.WaitGroup
	for w := 0; w < cfg.Clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				var t0 time.Time
				if tickets != nil {
					due, ok := <-tickets
					if !ok {
						return
					}
					t0 = due
				}
				if stopped.Load() {
					return
				}
				if tickets == nil {
					if cfg.Total > 0 && issued.Add(1) > cfg.Total {
						return
					}
					t0 = time.Now()
				}
				octx, cancel := context.WithTimeout(runCtx, cfg.OpTimeout)
				err := wl.Op(octx, w)
				end := time.Now()
				cancel()
				if err != nil && runCtx.Err() != nil {
					return // cut off at the end of the run: not counted
				}
				if errors.Is(err, errUncounted) {
					continue
				}
				if timed {
					rec.Count(err)
				} else {
					rec.Done(end.Sub(t0), err)
				}
				for {
					prev := lastEnd.Load()
					if end.UnixNano() <= prev || lastEnd.CompareAndSwap(prev, end.UnixNano()) {
						break
					}
				}
				if cfg.Total > 0 && remaining.Add(-1) == 0 {
					stop()
				}
			}
		}(w)
	}
	wg.Wait()
	stop()
	<-tickDone
	end := time.Now()
	if le := lastEnd.Load(); le > 0 && time.Unix(0, le).Before(end) {
		end = time.Unix(0, le)
	}
	rec.Rotate(end)
	if progDone != nil {
		<-progDone
	}
	res.Resources = probe.finish(end.Sub(start))

	tctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	terr := wl.Teardown(tctx)
	cancel()

	rec.fill(res)
	res.ElapsedS = round3(end.Sub(start).Seconds())
	if res.ElapsedS > 0 {
		res.OpsPerSec = round3(float64(res.Ops-res.Errors) / end.Sub(start).Seconds())
	}
	if x, ok := wl.(extraReporter); ok {
		res.Extra = x.Extra()
	}
	res.Interrupted = interrupted.Load()
	if terr != nil {
		if res.Extra == nil {
			res.Extra = map[string]any{}
		}
		res.Extra["teardown_error"] = terr.Error()
	}
	return res, nil
}

func paramsOf(cfg Config, info workloadInfo) Params {
	p := Params{Clients: cfg.Clients, Conns: cfg.Conns, DurationS: cfg.Duration.Seconds(), Total: cfg.Total, Rate: cfg.Rate}
	if info.usesKeys {
		p.Keys = cfg.Keys
	}
	if info.usesValues {
		p.ValueSize = cfg.ValueSize
	}
	switch cfg.Workload {
	case "watch":
		p.Watchers = cfg.Watchers
	case "lease":
		p.Sessions = cfg.Sessions
	}
	if info.usesTTL {
		p.TTLSeconds = cfg.TTL.Seconds()
	}
	return p
}

// timelineInterval picks about 200 intervals per run, 100 ms to 5 s each.
func timelineInterval(d time.Duration) time.Duration {
	if d <= 0 {
		return 250 * time.Millisecond
	}
	iv := d / 200
	switch {
	case iv < 100*time.Millisecond:
		return 100 * time.Millisecond
	case iv > 5*time.Second:
		return 5 * time.Second
	}
	return iv.Round(100 * time.Millisecond)
}

// dialAll opens cfg.Conns connections in parallel.
func dialAll(ctx context.Context, target Target, cfg Config) ([]Conn, error) {
	conns := make([]Conn, cfg.Conns)
	errs := make([]error, cfg.Conns)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			conns[i], errs[i] = target.Dial(ctx, i)
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		return nil, fmt.Errorf("connecting to %s: %w", target.Name(), err)
	}
	return conns, nil
}

// dispatch issues the open-loop schedule: ticket k is due at start +
// k/rate. A late ticket keeps its due time, so its latency includes the
// wait for a free worker.
func dispatch(cfg Config, start time.Time, tickets chan<- time.Time, stop <-chan struct{}) {
	defer close(tickets)
	step := time.Duration(float64(time.Second) / cfg.Rate)
	for k := int64(0); cfg.Total <= 0 || k < cfg.Total; k++ {
		due := start.Add(time.Duration(k) * step)
		if wait := time.Until(due); wait > 200*time.Microsecond {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-stop:
				t.Stop()
				return
			}
		}
		select {
		case tickets <- due:
		case <-stop:
			return
		}
	}
}
