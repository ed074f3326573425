package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// healthKey is the key endpoint health reads, as etcdctl does.
const healthKey = "health"

// clusterHelp explains what --cluster does with the members' addresses.
const clusterHelp = `With --cluster the members come from the cluster: the first endpoint that
answers lists them with the client addresses they published, and every one
of those is checked besides --endpoints. A member that has not published its
address yet and that no endpoint answers as is reported by name ("member n2
(peer 10.0.0.2:7380): no endpoint answered as it").`

func endpointCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "endpoint",
		Usage: "Check the health and status of each endpoint, as etcdctl endpoint does",
		UsageText: `coord endpoint status [--cluster] | health [--cluster]

   coord endpoint health
   coord endpoint status --endpoints 127.0.0.1:7379,127.0.0.1:7389 --cluster -w table`,
		Action: groupAction,
		Subcommands: []*cli.Command{
			endpointStatusCommand(env),
			endpointHealthCommand(env),
		},
	}
}

func clusterFlag() cli.Flag {
	return &cli.BoolFlag{Name: "cluster", Usage: "check every member of the cluster: one that no endpoint answers as is reported by name"}
}

func endpointStatusCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "Print each endpoint's member, version, db size, shards led, raft term and index, revision",
		UsageText: `coord endpoint status [--cluster] [-w simple|table|json]

Asks every endpoint for its status and prints one line per endpoint:
endpoint, member, version, database size, the shards it leads, whether it
is a learner, Raft term, Raft applied index and revision. With several
shards the per-shard values are joined with "/" in shard order (-w json
gives them one by one). Unreachable endpoints are reported on stderr and
make the exit code 1. For one row per member and shard use coord status.

` + clusterHelp + `

   coord endpoint status
   coord endpoint status --endpoints 127.0.0.1:7379,127.0.0.1:7389,127.0.0.1:7399 --cluster -w table`,
		Flags: []cli.Flag{clusterFlag()},
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
			if c.Bool("cluster") {
				eps = clusterEndpoints(c, eps)
			}
			var results []endpointResult
			err = withClient(c, func(cl *coord.Client) error {
				results = checkEndpoints(c, eps, func(ctx context.Context, ep string) endpointResult {
					resp, err := cl.Status(ctx, ep)
					return endpointResult{endpoint: ep, status: resp, err: err}
				})
				return nil
			})
			if err != nil {
				return err
			}
			if c.Bool("cluster") {
				results = addMissingMembers(results)
			}
			var failed []string
			for _, r := range results {
				if r.err != nil {
					failed = append(failed, r.name())
					if format != formatJSON {
						fmt.Fprintf(env.stderr, "Error: %s: %s\n", r.name(), describeError(r.err))
					}
				}
			}
			if err := printEndpointStatus(env.stdout, format, results); err != nil {
				return err
			}
			if len(failed) > 0 {
				return fmt.Errorf("%d of %d endpoints failed: %s", len(failed), len(results), strings.Join(failed, ", "))
			}
			return nil
		},
	}
}

func endpointHealthCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "health",
		Usage: "Check that each endpoint answers a linearizable read within --timeout",
		UsageText: `coord endpoint health [--cluster] [-w simple|table|json]

Reads the key "health" through each endpoint (a linearizable read: its
member confirms with a quorum of its shard that it is current) and prints,
as etcdctl does,

   127.0.0.1:7379 is healthy: successfully committed proposal: took = 2.1ms

or, on stderr, "... is unhealthy: failed to commit proposal: REASON" for an
endpoint that does not answer within --timeout, or whose member knows a
shard without a leader. When any is unhealthy the exit code is 1 and the
last line names the unhealthy members or endpoints.

` + clusterHelp + `

   coord endpoint health
   coord endpoint health --endpoints 127.0.0.1:7379,127.0.0.1:7389,127.0.0.1:7399 --cluster`,
		Flags: []cli.Flag{clusterFlag()},
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
			cfg, err := clientConfig(c)
			if err != nil {
				return err
			}
			if c.Bool("cluster") {
				eps = clusterEndpoints(c, eps)
			}
			results := checkEndpoints(c, eps, func(ctx context.Context, ep string) endpointResult {
				return checkHealth(ctx, cfg, ep)
			})
			if c.Bool("cluster") {
				results = addMissingMembers(results)
			}
			if err := printEndpointHealth(env.stdout, env.stderr, format, results); err != nil {
				return err
			}
			var bad []string
			for _, r := range results {
				if r.err != nil {
					bad = append(bad, r.name())
				}
			}
			if len(bad) > 0 {
				return fmt.Errorf("unhealthy cluster: %s", strings.Join(bad, ", "))
			}
			return nil
		},
	}
}

