package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

func watchCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "watch",
		Usage:     "Stream the changes to a key or a range of keys",
		ArgsUsage: "KEY [RANGE_END]",
		UsageText: `coord watch KEY [RANGE_END] [--prefix|--from-key] [--rev R] [--prev-kv]
                [--filter-put|--filter-delete] [-- COMMAND [ARGS...]]

Prints each change until Ctrl-C: a PUT or DELETE line, then the key line,
then the value line (empty for DELETE); with --prev-kv the previous key
and value lines come between the type line and the new ones, as etcdctl
prints them. RANGE_END, --prefix and --from-key select a range as in get.
--rev R first replays the history from revision R (per shard), then goes
on live with no gap; it fails if R has been compacted.

With -w json it prints one object per batch of events on one line, as
etcdctl does: {"Header":{...},"Events":[{"type":1,"kv":{...},"prev_kv":
{...}}],"CompactRevision":0,"Canceled":false,"Created":false} (type left
out for PUT, 1 for DELETE), the header and each kv as in get -w json.

With a COMMAND after "--" (etcdctl's watch exec) each event is printed,
then COMMAND runs once for it, to completion, with etcdctl's variables in
its environment: ETCD_WATCH_EVENT_TYPE, ETCD_WATCH_KEY, ETCD_WATCH_VALUE
(each quoted as etcdctl quotes them: "PUT", "app/a") and
ETCD_WATCH_REVISION (the response's revision). A command that fails ends
the watch (exit 1); Ctrl-C stops the watch and kills a running command.

   coord watch greeting
   coord watch app/ --prefix -- sh -c 'echo "$ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY"'
   coord watch app/ --prefix --prev-kv
   coord watch app/ --prefix --rev 1 -w json     # history, then live
   coord watch jobs/ --prefix --filter-put       # deletes only`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "prefix", Usage: "watch every key with prefix KEY"},
			&cli.BoolFlag{Name: "from-key", Usage: "watch every key >= KEY"},
			&cli.Int64Flag{Name: "rev", Usage: "replay the history from revision `R` first (0: from now)"},
			&cli.BoolFlag{Name: "prev-kv", Usage: "print each changed key's previous key and value"},
			&cli.BoolFlag{Name: "filter-put", Usage: "leave out PUT events"},
			&cli.BoolFlag{Name: "filter-delete", Usage: "leave out DELETE events"},
		},
		Action: func(c *cli.Context) error {
			own, argv := splitPassthrough(c.Args().Slice())
			if argv != nil && len(argv) == 0 {
				return usageErrorf(c, "missing command after \"--\"")
			}
			args, format, err := rangeArgsOf(c, own)
			if err != nil {
				return err
			}
			if c.Bool("filter-put") && c.Bool("filter-delete") {
				return usageErrorf(c, "--filter-put and --filter-delete cannot be used together (nothing would be left)")
			}
			if c.Int64("rev") < 0 {
				return usageErrorf(c, "--rev must not be negative")
			}
			opts := rangeOptions(c, args)
			if r := c.Int64("rev"); r > 0 {
				opts = append(opts, coord.WithRev(r))
			}
			if c.Bool("prev-kv") {
				opts = append(opts, coord.WithPrevKV())
			}
			if c.Bool("filter-put") {
				opts = append(opts, coord.WithFilterPut())
			}
			if c.Bool("filter-delete") {
				opts = append(opts, coord.WithFilterDelete())
			}
			return withClient(c, func(cl *coord.Client) error {
				ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
				defer stop()
				return watchLoop(ctx, cl, env, format, args[0], opts, c.Duration("timeout"), argv)
			})
		},
	}
}

