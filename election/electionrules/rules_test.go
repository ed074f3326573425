package electionrules_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election/electionrules"
	"github.com/coord-io/coord/locks/lockrules"
	"github.com/coord-io/coord/statemachine"
	"github.com/coord-io/coord/statemachine/smtest"
)

func campaign(name string, lease int64, value string) *statemachine.Command {
	return statemachine.NewCommand(electionrules.OpCampaign, &wire.CampaignRequest{Name: name, Lease: lease, Value: []byte(value)})
}

func proclaim(name string, key []byte, value string, lease int64) *statemachine.Command {
	return statemachine.NewCommand(electionrules.OpProclaim, &wire.ProclaimRequest{Name: name, Key: key, Value: []byte(value), Lease: lease})
}

func resign(name string, key []byte, lease int64) *statemachine.Command {
	return statemachine.NewCommand(electionrules.OpResign, &wire.ResignRequest{Name: name, Key: key, Lease: lease})
}

// ck is the key of the candidate of election E that campaigned at rev.
func ck(rev int64) []byte {
	return append(electionrules.Prefix("E"), append([]byte("o/"), 0, 0, 0, 0, 0, 0, 0, byte(rev))...)
}

// ev describes an event as "put KEY=VALUE @REV" or "del KEY @REV".
func ev(evs []wire.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Type == wire.EventDelete {
			out = append(out, fmt.Sprintf("del %q @%d", e.Kv.Key, e.Kv.ModRevision))
			continue
		}
		v := fmt.Sprintf("%q", e.Kv.Value)
		if string(e.Kv.Key) == string(electionrules.LeaderKey("E")) {
			l, err := electionrules.DecodeLeader(e.Kv.Value)
			if err != nil {
				panic(err)
			}
			v = fmt.Sprintf("{%q %q t%d}", l.Key, l.Owner, l.Token)
		}
		out = append(out, fmt.Sprintf("put %q=%s @%d", e.Kv.Key, v, e.Kv.ModRevision))
	}
	return out
}

var leaderKey = fmt.Sprintf("%q", electionrules.LeaderKey("E"))