// endpointResult is what one endpoint answered (or, with --cluster, a
// member that no endpoint answered as).
type endpointResult struct {
	endpoint string // "" for a member no endpoint answered as
	member   string // the member's name, when known
	peer     string // the member's peer address, when endpoint is ""
	status   *wire.StatusResponse
	took     time.Duration // the health read's duration
	err      error         // nil: healthy (health) or answered (status)
}

// name is how the result is named in messages: the endpoint with its
// member, or the member alone.
func (r endpointResult) name() string {
	switch {
	case r.endpoint == "":
		return fmt.Sprintf("member %s (peer %s)", r.member, r.peer)
	case r.member != "":
		return fmt.Sprintf("%s (member %s)", r.endpoint, r.member)
	default:
		return r.endpoint
	}
}

// checkEndpoints runs check on every endpoint at once, each within
// --timeout, and returns the results in the endpoints' order.
func checkEndpoints(c *cli.Context, eps []string, check func(ctx context.Context, ep string) endpointResult) []endpointResult {
	results := make([]endpointResult, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := callContext(c)
			defer cancel()
			r := check(ctx, ep)
			if r.status != nil && r.member == "" {
				r.member = r.status.Member
			}
			results[i] = r
		}()
	}
	wg.Wait()
	return results
}

// clusterEndpoints returns eps and, after them, the client address every
// member published in the cluster's member registry, as the first of eps
// that answers lists them (each address once). Without an answer it
// returns eps: the checks then report the failures.
func clusterEndpoints(c *cli.Context, eps []string) []string {
	cfg, err := clientConfig(c)
	if err != nil {
		return eps
	}
	out := append([]string(nil), eps...)
	seen := map[string]bool{}
	for _, ep := range eps {
		seen[ep] = true
	}
	for _, ep := range eps {
		cfg.Endpoints = []string{ep}
		cl, err := coord.New(cfg)
		if err != nil {
			continue
		}
		ctx, cancel := callContext(c)
		st, err := cl.Status(ctx, ep)
		cancel()
		cl.Close()
		if err != nil {
			continue
		}
		for _, m := range st.Members {
			if m.ClientAddr != "" && !seen[m.ClientAddr] {
				seen[m.ClientAddr] = true
				out = append(out, m.ClientAddr)
			}
		}
		break
	}
	return out
}

// errNoEndpointForMember is the error of a member that no endpoint
// answered as.
var errNoEndpointForMember = errors.New("no endpoint answered as it (give its client address in --endpoints)")

// addMissingMembers appends, for --cluster, a failed result for each member
// of the cluster that no endpoint answered as. The members are those the
// first answering endpoint lists.
func addMissingMembers(results []endpointResult) []endpointResult {
	var members []wire.MemberInfo
	seen := map[string]bool{}
	for _, r := range results {
		if r.status == nil {
			continue
		}
		seen[r.status.Member] = true
		if members == nil {
			members = r.status.Members
		}
	}
	for _, m := range members {
		if !seen[m.Name] {
			results = append(results, endpointResult{member: m.Name, peer: m.PeerAddr, err: errNoEndpointForMember})
		}
	}
	return results
}

