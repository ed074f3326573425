package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/queue"
)

// popSessionTTL is the TTL, in seconds, of the consumer session of
// `queue pop`: an item popped by a coord that dies before acking it comes
// back after this long at most.
const popSessionTTL = 10

func queueCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "queue",
		Usage: "Push to and pop from work queues (at-least-once delivery)",
		UsageText: `coord queue push|pop|ack|peek|len ARGS... (see coord queue COMMAND --help)

A queue is a named FIFO of items, each with a sequence number strictly
increasing per queue. A popped item is in flight for its consumer until
acked; one not acked within its visibility timeout, or whose consumer
died, goes back to the head of the queue and is delivered again
(at-least-once, FIFO among deliveries).

   coord queue push jobs job-1 job-2          # prints each item's sequence number
   coord queue pop jobs --wait 30s            # prints SEQ, then VALUE; acks it
   while v=$(coord queue pop jobs --wait 1m); do echo "$v"; done`,
		Action: groupAction,
		Subcommands: []*cli.Command{
			queuePushCommand(env),
			queuePopCommand(env),
			queueAckCommand(env),
			queuePeekCommand(env),
			queueLenCommand(env),
		},
	}
}

// queueError names the queue in an error of the server's about it.
func queueError(name string, err error) error {
	if errors.Is(err, coord.ErrInvalid) && !strings.Contains(err.Error(), strconv.Quote(name)) {
		return fmt.Errorf("queue %q: %w", name, err)
	}
	return err
}

func queuePushCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "Append items to a queue",
		ArgsUsage: "NAME VALUE...",
		UsageText: `coord queue push NAME VALUE... [--max-deliveries N]

Appends the values in order, in one command, and prints the sequence
number of each on its own line. A value that starts with "-" goes after
"--". With --max-deliveries N, an item delivered more than N times moves
to the dead-letter queue NAME.dead instead of being delivered again.

   coord queue push jobs '{"id":1}' '{"id":2}'
   coord queue push jobs --max-deliveries 3 -- -weird-value
   coord queue push jobs a b -w json          # {"seqs":[7,8]}`,
		Flags: []cli.Flag{
			&cli.Int64Flag{Name: "max-deliveries", Usage: "move an item to NAME.dead once delivered more than `N` times (0: never)"},
		},
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) < 2 {
				return usageErrorf(c, "missing argument: NAME VALUE...")
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			maxDel := c.Int64("max-deliveries")
			if maxDel < 0 {
				return usageErrorf(c, "--max-deliveries must not be negative")
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				seqs, err := queue.New(cl, args[0], queue.WithMaxDeliveries(maxDel)).Enqueue(ctx, args[1:]...)
				if err != nil {
					return queueError(args[0], err)
				}
				return printQueueSeqs(env.stdout, format, seqs)
			})
		},
	}
}

// popOptions are the parsed flags of queue pop.
type popOptions struct {
	format     string
	wait       time.Duration // 0: do not wait
	noAck      bool
	visibility time.Duration
}

func queuePopCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "pop",
		Usage:     "Take the item at the head of a queue",
		ArgsUsage: "NAME",
		UsageText: `coord queue pop NAME [--wait DUR] [--no-ack] [--visibility DUR]

Takes the head item and prints its sequence number line, then its value
line; then acks it (the item is done). On a redelivery (the item was
handed out before and not acked) a "deliveries: N" line follows.

With --no-ack the item stays in flight: the "deliveries: N" line is always
printed, then a "receipt: R" line with the delivery's receipt, and the
item goes back to the head of the queue once --visibility runs out unless
acked first with coord queue ack NAME SEQ --receipt R (only the holder of
the receipt can ack it).

An empty queue prints nothing and exits 1; with --wait, pop first waits up
to DUR for an item (woken by the push, no polling). So scripts can loop:

   coord queue pop jobs
   coord queue pop jobs --wait 30s -w json     # {"seq":N,"value":"...","deliveries":N}
   out=$(coord queue pop jobs --no-ack --visibility 5m) && work &&
     coord queue ack jobs "$(echo "$out" | head -1)" --receipt "$(echo "$out" | sed -n 's/^receipt: //p')"
   coord queue pop jobs --no-ack -w json       # {"seq":N,"value":"...","deliveries":N,"receipt":"R"}
   while coord queue pop jobs --wait 1m; do :; done`,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "wait", Usage: "wait up to `DURATION` for an item when the queue is empty", DefaultText: "do not wait"},
			&cli.BoolFlag{Name: "no-ack", Usage: "leave the item in flight instead of acking it"},
			&cli.DurationFlag{Name: "visibility", Usage: "`DURATION` the item stays in flight before it is redelivered, unless acked (whole seconds)", Value: queue.DefaultVisibility},
		},
		Action: func(c *cli.Context) error {
			args, err := argsBetween(c, 1, 1, "NAME")
			if err != nil {
				return err
			}
			o := popOptions{wait: c.Duration("wait"), noAck: c.Bool("no-ack"), visibility: c.Duration("visibility")}
			if o.format, err = outputFormat(c); err != nil {
				return err
			}
			if o.wait < 0 {
				return usageErrorf(c, "--wait must not be negative")
			}
			if o.visibility <= 0 {
				return usageErrorf(c, "--visibility must be positive")
			}
			return withClient(c, func(cl *coord.Client) error {
				return queuePop(c, env, cl, args[0], o)
			})
		},
	}
}

