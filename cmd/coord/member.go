package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

func memberCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "member",
		Usage: "List, add, promote and remove the members of the cluster; move leaderships",
		UsageText: `coord member list | add NAME PEER_ADDR [--learner] | promote NAME | remove NAME | move-leader NAME

Membership changes apply to every shard's Raft group, one shard at a time.
A new member is added as a non-voting learner and catches up (by snapshot
and log) before it votes, so that adding a member never makes a quorum
wait for one that has nothing yet: without --learner it promotes itself
once it has started and caught up with every shard; with --learner it
stays a learner until "coord member promote". "add" prints the flags (and
COORD_* variables) the new member starts with: --initial-cluster-state
existing and the --node-id the cluster gave it.

"remove" first moves the leadership of every shard the member leads to
another voter, and refuses to remove the last voter. The removed member
stops serving: it refuses calls ("member removed"), says why in its log
and coord serve exits non-zero. Leases are not expired by a change:
a new shard leader gives every lease a full TTL.

"move-leader" makes a voter the leader of every shard (before stopping
the current leaders' machine for maintenance, say).

   coord member list -w table
   coord member add n4 10.0.0.4:7380
   coord member add n4 10.0.0.4:7380 --learner && coord member promote n4
   coord member remove n1
   coord member move-leader n2`,
		Action: groupAction,
		Subcommands: []*cli.Command{
			memberListCommand(env),
			memberAddCommand(env),
			memberPromoteCommand(env),
			memberRemoveCommand(env),
			memberMoveLeaderCommand(env),
		},
	}
}

// memberChangeTimeout is the default time a membership change may take
// (moving leaderships, one configuration change per shard).
const memberChangeTimeout = time.Minute

// memberCall runs one membership change: --timeout if given, else
// memberChangeTimeout.
// memberChangeAction is the action of member promote and remove: method
// with the request newReq makes for NAME, then "Member NAME VERB cluster
// ID" (or -w json: the cluster ID and the member's row).
func memberChangeAction(env *cliEnv, method string, newReq func(name string) any, verb string) cli.ActionFunc {
	return func(c *cli.Context) error {
		args, err := argsBetween(c, 1, 1, "NAME")
		if err != nil {
			return err
		}
		format, err := outputFormat(c)
		if err != nil {
			return err
		}
		resp, cluster, err := memberCall(c, method, newReq(args[0]))
		if err != nil {
			return err
		}
		if format == formatJSON {
			return writeJSON(env.stdout, map[string]any{"cluster_id": fmt.Sprintf("%016x", cluster), "member": memberRowOf(resp.Member, nil)})
		}
		fmt.Fprintf(env.stdout, "Member %s %s cluster %016x\n", resp.Member.Name, verb, cluster)
		return nil
	}
}

func memberCall(c *cli.Context, method string, req any) (*wire.MemberResponse, uint64, error) {
	var resp wire.MemberResponse
	var cluster uint64
	err := withClient(c, func(cl *coord.Client) error {
		ctx, cancel := context.WithTimeout(c.Context, memberChangeTimeout)
		if c.IsSet("timeout") {
			ctx, cancel = callContext(c)
		}
		defer cancel()
		err := cl.Call(ctx, method, req, &resp)
		cluster = cl.ClusterID()
		return err
	})
	return &resp, cluster, err
}

func memberAddCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "add",
		Usage: "Add a member: a learner in every shard until it catches up",
		UsageText: `coord member add NAME PEER_ADDR [--learner]

Adds member NAME, whose Raft transport will listen on PEER_ADDR (its
--listen-peer), to every shard as a non-voting learner, with the next free
node ID, and prints how to start it (COORD_* variables, then the same as
coord serve flags). Start it with a new data directory: it joins as a
learner, catches up by snapshot and log, and then promotes itself to a
voter — unless --learner, which keeps it a learner until
"coord member promote NAME". Adding a member again with the same address
goes on where a failed add stopped.

   coord member add n4 10.0.0.4:7380
   coord member add n4 10.0.0.4:7380 --learner -w json`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "learner", Usage: "keep the member a non-voting learner until coord member promote"},
		},
		Action: func(c *cli.Context) error {
			args, err := argsBetween(c, 2, 2, "NAME PEER_ADDR")
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			resp, cluster, err := memberCall(c, wire.MethodMemberAdd, &wire.MemberAddRequest{Name: args[0], PeerAddr: args[1], Learner: c.Bool("learner")})
			if err != nil {
				return err
			}
			return printMemberAdded(env.stdout, format, resp, cluster, c.Bool("learner"))
		},
	}
}

// joinEnv is what a new member starts with, as COORD_* variables in
// order.
func joinEnv(resp *wire.MemberResponse) [][2]string {
	var cluster []string
	for _, m := range resp.Members {
		cluster = append(cluster, m.Name+"="+m.PeerAddr)
	}
	return [][2]string{
		{"COORD_NAME", resp.Member.Name},
		{"COORD_INITIAL_CLUSTER", strings.Join(cluster, ",")},
		{"COORD_INITIAL_CLUSTER_STATE", "existing"},
		{"COORD_NODE_ID", strconv.FormatUint(resp.Member.ID, 10)},
		{"COORD_LISTEN_PEER", resp.Member.PeerAddr},
	}
}