// TestElectionRules walks one election through campaigns, proclaims and
// resignations, checking each step's response, events and leader.
func TestElectionRules(t *testing.T) {
	h := smtest.New(t)
	a, b := h.Grant(10), h.Grant(10)
	q := func(k []byte) string { return fmt.Sprintf("%q", k) }
	type leader = wire.LeaderResponse
	steps := []struct {
		desc   string
		cmd    *statemachine.Command
		code   wire.Code
		msg    string
		resp   *leader // Header aside
		rev    int64
		events []string
		leader *leader // nil: nobody leads
	}{
		{"first candidate leads at once; term = revision",
			campaign("E", a, "a1"), wire.OK, "",
			&leader{Key: ck(2), Value: []byte("a1"), Term: 2, Lease: a}, 2,
			[]string{"put " + q(ck(2)) + `="a1" @2`, "put " + leaderKey + "={" + q(ck(2)) + ` "a1" t2} @2`},
			&leader{Key: ck(2), Value: []byte("a1"), Term: 2, Lease: a}},
		{"second candidate waits (term 0)",
			campaign("E", b, "b1"), wire.OK, "",
			&leader{Key: ck(3), Value: []byte("b1"), Lease: b}, 3,
			// The leader record notes the newest candidate (Tail).
			[]string{"put " + q(ck(3)) + `="b1" @3`, "put " + leaderKey + "={" + q(ck(2)) + ` "a1" t2} @3`},
			&leader{Key: ck(2), Value: []byte("a1"), Term: 2, Lease: a}},
		{"a waiting candidate cannot proclaim",
			proclaim("E", ck(3), "bx", b), wire.CodeNotLeader, "does not lead election \"E\"", nil, 3, nil,
			&leader{Key: ck(2), Value: []byte("a1"), Term: 2, Lease: a}},
		{"neither can a stranger",
			proclaim("E", []byte("nobody"), "bx", b), wire.CodeNotLeader, "", nil, 3, nil,
			&leader{Key: ck(2), Value: []byte("a1"), Term: 2, Lease: a}},
		{"another lease proclaims for the leader: not owner, nothing written",
			proclaim("E", ck(2), "bx", b), wire.CodeNotOwner, "only its owner may release it", nil, 3, nil,
			&leader{Key: ck(2), Value: []byte("a1"), Term: 2, Lease: a}},
		{"another lease resigns the leader: not owner, nothing written",
			resign("E", ck(2), b), wire.CodeNotOwner, "only its owner may release it", nil, 3, nil,
			&leader{Key: ck(2), Value: []byte("a1"), Term: 2, Lease: a}},
		{"the leader proclaims: same term, new value, a put on the leader key",
			proclaim("E", ck(2), "a2", a), wire.OK, "",
			&leader{Key: ck(2), Value: []byte("a2"), Term: 2, Lease: a}, 4,
			[]string{"put " + q(ck(2)) + `="a2" @4`, "put " + leaderKey + "={" + q(ck(2)) + ` "a2" t2} @4`},
			&leader{Key: ck(2), Value: []byte("a2"), Term: 2, Lease: a}},
		{"resigning a key that is no candidate: a no-op",
			resign("E", ck(9), a), wire.OK, "", &leader{}, 4, nil,
			&leader{Key: ck(2), Value: []byte("a2"), Term: 2, Lease: a}},
		{"a third candidate",
			campaign("E", a, "a3"), wire.OK, "",
			&leader{Key: ck(5), Value: []byte("a3"), Lease: a}, 5,
			[]string{"put " + q(ck(5)) + `="a3" @5`, "put " + leaderKey + "={" + q(ck(2)) + ` "a2" t2} @5`},
			&leader{Key: ck(2), Value: []byte("a2"), Term: 2, Lease: a}},
		{"a waiting candidate resigns",
			resign("E", ck(3), b), wire.OK, "", &leader{}, 6,
			[]string{"del " + q(ck(3)) + " @6"},
			&leader{Key: ck(2), Value: []byte("a2"), Term: 2, Lease: a}},
		{"the leader resigns: the next candidate (not the resigned one) leads from the same command",
			resign("E", ck(2), a), wire.OK, "", &leader{}, 7,
			[]string{"del " + q(ck(2)) + " @7", "put " + leaderKey + "={" + q(ck(5)) + ` "a3" t7} @7`},
			&leader{Key: ck(5), Value: []byte("a3"), Term: 7, Lease: a}},
		{"resigning twice is fine",
			resign("E", ck(2), a), wire.OK, "", &leader{}, 7, nil,
			&leader{Key: ck(5), Value: []byte("a3"), Term: 7, Lease: a}},
		{"the last leader resigns: a delete on the leader key",
			resign("E", ck(5), a), wire.OK, "", &leader{}, 8,
			[]string{"del " + q(ck(5)) + " @8", "del " + leaderKey + " @8"},
			nil},
		{"no lease", campaign("E", 0, "x"), wire.CodeInvalid, "a lease is required", nil, 8, nil, nil},
		{"missing lease", campaign("E", wire.LeaseID(smtest.ShardID, 50), "x"), wire.CodeLeaseNotFound, "", nil, 8, nil, nil},
		{"lease of another shard", campaign("E", wire.LeaseID(1, 1), "x"), wire.CodeWrongShard, "routing key {E}", nil, 8, nil, nil},
		{"bad name", campaign("E}1", a, "x"), wire.CodeInvalid, "election name", nil, 8, nil, nil},
		{"bad name (proclaim)", proclaim("", ck(2), "x", a), wire.CodeInvalid, "empty election name", nil, 8, nil, nil},
		{"bad name (resign)", resign("{E}", ck(2), a), wire.CodeInvalid, "", nil, 8, nil, nil},
	}
	for _, s := range steps {
		var got leader
		werr, evs := h.Do(s.cmd, &got)
		if s.code == wire.OK {
			require.Nil(t, werr, s.desc)
			require.Equal(t, wire.ResponseHeader{Shard: smtest.ShardID, Revision: s.rev}, got.Header, s.desc)
			got.Header = wire.ResponseHeader{}
			require.Equal(t, s.resp, &got, s.desc)
		} else {
			require.NotNil(t, werr, s.desc)
			require.Equal(t, s.code, werr.Code, s.desc)
			require.Contains(t, werr.Message, s.msg, s.desc)
		}
		require.Equal(t, s.rev, h.Rev(), s.desc)
		require.Equal(t, s.events, ev(evs), s.desc)
		l, err := h.Shard.Leader("E")
		if s.leader == nil {
			require.Error(t, err, s.desc)
			require.Equal(t, wire.CodeNotFound, err.(*wire.Error).Code)
			require.Equal(t, `election "E" has no leader`, err.Error())
			continue
		}
		require.NoError(t, err, s.desc)
		require.Equal(t, wire.ResponseHeader{Shard: smtest.ShardID, Revision: s.rev}, l.Header, s.desc)
		l.Header = wire.ResponseHeader{}
		require.Equal(t, s.leader, l, s.desc)
	}
	_, err := h.Shard.Leader("a{b")
	require.Equal(t, wire.CodeInvalid, err.(*wire.Error).Code)
}