// errQueueEmpty is how pop and peek report an empty queue.
func errQueueEmpty(name string) error { return fmt.Errorf("queue %s is empty", name) }

func queuePop(c *cli.Context, env *cliEnv, cl *coord.Client, name string, o popOptions) error {
	if err := queue.ValidateName(name); err != nil {
		return err
	}
	visSecs := int64((o.visibility + time.Second - 1) / time.Second)
	ttl := int64(popSessionTTL)
	if o.noAck && visSecs > ttl {
		// The session is orphaned, not closed, with --no-ack: its lease
		// must not end before the visibility timeout, or the item would
		// come back early.
		ttl = visSecs
	}
	s, err := coord.NewSession(cl, coord.WithTTL(ttl))
	if err != nil {
		return err
	}
	// Closing the session revokes its lease: an item we hold that is not
	// acked goes back to the queue at once. Only a --no-ack item that was
	// printed is left to its visibility timeout.
	orphan := false
	defer func() {
		if orphan {
			s.Orphan()
		} else {
			_ = s.Close()
		}
	}()
	// The consumer lease first, within the per-request --timeout: an
	// unreachable cluster fails now, not after --wait.
	lctx, cancel := requestContext(c)
	_, err = s.Lease(lctx, string(queue.Prefix(name)))
	cancel()
	if err != nil {
		return err
	}
	q := queue.New(cl, name, queue.WithSession(s), queue.WithVisibility(o.visibility))

	var it *queue.Item
	if o.wait == 0 {
		ctx, cancel := callContext(c)
		it, err = q.TryDequeue(ctx)
		cancel()
		if errors.Is(err, coord.ErrEmpty) {
			return errQueueEmpty(name)
		}
	} else {
		it, err = popWait(c, q, o.wait)
	}
	if err != nil {
		return queueError(name, err)
	}

	if o.noAck {
		if err := printQueueItem(env.stdout, o.format, it, true, true); err != nil {
			return err
		}
		orphan = true
		return nil
	}
	if err := printQueueItem(env.stdout, o.format, it, it.Deliveries > 1, false); err != nil {
		return err
	}
	ctx, cancel := requestContext(c)
	defer cancel()
	if err := q.Ack(ctx, it); err != nil {
		return fmt.Errorf("acking item %d of queue %s: %w", it.Seq, name, err)
	}
	return nil
}

// popWait waits up to wait for an item; Ctrl-C gives up.
func popWait(c *cli.Context, q *queue.Queue, wait time.Duration) (*queue.Item, error) {
	sigs, stop := interrupts(c.Context)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var it *queue.Item
	end, err := untilInterrupted(ctx, sigs, nil, func(ctx context.Context) (err error) {
		it, err = q.Dequeue(ctx)
		return err
	})
	switch {
	case end == waitInterrupted:
		// An item granted as we gave up goes back when the session closes.
		return nil, fmt.Errorf("interrupted while waiting for an item in queue %s", q.Name())
	case err != nil && (errors.Is(err, coord.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)):
		// Not wrapping the timeout: the advice to raise --timeout is wrong here.
		return nil, fmt.Errorf("queue %s is empty (waited %s)", q.Name(), wait)
	}
	return it, err
}

func queueAckCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "ack",
		Usage:     "Complete an item popped with --no-ack",
		ArgsUsage: "NAME SEQ --receipt R",
		UsageText: `coord queue ack NAME SEQ --receipt R

Removes in-flight item SEQ from the queue and prints OK. R is the receipt
that coord queue pop --no-ack printed for this delivery ("receipt: R"):
only the consumer that popped the item can ack it. Fails (exit 1) when the
item is not in flight, e.g. its visibility timeout ran out and it went back
to the queue, or when R is not the receipt of the delivery in flight (say,
the item was handed on to another consumer after the timeout).

   coord queue ack jobs 42 --receipt 3f9a0c1d5e6b7a88`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "receipt", Usage: "the delivery's receipt `R`, as pop --no-ack printed it"},
		},
		Action: func(c *cli.Context) error {
			args, err := argsBetween(c, 2, 2, "NAME SEQ")
			if err != nil {
				return err
			}
			seq, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil || seq <= 0 {
				return usageErrorf(c, "SEQ must be a positive integer, got %q", args[1])
			}
			if !c.IsSet("receipt") {
				return usageErrorf(c, "missing --receipt R: the receipt that pop --no-ack printed for the item (only its consumer can ack it)")
			}
			receipt, err := queue.ParseReceipt(c.String("receipt"))
			if err != nil {
				return usageErrorf(c, "--receipt: %v", err)
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				if err := queue.New(cl, args[0]).AckSeq(ctx, seq, receipt); err != nil {
					return queueError(args[0], err)
				}
				return printOK(env.stdout, format, struct {
					Seq   int64 `json:"seq"`
					Acked bool  `json:"acked"`
				}{seq, true})
			})
		},
	}
}

func queuePeekCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "peek",
		Usage:     "Show the item a pop would get, without taking it",
		ArgsUsage: "NAME",
		UsageText: `coord queue peek NAME

Prints the head item's sequence number line, then its value line (and a
"deliveries: N" line if it was delivered before and came back). An empty
queue prints nothing and exits 1.

   coord queue peek jobs
   coord queue peek jobs -w json              # {"seq":N,"value":"...","deliveries":N}`,
		Action: func(c *cli.Context) error {
			name, format, err := nameAndFormat(c)
			if err != nil {
				return err
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				it, err := queue.New(cl, name).Peek(ctx)
				if err != nil {
					return queueError(name, err)
				}
				if it == nil {
					return errQueueEmpty(name)
				}
				return printQueueItem(env.stdout, format, it, it.Deliveries > 0, false)
			})
		},
	}
}

func queueLenCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "len",
		Usage:     "Show how many items a queue holds",
		ArgsUsage: "NAME",
		UsageText: `coord queue len NAME

Prints the number of items, ready and in flight together. JSON and table
output show them apart.

   coord queue len jobs
   coord queue len jobs -w json               # {"name":"jobs","len":N,"ready":N,"in_flight":N}`,
		Action: func(c *cli.Context) error {
			name, format, err := nameAndFormat(c)
			if err != nil {
				return err
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				ready, inFlight, err := queue.New(cl, name).Len(ctx)
				if err != nil {
					return queueError(name, err)
				}
				return printQueueLen(env.stdout, format, name, ready, inFlight)
			})
		},
	}
}

// ---- output ----

// printQueueSeqs prints what push prints: each sequence number on its own
// line.
func printQueueSeqs(w io.Writer, format string, seqs []int64) error {
	if format == formatJSON {
		if seqs == nil {
			seqs = []int64{}
		}
		return writeJSON(w, struct {
			Seqs []int64 `json:"seqs"`
		}{seqs})
	}
	for _, s := range seqs {
		fmt.Fprintln(w, s)
	}
	return nil
}

// printQueueItem prints a popped or peeked item: the sequence number line,
// the value line, with deliveries a "deliveries: N" line and, with
// receipt, a "receipt: R" line (what a later ack needs).
func printQueueItem(w io.Writer, format string, it *queue.Item, deliveries, receipt bool) error {
	switch format {
	case formatJSON:
		j := struct {
			Seq         int64   `json:"seq"`
			Value       *string `json:"value,omitempty"`
			ValueBase64 string  `json:"value_base64,omitempty"`
			Deliveries  int64   `json:"deliveries"`
			Receipt     string  `json:"receipt,omitempty"`
		}{Seq: it.Seq, Deliveries: it.Deliveries}
		j.Value, j.ValueBase64 = jsonBytes(it.Value)
		if receipt {
			j.Receipt = it.Receipt.String()
		}
		return writeJSON(w, j)
	case formatTable:
		head := []string{"SEQ", "VALUE", "DELIVERIES"}
		row := []string{strconv.FormatInt(it.Seq, 10), displayString(it.Value), strconv.FormatInt(it.Deliveries, 10)}
		right := []bool{true, false, true}
		if receipt {
			head, row, right = append(head, "RECEIPT"), append(row, it.Receipt.String()), append(right, false)
		}
		writeBorderedTable(w, head, [][]string{row}, right)
	default:
		fmt.Fprintln(w, it.Seq)
		writeLine(w, it.Value)
		if deliveries {
			fmt.Fprintf(w, "deliveries: %d\n", it.Deliveries)
		}
		if receipt {
			fmt.Fprintf(w, "receipt: %s\n", it.Receipt)
		}
	}
	return nil
}

// printQueueLen prints queue len: the total in simple output.
func printQueueLen(w io.Writer, format, name string, ready, inFlight int64) error {
	switch format {
	case formatJSON:
		return writeJSON(w, struct {
			Name     string `json:"name"`
			Len      int64  `json:"len"`
			Ready    int64  `json:"ready"`
			InFlight int64  `json:"in_flight"`
		}{name, ready + inFlight, ready, inFlight})
	case formatTable:
		writeBorderedTable(w, []string{"NAME", "READY", "IN FLIGHT", "TOTAL"},
			[][]string{{name, strconv.FormatInt(ready, 10), strconv.FormatInt(inFlight, 10), strconv.FormatInt(ready+inFlight, 10)}},
			[]bool{false, true, true, true})
	default:
		fmt.Fprintln(w, ready+inFlight)
	}
	return nil
}