// watchLoop prints the events of one watch until ctx ends (nil) or the
// server ends the watch (an error naming why). The watch must be
// established (its first response) within establish, if positive.
//
// With argv (etcdctl's watch exec) argv runs once per event, after the
// event is printed, with the event in its environment; its failure ends
// the watch.
func watchLoop(ctx context.Context, cl *coord.Client, env *cliEnv, format, key string, opts []coord.OpOption, establish time.Duration, argv []string) error {
	if len(argv) > 0 {
		// Found before watching, as lock acquire finds its command.
		if _, err := exec.LookPath(argv[0]); err != nil {
			return fmt.Errorf("cannot run %s: %w", argv[0], errors.Unwrap(err))
		}
	}
	// The watch runs under its own context, cancelled on return, so an
	// early return (a write error, no answer) stops it.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := cl.Watch(wctx, key, opts...)
	var timeout <-chan time.Time
	if establish > 0 {
		t := time.NewTimer(establish)
		defer t.Stop()
		timeout = t.C
	}
	for {
		var wr coord.WatchResponse
		var ok bool
		select {
		case wr, ok = <-wch:
		case <-timeout:
			return &watchError{
				msg: fmt.Sprintf("timed out after %s establishing the watch (is a member running at --endpoints?)", establish),
				err: coord.ErrTimeout,
			}
		}
		if !ok {
			break
		}
		timeout = nil
		if len(wr.Events) > 0 {
			withClusterID(&wr.Header, cl)
			if err := printWatchEvents(env.stdout, format, wr.Header, wr.Events, wr.CompactRevision); err != nil {
				return err
			}
			for _, ev := range wr.Events {
				if len(argv) == 0 || ctx.Err() != nil {
					break
				}
				if err := runWatchCommand(ctx, env, argv, wr.Header.Revision, ev); err != nil {
					if ctx.Err() != nil {
						return nil // interrupted
					}
					return err
				}
			}
		}
		if wr.Canceled {
			if ctx.Err() != nil {
				return nil
			}
			return watchCanceledError(wr.Err(), wr.CompactRevision)
		}
	}
	if ctx.Err() != nil {
		return nil // interrupted
	}
	return errors.New("watch ended: the stream closed without a reason")
}

// runWatchCommand runs argv for one event with etcdctl's environment:
// ETCD_WATCH_REVISION (the response's revision), and ETCD_WATCH_EVENT_TYPE,
// ETCD_WATCH_KEY and ETCD_WATCH_VALUE quoted as etcdctl's %q quotes them.
func runWatchCommand(ctx context.Context, env *cliEnv, argv []string, rev int64, ev *wire.Event) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var key, value []byte
	if ev.Kv != nil {
		key, value = ev.Kv.Key, ev.Kv.Value
	}
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("ETCD_WATCH_REVISION=%d", rev),
		fmt.Sprintf("ETCD_WATCH_EVENT_TYPE=%q", eventTypeName(ev.Type)),
		fmt.Sprintf("ETCD_WATCH_KEY=%q", key),
		fmt.Sprintf("ETCD_WATCH_VALUE=%q", value),
	)
	cmd.Stdout, cmd.Stderr = env.stdout, env.stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("command %q failed: %v", strings.Join(argv, " "), err)
	}
	return nil
}

// watchCanceledError is the one-line error of a watch the server ended:
// its reason (err, from WatchResponse.Err), naming the compacted revision
// when the watch asked for compacted history.
func watchCanceledError(err error, compactRev int64) error {
	if compactRev == 0 {
		compactRev = coord.CompactRevision(err)
	}
	msg := ""
	if err != nil {
		msg = strings.TrimPrefix(oneLine(err.Error()), "coord: ")
	}
	if msg == "" || msg == "canceled" {
		msg = "canceled by the server"
	}
	if compactRev > 0 || errors.Is(err, coord.ErrCompacted) {
		if !strings.Contains(msg, "compacted") {
			msg = "revision compacted: " + msg
		}
		if compactRev > 0 && !strings.Contains(msg, strconv.FormatInt(compactRev, 10)) {
			msg = fmt.Sprintf("%s (compacted revision %d)", msg, compactRev)
		}
	}
	if !strings.HasPrefix(msg, "watch") {
		msg = "watch canceled: " + msg
	}
	if err == nil {
		err = coord.ErrCanceled
	}
	return &watchError{msg: msg, err: err}
}

// watchError keeps the cause matchable (errors.Is) while printing msg.
type watchError struct {
	msg string
	err error
}

func (e *watchError) Error() string { return e.msg }
func (e *watchError) Unwrap() error { return e.err }