func printMemberAdded(w io.Writer, format string, resp *wire.MemberResponse, cluster uint64, learner bool) error {
	envs := joinEnv(resp)
	if format == formatJSON {
		m := map[string]string{}
		for _, e := range envs {
			m[e[0]] = e[1]
		}
		return writeJSON(w, map[string]any{"cluster_id": fmt.Sprintf("%016x", cluster), "member": memberRowOf(resp.Member, nil), "env": m})
	}
	then := "it promotes itself to a voter once it has caught up"
	if learner {
		then = "it stays a learner until coord member promote " + resp.Member.Name
	}
	fmt.Fprintf(w, "Member %s added to cluster %016x as a learner with node ID %d; start it with a new data directory: %s.\n\n",
		resp.Member.Name, cluster, resp.Member.ID, then)
	flags := []string{"coord serve"}
	for _, e := range envs {
		fmt.Fprintf(w, "%s=%q\n", e[0], e[1])
		flag := "--" + strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(e[0], "COORD_")), "_", "-")
		flags = append(flags, flag+" "+e[1])
	}
	fmt.Fprintf(w, "\nor:\n\n  %s --listen-client HOST:PORT\n", strings.Join(flags, " "))
	return nil
}

func memberPromoteCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "promote",
		Usage: "Make a learner a voter in every shard",
		UsageText: `coord member promote NAME

Promotes learner NAME (added with coord member add --learner) to a voter
in every shard. The member must have started (and should have caught up:
coord member list shows it started). A member that votes already is
refused ("not a learner").

   coord member promote n4`,
		Action: memberChangeAction(env, wire.MethodMemberPromote, func(name string) any { return &wire.MemberPromoteRequest{Name: name} }, "promoted in"),
	}
}

func memberRemoveCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "remove",
		Usage: "Remove a member from every shard",
		UsageText: `coord member remove NAME

Removes member NAME from every shard, after moving the leadership of
every shard it leads to another voter; the last voter is never removed.
The member is asked through another member (a member does not remove
itself: the client moves on to its next endpoint, which it also learns
from the cluster). The removed member stops serving and coord serve exits
non-zero; stop it, and do not start it again with the same data
directory.

   coord member remove n1`,
		Action: memberChangeAction(env, wire.MethodMemberRemove, func(name string) any { return &wire.MemberRemoveRequest{Name: name} }, "removed from"),
	}
}

func memberMoveLeaderCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "move-leader",
		Usage: "Make a voter the leader of every shard",
		UsageText: `coord member move-leader NAME

Transfers the leadership of every shard that voter NAME does not lead to
it (a Raft leadership transfer: the current leader brings NAME up to date,
then NAME wins an election at once) and waits until NAME leads every
shard, or until --timeout (default 1m: exit 1 naming the shards that did
not move). A learner cannot lead: promote it first. Any member takes the
call. Use it before taking the leaders' machine down for maintenance; as
etcdctl move-leader does for etcd.

   coord member move-leader n2`,
		Action: memberChangeAction(env, wire.MethodMemberMoveLeader, func(name string) any { return &wire.MemberMoveLeaderRequest{Name: name} }, "leads every shard of"),
	}
}

func memberListCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "Print each member: name, peer address, client address, leadership",
		UsageText: `coord member list [-w simple|json|table]

Asks the first reachable endpoint for the cluster's members and prints one
row per member: name, Raft peer address, client address and whether it
leads the cluster (with several shards: the shards it leads); -w json
adds each member's Raft node ID, etcd door URL and HTTP address. Client
addresses come from the cluster's member registry, where every member
publishes the addresses it serves when it starts; for a member that has
not (yet), the address is known when it is one of --endpoints and answers.

   coord member list
   coord member list --endpoints 10.0.0.1:7379,10.0.0.2:7379 -w json`,
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
			var list *memberList
			err = withClient(c, func(cl *coord.Client) error {
				list, err = listMembers(c, cl, eps)
				return err
			})
			if err != nil {
				return err
			}
			return printMembers(env.stdout, format, list)
		},
	}
}

// memberList is the answer of member list.
type memberList struct {
	endpoint string               // the endpoint that answered
	resp     *wire.StatusResponse // its status
	clients  map[string]string    // member name → client endpoint that answered as it
}

