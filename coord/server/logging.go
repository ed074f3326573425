package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/lni/dragonboat/v3/logger"
)

// Dragonboat's logger factory is process-wide and may be set only once, so
// every member started in this process (coord dev runs several) shares one
// route into slog: the logger of the most recently started member.
var (
	raftLogOnce  sync.Once
	raftLogSlog  atomic.Pointer[slog.Logger]
	raftLogLevel atomic.Int64
)

func routeRaftLogs(l *slog.Logger, level slog.Level) {
	raftLogSlog.Store(l)
	raftLogLevel.Store(int64(level))
	raftLogOnce.Do(func() {
		logger.SetLoggerFactory(func(pkg string) logger.ILogger { return &raftLogger{pkg: pkg} })
	})
}

// raftLogger adapts Dragonboat's ILogger to slog.
type raftLogger struct{ pkg string }

func (r *raftLogger) SetLevel(logger.LogLevel) {}

func (r *raftLogger) log(level slog.Level, format string, args []any) {
	if int64(level) < raftLogLevel.Load() {
		return
	}
	l := raftLogSlog.Load()
	if l == nil || !l.Enabled(context.Background(), level) {
		return
	}
	l.Log(context.Background(), level, fmt.Sprintf(format, args...), "component", "raft/"+r.pkg)
}

// Dragonboat logs routine events (every election step) as warnings, so its
// levels are shifted down one step; Coord logs leader changes itself.
func (r *raftLogger) Debugf(f string, a ...interface{})   { r.log(slog.LevelDebug-4, f, a) }
func (r *raftLogger) Infof(f string, a ...interface{})    { r.log(slog.LevelDebug, f, a) }
func (r *raftLogger) Warningf(f string, a ...interface{}) { r.log(slog.LevelInfo, f, a) }
func (r *raftLogger) Errorf(f string, a ...interface{})   { r.log(slog.LevelError, f, a) }
func (r *raftLogger) Panicf(f string, a ...interface{}) {
	msg := fmt.Sprintf(f, a...)
	r.log(slog.LevelError, "%s", []any{msg})
	panic(msg)
}
