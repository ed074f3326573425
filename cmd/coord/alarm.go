package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// alarmHelp explains what a NOSPACE alarm does and how to clear it.
const alarmHelp = `A member whose store grows past its --quota-backend-bytes raises a NOSPACE
alarm. It is replicated: while it is raised every member refuses, with
"database space exceeded (alarm NOSPACE raised on member NAME)", the writes
that grow the store (put, txn with a put, lease grant, lock and semaphore
acquire, campaign, proclaim, queue push and pop, barrier hold and enter).
Reads, deletes, compaction, lease revoke and keep-alive, and every release
still work. To recover: delete what is not needed, coord compact, coord
defrag --cluster, then coord alarm disarm. A member still over its quota
raises its alarm again within a second.`

func alarmCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "alarm",
		Usage: "List or disarm the cluster's alarms (NOSPACE: a member's store is over its quota)",
		UsageText: `coord alarm list | disarm

` + alarmHelp + `

   coord alarm list
   coord alarm disarm`,
		Action: groupAction,
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "List the raised alarms, one line each: memberID:ID alarm:NOSPACE (member NAME)",
				UsageText: `coord alarm list [-w simple|table|json]

Prints each raised alarm as etcdctl does ("memberID:ID alarm:NOSPACE", ID
being the member's etcd member ID) with the member's name; nothing when
none is raised.`,
				Action: func(c *cli.Context) error {
					format, err := noArgsFormat(c)
					if err != nil {
						return err
					}
					return withCall(c, func(ctx context.Context, cl *coord.Client) error {
						alarms, err := cl.Alarms(ctx)
						if err != nil {
							return err
						}
						return printAlarms(env.stdout, format, alarms)
					})
				},
			},
			{
				Name:  "disarm",
				Usage: "Disarm every raised alarm, and print those disarmed",
				UsageText: `coord alarm disarm [-w simple|table|json]

Disarms every alarm in every shard and prints those it disarmed as alarm
list does. Free space first (delete, compact, defrag): a member still over
its quota raises its NOSPACE alarm again within a second. Needs root when
auth is enabled.`,
				Action: func(c *cli.Context) error {
					format, err := noArgsFormat(c)
					if err != nil {
						return err
					}
					return withCall(c, func(ctx context.Context, cl *coord.Client) error {
						alarms, err := cl.AlarmDisarm(ctx, "", wire.AlarmNone)
						if err != nil {
							return err
						}
						return printAlarms(env.stdout, format, alarms)
					})
				},
			},
		},
	}
}

func printAlarms(w io.Writer, format string, alarms []coord.Alarm) error {
	switch format {
	case formatJSON:
		type jsonAlarm struct {
			Member   string `json:"member"`
			MemberID uint64 `json:"member_id"`
			Alarm    string `json:"alarm"`
		}
		out := make([]jsonAlarm, 0, len(alarms))
		for _, al := range alarms {
			out = append(out, jsonAlarm{al.Member, wire.EtcdMemberID(al.Member), al.Type.String()})
		}
		return writeJSON(w, out)
	case formatTable:
		var rows [][]string
		for _, al := range alarms {
			rows = append(rows, []string{al.Member, strconv.FormatUint(wire.EtcdMemberID(al.Member), 10), al.Type.String()})
		}
		writeBorderedTable(w, []string{"MEMBER", "MEMBER ID", "ALARM"}, rows, nil)
		return nil
	}
	for _, al := range alarms {
		fmt.Fprintf(w, "memberID:%d alarm:%s (member %s)\n", wire.EtcdMemberID(al.Member), al.Type, al.Member)
	}
	return nil
}

func defragCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "defrag",
		Usage: "Compact the store files of each endpoint's member and print the size before and after",
		UsageText: `coord defrag [--cluster] [-w simple|table|json]

Asks the member of every endpoint to compact its store's files (Pebble's
manual compaction), which gives back the space of deleted and compacted
data, and prints, as etcdctl does with the sizes added,

   Finished defragmenting member n1[127.0.0.1:7379]. took 18ms; db size 2.4 MB -> 1.8 kB

The member keeps serving meanwhile (slower). Delete and compact first:
defrag gives back only what they freed. A member that fails is reported on
stderr and makes the exit code 1. Needs root when auth is enabled.

` + clusterHelp + `

   coord defrag
   coord defrag --endpoints 127.0.0.1:7379 --cluster`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "cluster", Usage: "defragment every member of the cluster: one that no endpoint answers as is reported by name"}},
		Action: func(c *cli.Context) error {
			format, err := noArgsFormat(c)
			if err != nil {
				return err
			}
			eps, err := endpoints(c)
			if err != nil {
				return err
			}
			if c.Bool("cluster") {
				eps = clusterEndpoints(c, eps)
			}
			var results []defragResult
			err = withClient(c, func(cl *coord.Client) error {
				for _, ep := range eps { // one at a time, as etcdctl: each slows its member
					ctx, cancel := callContext(c)
					start := time.Now()
					resp, err := cl.Defragment(ctx, ep)
					cancel()
					results = append(results, defragResult{endpoint: ep, resp: resp, took: time.Since(start), err: err})
				}
				return nil
			})
			if err != nil {
				return err
			}
			var failed []string
			for _, r := range results {
				if r.err != nil {
					failed = append(failed, r.endpoint)
					if format != formatJSON {
						fmt.Fprintf(env.stderr, "Failed to defragment member[%s]. took %s. (%s)\n", r.endpoint, tookString(r.took), describeError(r.err))
					}
				}
			}
			if err := printDefrag(env.stdout, format, results); err != nil {
				return err
			}
			if len(failed) > 0 {
				return fmt.Errorf("defrag failed on %d of %d endpoints: %s", len(failed), len(results), strings.Join(failed, ", "))
			}
			return nil
		},
	}
}

// defragResult is what one endpoint's defrag did.
type defragResult struct {
	endpoint string
	resp     *coord.DefragResponse
	took     time.Duration
	err      error
}

func printDefrag(w io.Writer, format string, results []defragResult) error {
	switch format {
	case formatJSON:
		type jsonDefrag struct {
			Endpoint   string `json:"endpoint"`
			Member     string `json:"member,omitempty"`
			SizeBefore int64  `json:"db_size_before"`
			SizeAfter  int64  `json:"db_size_after"`
			Took       string `json:"took"`
			Error      string `json:"error,omitempty"`
		}
		out := make([]jsonDefrag, 0, len(results))
		for _, r := range results {
			j := jsonDefrag{Endpoint: r.endpoint, Took: tookString(r.took)}
			if r.resp != nil {
				j.Member, j.SizeBefore, j.SizeAfter = r.resp.Member, r.resp.SizeBefore, r.resp.SizeAfter
			}
			if r.err != nil {
				j.Error = describeError(r.err)
			}
			out = append(out, j)
		}
		return writeJSON(w, out)
	case formatTable:
		var rows [][]string
		for _, r := range results {
			if r.resp == nil {
				continue
			}
			rows = append(rows, []string{r.endpoint, r.resp.Member, humanBytes(r.resp.SizeBefore), humanBytes(r.resp.SizeAfter), tookString(r.took)})
		}
		writeBorderedTable(w, []string{"ENDPOINT", "MEMBER", "DB SIZE BEFORE", "DB SIZE AFTER", "TOOK"}, rows, nil)
		return nil
	}
	for _, r := range results {
		if r.resp != nil {
			fmt.Fprintf(w, "Finished defragmenting member %s[%s]. took %s; db size %s -> %s\n",
				r.resp.Member, r.endpoint, tookString(r.took), humanBytes(r.resp.SizeBefore), humanBytes(r.resp.SizeAfter))
		}
	}
	return nil
}