// checkHealth reads healthKey through ep alone, after asking ep for its
// status (which names its member and tells whether every shard it knows
// has a leader).
func checkHealth(ctx context.Context, cfg coord.Config, ep string) endpointResult {
	r := endpointResult{endpoint: ep}
	cfg.Endpoints = []string{ep}
	cl, err := coord.New(cfg)
	if err != nil {
		r.err = err
		return r
	}
	defer cl.Close()
	r.status, r.err = cl.Status(ctx, ep)
	if r.err != nil {
		return r
	}
	for _, s := range r.status.Shards {
		if s.Leader == "" {
			r.err = fmt.Errorf("shard %d has no leader", s.Shard)
			return r
		}
	}
	start := time.Now()
	_, err = cl.Get(ctx, healthKey, coord.WithKeysOnly())
	r.took = time.Since(start)
	// As etcdctl: a member that refuses the read for want of permission
	// has answered it, so it is healthy.
	if err != nil && !errors.Is(err, coord.ErrPermissionDenied) {
		r.err = err
	}
	return r
}

// tookString prints a duration as etcdctl does, rounded to microseconds.
func tookString(d time.Duration) string {
	return d.Round(time.Microsecond).String()
}

type jsonHealth struct {
	Endpoint string `json:"endpoint"`
	Member   string `json:"member,omitempty"`
	PeerAddr string `json:"peer_addr,omitempty"`
	Health   bool   `json:"health"`
	Took     string `json:"took"`
	Error    string `json:"error,omitempty"`
}

