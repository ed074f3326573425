package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// fixedMembership explains why member add and remove fail.
const fixedMembership = "the membership is fixed when the cluster is created (--initial-cluster)"

func memberCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "member",
		Usage: "List the members of the cluster",
		UsageText: `coord member list | add NAME PEER | remove NAME

The membership is fixed when the cluster is created (coord serve
--initial-cluster): member add and remove are not supported yet and fail.

   coord member list
   coord member list -w table`,
		Action: groupAction,
		Subcommands: []*cli.Command{
			memberListCommand(env),
			memberUnsupportedCommand("add", "NAME PEER", "Add a member (not supported yet)"),
			memberUnsupportedCommand("remove", "NAME", "Remove a member (not supported yet)"),
		},
	}
}

func memberUnsupportedCommand(name, args, usage string) *cli.Command {
	return &cli.Command{
		Name:  name,
		Usage: usage,
		UsageText: fmt.Sprintf(`coord member %s %s

Not supported yet: %s.
To change it, create a new cluster with the members you want.`, name, args, fixedMembership),
		Action: func(c *cli.Context) error {
			return fmt.Errorf("member %s is not supported yet: %s", name, fixedMembership)
		},
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
}

func (l *memberList) rows() []memberRow {
	members := l.resp.Members
	if len(members) == 0 {
		// A server from before the member list: it knows only itself.
		members = []wire.MemberInfo{{Name: l.resp.Member, PeerAddr: l.resp.PeerAddr}}
	}
	rows := make([]memberRow, 0, len(members))
	for _, m := range members {
		r := memberRow{Name: m.Name, PeerAddr: m.PeerAddr, ClientAddr: m.ClientAddr, LeaderOf: []uint32{},
			ID: m.ID, EtcdURL: m.EtcdURL, HTTPAddr: m.HTTPAddr}
		if r.ClientAddr == "" {
			r.ClientAddr = l.clients[m.Name]
		}
		for _, s := range l.resp.Shards {
			if s.Leader == m.Name {
				r.LeaderOf = append(r.LeaderOf, s.Shard)
				if s.Shard == 0 {
					r.IsLeader = true
				}
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
	header := []string{"NAME", "PEER ADDR", "CLIENT ADDR", "IS LEADER"}
	multi := len(l.resp.Shards) > 1
	if multi {
		header[3] = "LEADER OF SHARDS"
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
		cells = append(cells, []string{r.Name, r.PeerAddr, client, lead})
	}
	if format == formatTable {
		writeBorderedTable(w, header, cells, nil)
	} else {
		writePlainTable(w, header, cells)
	}
	return nil
}
