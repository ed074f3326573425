package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

func statusCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "Show each member's view of each shard",
		UsageText: `coord status [--endpoints A,B,...]

Asks every endpoint for its status and prints one row per member and shard:
endpoint, member, shard, leader, whether this member leads the shard, Raft
term, applied index, revision, compacted revision and database size.
Unreachable endpoints are reported on stderr and make the exit code 1.

   coord status
   coord status --endpoints 127.0.0.1:7379,127.0.0.1:7389,127.0.0.1:7399 -w json`,
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			eps, err := endpoints(c)
			if err != nil {
				return err
			}
			var results []statusResult
			var failed int
			err = withClient(c, func(cl *coord.Client) error {
				for _, ep := range eps {
					ctx, cancel := callContext(c)
					resp, err := cl.Status(ctx, ep)
					cancel()
					results = append(results, statusResult{endpoint: ep, resp: resp, err: err})
					if err != nil {
						failed++
						if format != formatJSON {
							fmt.Fprintf(env.stderr, "Error: %s: %s\n", ep, describeError(err))
						}
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if err := printStatus(env.stdout, format, results); err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d endpoints failed", failed, len(eps))
			}
			return nil
		},
	}
}

// statusResult is one endpoint's answer to status.
type statusResult struct {
	endpoint string
	resp     *wire.StatusResponse
	err      error
}

var statusHeader = []string{"ENDPOINT", "MEMBER", "SHARD", "LEADER", "IS LEADER", "TERM", "APPLIED INDEX", "REVISION", "COMPACT REV", "DB SIZE"}

func printStatus(w io.Writer, format string, results []statusResult) error {
	if format == formatJSON {
		out := make([]jsonStatus, 0, len(results))
		for _, r := range results {
			out = append(out, jsonStatusOf(r))
		}
		return writeJSON(w, out)
	}
	var rows [][]string
	for _, r := range results {
		if r.resp == nil {
			continue
		}
		for _, s := range r.resp.Shards {
			rows = append(rows, []string{
				r.endpoint, r.resp.Member, strconv.FormatUint(uint64(s.Shard), 10), s.Leader,
				strconv.FormatBool(s.IsLeader), strconv.FormatUint(s.Term, 10),
				strconv.FormatUint(s.AppliedIndex, 10), strconv.FormatInt(s.Revision, 10),
				strconv.FormatInt(s.CompactRevision, 10), humanBytes(r.resp.DBSize),
			})
		}
	}
	if format == formatTable {
		writeBorderedTable(w, statusHeader, rows, []bool{false, false, true, false, false, true, true, true, true, true})
	} else {
		writePlainTable(w, statusHeader, rows)
	}
	// The alarms, once: every member reports the cluster's.
	for _, r := range results {
		if r.resp != nil && len(r.resp.Alarms) > 0 {
			for _, al := range r.resp.Alarms {
				fmt.Fprintf(w, "alarm: memberID:%d alarm:%s (member %s): writes that grow the store are refused (see coord alarm --help)\n", wire.EtcdMemberID(al.Member), al.Type, al.Member)
			}
			break
		}
	}
	return nil
}

type jsonShardStatus struct {
	Shard           uint32 `json:"shard"`
	Leader          string `json:"leader"`
	IsLeader        bool   `json:"is_leader"`
	Term            uint64 `json:"raft_term"`
	AppliedIndex    uint64 `json:"applied_index"`
	Revision        int64  `json:"revision"`
	CompactRevision int64  `json:"compact_revision"`
}

type jsonStatus struct {
	Endpoint   string            `json:"endpoint"`
	Error      string            `json:"error,omitempty"`
	Member     string            `json:"member,omitempty"`
	ClientAddr string            `json:"client_addr,omitempty"`
	PeerAddr   string            `json:"peer_addr,omitempty"`
	Version    string            `json:"version,omitempty"`
	DBSize     int64             `json:"db_size"`
	Shards     []jsonShardStatus `json:"shards"`
	Alarms     []string          `json:"alarms,omitempty"`
}

func jsonStatusOf(r statusResult) jsonStatus {
	j := jsonStatus{Endpoint: r.endpoint, Shards: []jsonShardStatus{}}
	if r.resp == nil {
		if r.err != nil {
			j.Error = describeError(r.err)
		}
		return j
	}
	j.Member, j.ClientAddr, j.PeerAddr, j.Version, j.DBSize = r.resp.Member, r.resp.ClientAddr, r.resp.PeerAddr, r.resp.Version, r.resp.DBSize
	for _, s := range r.resp.Shards {
		j.Shards = append(j.Shards, jsonShardStatus(s))
	}
	j.Alarms = alarmStrings(r.resp)
	return j
}
