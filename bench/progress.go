package bench

import (
	"fmt"
	"strings"
	"time"
)

// startProgress prints a progress line to cfg.Progress every 200 ms until
// stop is closed, then clears it. It returns nil when there is no
// progress writer, else a channel closed when the printer is done.
func startProgress(cfg Config, rec *Recorder, start time.Time, stop <-chan struct{}) chan struct{} {
	if cfg.Progress == nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprint(cfg.Progress, "\r\033[K")
				return
			case now := <-t.C:
				ops, errs := rec.Counts()
				fmt.Fprint(cfg.Progress, "\r\033[K"+progressLine(cfg, now.Sub(start), ops, errs))
			}
		}
	}()
	return done
}

// progressLine is one line of progress: a bar, the time or operations
// done, the rate so far and the errors.
func progressLine(cfg Config, elapsed time.Duration, ops, errs int64) string {
	var frac float64
	var what string
	if cfg.Total > 0 {
		frac = float64(ops) / float64(cfg.Total)
		what = fmt.Sprintf("%d/%d ops", ops, cfg.Total)
	} else {
		frac = elapsed.Seconds() / cfg.Duration.Seconds()
		what = fmt.Sprintf("%.1fs/%s, %d ops", elapsed.Seconds(), cfg.Duration, ops)
	}
	if cfg.Total > 0 && cfg.Duration > 0 {
		if f := elapsed.Seconds() / cfg.Duration.Seconds(); f > frac {
			frac = f
		}
	}
	frac = min(max(frac, 0), 1)
	const width = 30
	n := int(frac * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	if n < width {
		bar = strings.Repeat("=", n) + ">" + strings.Repeat(" ", width-n-1)
	}
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(ops) / s
	}
	return fmt.Sprintf("%s [%s] %3.0f%%  %s  %.0f ops/s  %d errors", cfg.Workload, bar, frac*100, what, rate, errs)
}