// TestElectionRevokeHandsOn: the leader's lease expiring makes the next
// candidate leader in the revoke command, with a put on the leader key.
func TestElectionRevokeHandsOn(t *testing.T) {
	h := smtest.New(t)
	a, b := h.Grant(10), h.Grant(10)
	h.Must(campaign("E", a, "a"), nil) // 2
	h.Must(campaign("E", b, "b"), nil) // 3
	evs := h.Revoke(a)
	require.Equal(t, int64(4), h.Rev())
	require.Equal(t, []string{
		fmt.Sprintf("del %q @4", ck(2)),
		"put " + leaderKey + fmt.Sprintf(`={%q "b" t4} @4`, ck(3)),
	}, ev(evs))
	l, err := h.Shard.Leader("E")
	require.NoError(t, err)
	require.Equal(t, int64(4), l.Term)
	require.Equal(t, "b", string(l.Value))

	evs = h.Revoke(b)
	require.Equal(t, []string{fmt.Sprintf("del %q @5", ck(3)), "del " + leaderKey + " @5"}, ev(evs))
	_, err = h.Shard.Leader("E")
	require.Equal(t, wire.CodeNotFound, err.(*wire.Error).Code)
}

// TestElectionTermsIncrease: terms strictly increase across leaders, and
// locks and elections of one name are separate.
func TestElectionTermsIncrease(t *testing.T) {
	h := smtest.New(t)
	var last int64
	leases := []int64{h.Grant(10), h.Grant(10), h.Grant(10)}
	for i := 0; i < 30; i++ {
		var r wire.LeaderResponse
		h.Must(campaign("E", leases[i%3], fmt.Sprint(i)), &r)
		var lr wire.LockResponse
		h.Must(statemachine.NewCommand(lockrules.OpLock, &wire.LockRequest{Name: "E", Lease: leases[i%3]}), &lr)
		l, err := h.Shard.Leader("E")
		require.NoError(t, err)
		if i%4 == 3 {
			h.Must(resign("E", l.Key, l.Lease), nil)
		}
		if i%7 == 6 {
			h.Revoke(leases[i%3])
			leases[i%3] = h.Grant(10)
		}
		if l, err := h.Shard.Leader("E"); err == nil && l.Term != last {
			require.Greater(t, l.Term, last)
			last = l.Term
		}
	}
	require.Positive(t, last)
	// Lock "E" and election "E" share the shard but not their keys.
	require.NotEqual(t, lockrules.HolderKey("E"), electionrules.LeaderKey("E"))
	require.Equal(t, wire.ShardOf(lockrules.Prefix("E"), 64), wire.ShardOf(electionrules.Prefix("E"), 64))
}

func TestElectionKeyLayout(t *testing.T) {
	require.Equal(t, "\x00coord/elect/{E}/", string(electionrules.Prefix("E")))
	require.Equal(t, "\x00coord/elect/{E}/h", string(electionrules.LeaderKey("E")))
	require.NoError(t, electionrules.ValidateName("E"))
	require.Error(t, electionrules.ValidateName("E}"))
	h := lockrules.Holder{Key: ck(5), Token: 9, Lease: 3, Owner: []byte("v")}
	got, err := electionrules.DecodeLeader(h.Encode())
	require.NoError(t, err)
	require.Equal(t, h, got)
	require.Equal(t, &wire.LeaderResponse{Key: ck(5), Value: []byte("v"), Term: 9, Lease: 3}, electionrules.LeaderOf(h))
}