// listMembers asks the endpoints in turn for their status until one
// answers; the rest are then asked (at once, best effort) only to learn
// which member each one is.
func listMembers(c *cli.Context, cl *coord.Client, eps []string) (*memberList, error) {
	var errs []error
	for i, ep := range eps {
		ctx, cancel := callContext(c)
		resp, err := cl.Status(ctx, ep)
		cancel()
		if err != nil {
			errs = append(errs, err) // it names the endpoint
			continue
		}
		l := &memberList{endpoint: ep, resp: resp, clients: map[string]string{resp.Member: ep}}
		if !l.registryComplete() {
			l.learnClients(c, cl, eps[i+1:])
		}
		return l, nil
	}
	return nil, errors.Join(errs...)
}

// registryComplete reports whether the member registry gave every
// member's client address (members publish theirs when they start;
// servers before the registry give none).
func (l *memberList) registryComplete() bool {
	for _, m := range l.resp.Members {
		if m.ClientAddr == "" {
			return false
		}
	}
	return len(l.resp.Members) > 0
}

func (l *memberList) learnClients(c *cli.Context, cl *coord.Client, eps []string) {
	if len(eps) == 0 {
		return
	}
	// A dead endpoint may cost at most a dial timeout, not --timeout.
	d := c.Duration("dial-timeout")
	if t := c.Duration("timeout"); t > 0 && (d <= 0 || t < d) {
		d = t
	}
	ctx, cancel := context.WithTimeout(c.Context, d)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, ep := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := cl.Status(ctx, ep)
			if err != nil {
				return
			}
			mu.Lock()
			if _, seen := l.clients[resp.Member]; !seen {
				l.clients[resp.Member] = ep
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
}

// memberRow is one member as printed.
type memberRow struct {
	Name       string   `json:"name"`
	PeerAddr   string   `json:"peer_addr"`
	ClientAddr string   `json:"client_addr"`
	IsLeader   bool     `json:"is_leader"`
	LeaderOf   []uint32 `json:"leader_of_shards"`
	ID         uint64   `json:"id,omitempty"`
	EtcdURL    string   `json:"etcd_url,omitempty"`
	HTTPAddr   string   `json:"http_addr,omitempty"`
	Status     string   `json:"status"` // started, or unstarted: added, no addresses published yet
	IsLearner  bool     `json:"is_learner"`
}

func memberRowOf(m wire.MemberInfo, shards []wire.ShardStatus) memberRow {
	r := memberRow{Name: m.Name, PeerAddr: m.PeerAddr, ClientAddr: m.ClientAddr, LeaderOf: []uint32{},
		ID: m.ID, EtcdURL: m.EtcdURL, HTTPAddr: m.HTTPAddr, Status: "unstarted", IsLearner: m.Learner}
	if m.Started() {
		r.Status = "started"
	}
	for _, s := range shards {
		if s.Leader == m.Name {
			r.LeaderOf = append(r.LeaderOf, s.Shard)
			if s.Shard == 0 {
				r.IsLeader = true
			}
		}
	}
	return r
}

func (l *memberList) rows() []memberRow {
	members := l.resp.Members
	if len(members) == 0 {
		// A server from before the member list: it knows only itself.
		members = []wire.MemberInfo{{Name: l.resp.Member, PeerAddr: l.resp.PeerAddr}}
	}
	rows := make([]memberRow, 0, len(members))
	for _, m := range members {
		r := memberRowOf(m, l.resp.Shards)
		if r.ClientAddr == "" {
			if r.ClientAddr = l.clients[m.Name]; r.ClientAddr != "" {
				r.Status = "started"
			}
		}
		rows = append(rows, r)
	}
	return rows
}

type jsonMemberList struct {
	Endpoint string      `json:"endpoint"`
	Member   string      `json:"member"`
	Shards   int         `json:"shards"`
	Members  []memberRow `json:"members"`
}

func printMembers(w io.Writer, format string, l *memberList) error {
	rows := l.rows()
	if format == formatJSON {
		return writeJSON(w, jsonMemberList{Endpoint: l.endpoint, Member: l.resp.Member, Shards: len(l.resp.Shards), Members: rows})
	}
	header := []string{"NAME", "ID", "STATUS", "PEER ADDR", "CLIENT ADDR", "IS LEARNER", "IS LEADER"}
	multi := len(l.resp.Shards) > 1
	if multi {
		header[6] = "LEADER OF SHARDS"
	}
	var cells [][]string
	for _, r := range rows {
		lead := strconv.FormatBool(r.IsLeader)
		if multi {
			var s []string
			for _, sh := range r.LeaderOf {
				s = append(s, strconv.FormatUint(uint64(sh), 10))
			}
			lead = strings.Join(s, ",")
			if lead == "" {
				lead = "-"
			}
		}
		client := r.ClientAddr
		if client == "" {
			client = "-"
		}
		id := "-"
		if r.ID != 0 {
			id = strconv.FormatUint(r.ID, 10)
		}
		cells = append(cells, []string{r.Name, id, r.Status, r.PeerAddr, client, strconv.FormatBool(r.IsLearner), lead})
	}
	if format == formatTable {
		writeBorderedTable(w, header, cells, nil)
	} else {
		writePlainTable(w, header, cells)
	}
	return nil
}