func printEndpointHealth(w, errW io.Writer, format string, results []endpointResult) error {
	switch format {
	case formatJSON:
		out := make([]jsonHealth, 0, len(results))
		for _, r := range results {
			j := jsonHealth{Endpoint: r.endpoint, Member: r.member, PeerAddr: r.peer, Health: r.err == nil, Took: tookString(r.took)}
			if r.err != nil {
				j.Error = describeError(r.err)
			}
			out = append(out, j)
		}
		return writeJSON(w, out)
	case formatTable:
		header := []string{"ENDPOINT", "MEMBER", "HEALTH", "TOOK", "ERROR"}
		var rows [][]string
		for _, r := range results {
			ep, errText := r.endpoint, ""
			if ep == "" {
				ep = "-"
			}
			if r.err != nil {
				errText = describeError(r.err)
			}
			rows = append(rows, []string{ep, orDash(r.member), strconv.FormatBool(r.err == nil), tookString(r.took), errText})
		}
		writeBorderedTable(w, header, rows, nil)
		return nil
	}
	for _, r := range results {
		if r.err == nil {
			fmt.Fprintf(w, "%s is healthy: successfully committed proposal: took = %s\n", r.endpoint, tookString(r.took))
		} else {
			fmt.Fprintf(errW, "%s is unhealthy: failed to commit proposal: %s\n", r.name(), describeError(r.err))
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// joinShards joins one value per shard with "/".
func joinShards(st *wire.StatusResponse, f func(s wire.ShardStatus) string) string {
	parts := make([]string, 0, len(st.Shards))
	for _, s := range st.Shards {
		parts = append(parts, f(s))
	}
	return strings.Join(parts, "/")
}

// ledShards lists the shards the member leads, "/"-joined, or "-".
func ledShards(st *wire.StatusResponse) string {
	var led []string
	for _, s := range st.Shards {
		if s.IsLeader {
			led = append(led, strconv.FormatUint(uint64(s.Shard), 10))
		}
	}
	if len(led) == 0 {
		return "-"
	}
	return strings.Join(led, "/")
}

var endpointStatusHeader = []string{"ENDPOINT", "MEMBER", "VERSION", "DB SIZE", "LEADER OF SHARDS", "IS LEARNER", "RAFT TERM", "RAFT APPLIED INDEX", "REVISION"}

type jsonEndpointStatus struct {
	Endpoint   string            `json:"endpoint"`
	Member     string            `json:"member,omitempty"`
	PeerAddr   string            `json:"peer_addr,omitempty"`
	ClientAddr string            `json:"client_addr,omitempty"`
	Version    string            `json:"version,omitempty"`
	DBSize     int64             `json:"db_size"`
	IsLearner  bool              `json:"is_learner"`
	LeaderOf   []uint32          `json:"leader_of_shards"`
	Shards     []jsonShardStatus `json:"shards"`
	Alarms     []string          `json:"alarms,omitempty"`
	Error      string            `json:"error,omitempty"`
}

// alarmStrings are the alarms a member reports, as etcd lists them in its
// status's errors: "memberID:ID alarm:NOSPACE".
func alarmStrings(st *wire.StatusResponse) []string {
	var out []string
	for _, al := range st.Alarms {
		out = append(out, fmt.Sprintf("memberID:%d alarm:%s", wire.EtcdMemberID(al.Member), al.Type))
	}
	return out
}

func printEndpointStatus(w io.Writer, format string, results []endpointResult) error {
	if format == formatJSON {
		out := make([]jsonEndpointStatus, 0, len(results))
		for _, r := range results {
			j := jsonEndpointStatus{Endpoint: r.endpoint, Member: r.member, PeerAddr: r.peer, LeaderOf: []uint32{}, Shards: []jsonShardStatus{}}
			if r.err != nil {
				j.Error = describeError(r.err)
			}
			if st := r.status; st != nil {
				j.PeerAddr, j.ClientAddr, j.Version, j.DBSize = st.PeerAddr, st.ClientAddr, st.Version, st.DBSize
				j.Alarms = alarmStrings(st)
				j.IsLearner = isLearner(st)
				for _, s := range st.Shards {
					j.Shards = append(j.Shards, jsonShardStatus(s))
					if s.IsLeader {
						j.LeaderOf = append(j.LeaderOf, s.Shard)
					}
				}
			}
			out = append(out, j)
		}
		return writeJSON(w, out)
	}
	var rows [][]string
	alarms := false
	for _, r := range results {
		if r.status != nil && len(r.status.Alarms) > 0 {
			alarms = true
		}
	}
	for _, r := range results {
		st := r.status
		if st == nil {
			continue
		}
		var errs []string
		if alarms { // an ERRORS column, as etcdctl's, only when an alarm is raised
			errs = []string{strings.Join(alarmStrings(st), "; ")}
		}
		rows = append(rows, append([]string{
			r.endpoint, st.Member, st.Version, humanBytes(st.DBSize), ledShards(st),
			strconv.FormatBool(isLearner(st)),
			joinShards(st, func(s wire.ShardStatus) string { return strconv.FormatUint(s.Term, 10) }),
			joinShards(st, func(s wire.ShardStatus) string { return strconv.FormatUint(s.AppliedIndex, 10) }),
			joinShards(st, func(s wire.ShardStatus) string { return strconv.FormatInt(s.Revision, 10) }),
		}, errs...))
	}
	switch format {
	case formatTable:
		header, right := endpointStatusHeader, []bool{false, false, false, true, false, false, true, true, true}
		if alarms {
			header, right = append(slices.Clone(header), "ERRORS"), append(right, false)
		}
		writeBorderedTable(w, header, rows, right)
	default:
		// etcdctl's simple form: one comma-separated line per endpoint.
		for _, row := range rows {
			fmt.Fprintln(w, strings.Join(row, ", "))
		}
	}
	return nil
}

// isLearner reports whether the member that answered st is a learner in
// its own member list (a member added by coord member add, not promoted).
func isLearner(st *coord.StatusResponse) bool {
	for _, m := range st.Members {
		if m.Name == st.Member {
			return m.Learner
		}
	}
	return false
}
