package semaphorerules

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

const testShard = 7

// step is one command of a rules table and what it must give. Owners are
// named by the revision of their acquire (the owner key's revision);
// leases by a letter: "A" to "D" exist, "X" does not, "W" is of another
// shard, "" is none.
type step struct {
	op     string // "acquire", "release" or "revoke"
	name   string // semaphore; "S" when empty
	lease  string
	limit  int64
	weight int64
	try    bool
	owner  int64  // release: the owner key's revision
	key    []byte // release: a key given as is instead of owner

	code  wire.Code // wanted error code, OK for success
	msg   []string  // substrings of the error's message
	token int64     // acquire: wanted token (0: waits)
	// After the step, the holders with their tokens and the waiters of
	// S, by revision, in status order.
	holders [][2]int64
	waiters []int64
	// meta, when set, is S's meta record after the step ({} for none).
	meta *Meta
}

type table struct {
	s      *memStore
	leases map[string]int64
}

func newTable() *table {
	s := newMemStore(testShard, 4) // the first command writes at revision 5
	tb := &table{s: s, leases: map[string]int64{
		"": 0, "X": wire.LeaseID(testShard, 99), "W": wire.LeaseID(testShard+1, 1),
	}}
	for i, l := range []string{"A", "B", "C", "D"} {
		tb.leases[l] = s.grant(uint64(i + 1))
	}
	return tb
}

func (tb *table) run(t *testing.T, steps []step) {
	t.Helper()
	for i, st := range steps {
		name := st.name
		if name == "" {
			name = "S"
		}
		before := tb.s.rev
		var werr *wire.Error
		switch st.op {
		case "acquire":
			var resp *wire.SemaphoreAcquireResponse
			resp, werr = tb.s.acquire(t, &wire.SemaphoreAcquireRequest{
				Name: name, Lease: tb.leases[st.lease], Limit: st.limit, Weight: st.weight, Try: st.try,
				Owner: []byte("owner-" + st.lease),
			})
			if werr == nil {
				require.Equal(t, OwnerKey(name, before+1), resp.Key, "step %d", i)
				require.Equal(t, st.token, resp.Token, "step %d: token", i)
				require.Equal(t, st.token != 0, resp.Granted(), "step %d", i)
			}
		case "release":
			key := st.key
			if key == nil {
				key = OwnerKey(name, st.owner)
			}
			werr = tb.s.release(t, &wire.SemaphoreReleaseRequest{Name: name, Key: key, Lease: tb.leases[st.lease]})
		case "revoke":
			tb.s.revoke(t, tb.leases[st.lease])
		default:
			t.Fatalf("step %d: unknown op %q", i, st.op)
		}
		if st.code == wire.OK {
			require.Nil(t, werr, "step %d", i)
			require.Equal(t, before+1, tb.s.rev, "step %d: one revision", i)
		} else {
			require.NotNil(t, werr, "step %d: want %v", i, st.code)
			require.Equal(t, st.code, werr.Code, "step %d: %v", i, werr)
			for _, m := range st.msg {
				require.Contains(t, werr.Message, m, "step %d", i)
			}
			require.Equal(t, before, tb.s.rev, "step %d: a failed command writes nothing", i)
		}
		for _, n := range []string{"S", "T"} {
			checkInvariants(t, tb.s, n)
		}
		status := tb.s.status(t, "S")
		var holders [][2]int64
		for _, h := range status.Holders {
			holders = append(holders, [2]int64{ownerRevision(h.Key), h.Token})
		}
		var waiters []int64
		for _, w := range status.Waiters {
			waiters = append(waiters, ownerRevision(w.Key))
		}
		require.Equal(t, st.holders, holders, "step %d: holders (revision, token)", i)
		require.Equal(t, st.waiters, waiters, "step %d: waiters", i)
		if st.meta != nil {
			m, _, err := readMeta(tb.s, "S")
			require.NoError(t, err)
			require.Equal(t, *st.meta, m, "step %d: meta record", i)
		}
	}
}

// TestWorkedExample is doc.go's worked example.
func TestWorkedExample(t *testing.T) {
	meta := func(limit, held, holders, waiters, head int64) *Meta {
		return &Meta{Limit: limit, Held: held, Holders: holders, Waiters: waiters, Head: head}
	}
	newTable().run(t, []step{
		{op: "acquire", lease: "A", limit: 3, weight: 2, token: 5, holders: [][2]int64{{5, 5}}, meta: meta(3, 2, 1, 0, 0)},
		{op: "acquire", lease: "B", limit: 3, weight: 2, holders: [][2]int64{{5, 5}}, waiters: []int64{6}, meta: meta(3, 2, 1, 1, 6)},
		{op: "acquire", lease: "C", limit: 3, weight: 1, holders: [][2]int64{{5, 5}}, waiters: []int64{6, 7}, meta: meta(3, 2, 1, 2, 6)},
		{op: "acquire", lease: "D", limit: 5, code: wire.CodeInvalid, msg: []string{`semaphore "S" has a limit of 3, not 5`},
			holders: [][2]int64{{5, 5}}, waiters: []int64{6, 7}},
		{op: "acquire", lease: "D", limit: 3, try: true, code: wire.CodeLocked,
			holders: [][2]int64{{5, 5}}, waiters: []int64{6, 7}},
		{op: "revoke", lease: "A", holders: [][2]int64{{6, 8}, {7, 8}}, meta: meta(3, 3, 2, 0, 0)},
		{op: "release", lease: "B", owner: 6, holders: [][2]int64{{7, 8}}, meta: meta(3, 1, 1, 0, 0)},
		{op: "acquire", lease: "D", limit: 3, weight: 3, holders: [][2]int64{{7, 8}}, waiters: []int64{10}, meta: meta(3, 1, 1, 1, 10)},
		{op: "acquire", lease: "B", limit: 3, weight: 1, holders: [][2]int64{{7, 8}}, waiters: []int64{10, 11}, meta: meta(3, 1, 1, 2, 10)},
		{op: "release", lease: "D", owner: 10, holders: [][2]int64{{7, 8}, {11, 12}}, meta: meta(3, 2, 2, 0, 0)},
		{op: "release", lease: "C", owner: 7, holders: [][2]int64{{11, 12}}, meta: meta(3, 1, 1, 0, 0)},
		{op: "release", lease: "B", owner: 11, meta: &Meta{}},
	})
}

func TestSemaphoreRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"FIFO with weights: a large head blocks later small ones", []step{
			{op: "acquire", lease: "A", limit: 4, weight: 3, token: 5, holders: [][2]int64{{5, 5}}},
			{op: "acquire", lease: "B", limit: 4, weight: 4, holders: [][2]int64{{5, 5}}, waiters: []int64{6}},
			// 1 permit is free, but B waits ahead: C and D wait too.
			{op: "acquire", lease: "C", limit: 4, weight: 1, holders: [][2]int64{{5, 5}}, waiters: []int64{6, 7}},
			{op: "acquire", lease: "D", limit: 4, weight: 1, holders: [][2]int64{{5, 5}}, waiters: []int64{6, 7, 8}},
			// A leaves: B (4) takes everything; C and D still wait.
			{op: "release", lease: "A", owner: 5, holders: [][2]int64{{6, 9}}, waiters: []int64{7, 8}},
			// B leaves: C and D are granted by the same command.
			{op: "release", lease: "B", owner: 6, holders: [][2]int64{{7, 10}, {8, 10}}},
		}},
		{"grant stops at the first that does not fit", []step{
			{op: "acquire", lease: "A", limit: 3, weight: 3, token: 5, holders: [][2]int64{{5, 5}}},
			{op: "acquire", lease: "B", limit: 3, weight: 1, holders: [][2]int64{{5, 5}}, waiters: []int64{6}},
			{op: "acquire", lease: "C", limit: 3, weight: 3, holders: [][2]int64{{5, 5}}, waiters: []int64{6, 7}},
			{op: "acquire", lease: "D", limit: 3, weight: 1, holders: [][2]int64{{5, 5}}, waiters: []int64{6, 7, 8}},
			{op: "release", lease: "A", owner: 5, holders: [][2]int64{{6, 9}}, waiters: []int64{7, 8}},
			// The head (C, 3) leaves: D fits behind it and is granted.
			{op: "release", lease: "C", owner: 7, holders: [][2]int64{{6, 9}, {8, 10}}},
		}},
		{"a waiter that is not the head leaves: nobody granted", []step{
			{op: "acquire", lease: "A", limit: 2, weight: 2, token: 5, holders: [][2]int64{{5, 5}}},
			{op: "acquire", lease: "B", limit: 2, weight: 1, holders: [][2]int64{{5, 5}}, waiters: []int64{6}},
			{op: "acquire", lease: "C", limit: 2, weight: 2, holders: [][2]int64{{5, 5}}, waiters: []int64{6, 7}},
			{op: "release", lease: "C", owner: 7, holders: [][2]int64{{5, 5}}, waiters: []int64{6}},
			{op: "release", lease: "A", owner: 5, holders: [][2]int64{{6, 9}}},
		}},
		{"limit: one per name while owned, re-set once empty", []step{
			{op: "acquire", lease: "A", limit: 2, token: 5, holders: [][2]int64{{5, 5}}},
			{op: "acquire", lease: "B", limit: 3, code: wire.CodeInvalid,
				msg: []string{`semaphore "S" has a limit of 2, not 3`, "1 holding, 0 waiting"}, holders: [][2]int64{{5, 5}}},
			{op: "acquire", lease: "B", limit: 1, code: wire.CodeInvalid, msg: []string{"limit of 2, not 1"}, holders: [][2]int64{{5, 5}}},
			{op: "acquire", lease: "B", limit: 2, weight: 2, holders: [][2]int64{{5, 5}}, waiters: []int64{6}},
			{op: "release", lease: "A", owner: 5, holders: [][2]int64{{6, 7}}},
			{op: "acquire", lease: "C", limit: 5, code: wire.CodeInvalid, msg: []string{"limit of 2, not 5"}, holders: [][2]int64{{6, 7}}},
			{op: "release", lease: "B", owner: 6},
			// Empty: the next acquirer sets the limit.
			{op: "acquire", lease: "C", limit: 5, weight: 5, token: 9, holders: [][2]int64{{9, 9}}},
			// Another semaphore has its own limit.
			{op: "acquire", name: "T", lease: "C", limit: 1, token: 10, holders: [][2]int64{{9, 9}}},
		}},
		{"limit and weight bounds", []step{
			{op: "acquire", lease: "A", limit: 0, code: wire.CodeInvalid, msg: []string{"limit of at least 1"}},
			{op: "acquire", lease: "A", limit: -3, code: wire.CodeInvalid, msg: []string{"limit -3"}},
			{op: "acquire", lease: "A", limit: 3, weight: 4, code: wire.CodeInvalid, msg: []string{"weight 4 is more than the limit 3"}},
			{op: "acquire", lease: "A", limit: 3, weight: -1, code: wire.CodeInvalid, msg: []string{"weight -1"}},
			// Weight 0 is 1.
			{op: "acquire", lease: "A", limit: 3, weight: 0, token: 5, holders: [][2]int64{{5, 5}}},
			{op: "acquire", lease: "B", limit: 3, weight: 2, token: 6, holders: [][2]int64{{5, 5}, {6, 6}}},
			// Weight = limit waits for everyone, then gets everything.
			{op: "acquire", lease: "C", limit: 3, weight: 3, holders: [][2]int64{{5, 5}, {6, 6}}, waiters: []int64{7}},
			{op: "release", lease: "A", owner: 5, holders: [][2]int64{{6, 6}}, waiters: []int64{7}},
			{op: "release", lease: "B", owner: 6, holders: [][2]int64{{7, 9}}},
		}},
		{"try: granted at once or nothing written", []step{
			{op: "acquire", lease: "A", limit: 3, weight: 2, try: true, token: 5, holders: [][2]int64{{5, 5}}},
			{op: "acquire", lease: "B", limit: 3, weight: 2, try: true, code: wire.CodeLocked,
				msg: []string{`semaphore "S": 2 permit(s) not free at once: 2 of 3 held by 1 holder(s), 0 waiting`}, holders: [][2]int64{{5, 5}}},
			{op: "acquire", lease: "B", limit: 3, weight: 2, holders: [][2]int64{{5, 5}}, waiters: []int64{6}},
			// 1 permit is free, but a waiter is ahead.
			{op: "acquire", lease: "C", limit: 3, weight: 1, try: true, code: wire.CodeLocked,
				msg: []string{"1 waiting"}, holders: [][2]int64{{5, 5}}, waiters: []int64{6}},
			// A mismatched limit is reported before the try.
			{op: "acquire", lease: "C", limit: 4, try: true, code: wire.CodeInvalid, holders: [][2]int64{{5, 5}}, waiters: []int64{6}},
			{op: "release", lease: "B", owner: 6, holders: [][2]int64{{5, 5}}},
			{op: "acquire", lease: "C", limit: 3, weight: 1, try: true, token: 8, holders: [][2]int64{{5, 5}, {8, 8}}},
		}},
		{"release: only the owner, only a live owner", []step{
			{op: "acquire", lease: "A", limit: 2, token: 5, holders: [][2]int64{{5, 5}}},
			{op: "acquire", lease: "B", limit: 2, weight: 2, holders: [][2]int64{{5, 5}}, waiters: []int64{6}},
			{op: "release", lease: "B", owner: 5, code: wire.CodeNotOwner,
				msg: []string{"not owner", "only its owner may release it"}, holders: [][2]int64{{5, 5}}, waiters: []int64{6}},
			{op: "release", lease: "", owner: 6, code: wire.CodeNotOwner, holders: [][2]int64{{5, 5}}, waiters: []int64{6}},
			{op: "release", lease: "A", owner: 4, code: wire.CodeNotHolder,
				msg: []string{`is not an owner of semaphore "S"`}, holders: [][2]int64{{5, 5}}, waiters: []int64{6}},
			{op: "release", lease: "A", key: MetaKey("S"), code: wire.CodeNotHolder, holders: [][2]int64{{5, 5}}, waiters: []int64{6}},
			{op: "release", lease: "A", key: []byte("S"), code: wire.CodeNotHolder, holders: [][2]int64{{5, 5}}, waiters: []int64{6}},
			{op: "release", lease: "A", key: nil, owner: 0, code: wire.CodeNotHolder, holders: [][2]int64{{5, 5}}, waiters: []int64{6}},
			// S's owner key named under another semaphore.
			{op: "release", name: "T", lease: "A", key: OwnerKey("S", 5), code: wire.CodeNotHolder, holders: [][2]int64{{5, 5}}, waiters: []int64{6}},
			{op: "release", lease: "A", owner: 5, holders: [][2]int64{{6, 7}}},
			{op: "release", lease: "A", owner: 5, code: wire.CodeNotHolder, msg: []string{"released already"}, holders: [][2]int64{{6, 7}}},
			{op: "release", name: "bad}name", lease: "A", owner: 5, code: wire.CodeInvalid, holders: [][2]int64{{6, 7}}},
		}},
		{"revoke hands on", []step{
			{op: "acquire", lease: "A", limit: 3, weight: 2, token: 5, holders: [][2]int64{{5, 5}}},
			{op: "acquire", lease: "A", limit: 3, weight: 1, token: 6, holders: [][2]int64{{5, 5}, {6, 6}}},
			{op: "acquire", lease: "B", limit: 3, weight: 2, holders: [][2]int64{{5, 5}, {6, 6}}, waiters: []int64{7}},
			{op: "acquire", lease: "A", limit: 3, weight: 3, holders: [][2]int64{{5, 5}, {6, 6}}, waiters: []int64{7, 8}},
			{op: "acquire", lease: "C", limit: 3, weight: 1, holders: [][2]int64{{5, 5}, {6, 6}}, waiters: []int64{7, 8, 9}},
			{op: "acquire", name: "T", lease: "A", limit: 1, token: 10, holders: [][2]int64{{5, 5}, {6, 6}}, waiters: []int64{7, 8, 9}},
			{op: "acquire", name: "T", lease: "D", limit: 1, holders: [][2]int64{{5, 5}, {6, 6}}, waiters: []int64{7, 8, 9}},
			// A's two holders and its waiter (the second in line) go in one
			// command: B and C are granted, and T is handed to D.
			{op: "revoke", lease: "A", holders: [][2]int64{{7, 12}, {9, 12}}},
			// C, a holder, goes; then B, the last owner: S is empty.
			{op: "revoke", lease: "C", holders: [][2]int64{{7, 12}}},
			{op: "revoke", lease: "B"},
		}},
		{"revoke of a waiter at the head lets a smaller one in", []step{
			{op: "acquire", lease: "A", limit: 3, weight: 2, token: 5, holders: [][2]int64{{5, 5}}},
			{op: "acquire", lease: "B", limit: 3, weight: 3, holders: [][2]int64{{5, 5}}, waiters: []int64{6}},
			{op: "acquire", lease: "C", limit: 3, weight: 1, holders: [][2]int64{{5, 5}}, waiters: []int64{6, 7}},
			{op: "revoke", lease: "B", holders: [][2]int64{{5, 5}, {7, 8}}},
		}},
		{"lease checks", []step{
			{op: "acquire", lease: "", limit: 1, code: wire.CodeInvalid, msg: []string{"a lease is required"}},
			{op: "acquire", lease: "X", limit: 1, code: wire.CodeLeaseNotFound},
			{op: "acquire", lease: "W", limit: 1, code: wire.CodeWrongShard, msg: []string{"grant the lease with routing key {S}"}},
		}},
		{"names", []step{
			{op: "acquire", name: "a{b", lease: "A", limit: 1, code: wire.CodeInvalid, msg: []string{"cannot contain"}},
			{op: "acquire", name: "a}b", lease: "A", limit: 1, code: wire.CodeInvalid, msg: []string{"cannot contain '{' or '}'"}},
			{op: "acquire", name: string(make([]byte, MaxNameLen+1)), lease: "A", limit: 1, code: wire.CodeInvalid, msg: []string{"longer than 256"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { newTable().run(t, tc.steps) })
	}
}

func TestAcquireRefusesResume(t *testing.T) {
	s := newMemStore(testShard, 4)
	lease := s.grant(1)
	_, werr := s.acquire(t, &wire.SemaphoreAcquireRequest{Name: "S", Lease: lease, Limit: 1, Resume: OwnerKey("S", 3)})
	require.NotNil(t, werr)
	require.Equal(t, wire.CodeInvalid, werr.Code)
}

func TestStatusAndReadOwner(t *testing.T) {
	s := newMemStore(testShard, 4)
	a, b := s.grant(1), s.grant(2)
	st := s.status(t, "S")
	require.Equal(t, &wire.SemaphoreStatusResponse{}, st)

	for _, req := range []*wire.SemaphoreAcquireRequest{
		{Name: "S", Lease: a, Limit: 3, Weight: 2, Owner: []byte("a1")},
		{Name: "S", Lease: b, Limit: 3, Weight: 2, Owner: []byte("b1")},
		{Name: "S", Lease: a, Limit: 3, Weight: 1, Owner: []byte("a2")},
	} {
		_, werr := s.acquire(t, req)
		require.Nil(t, werr)
	}
	st = s.status(t, "S")
	require.Equal(t, &wire.SemaphoreStatusResponse{
		Limit: 3, Held: 2,
		Holders: []wire.SemaphoreOwner{{Key: OwnerKey("S", 5), Owner: []byte("a1"), Weight: 2, Token: 5, Lease: a}},
		Waiters: []wire.SemaphoreOwner{
			{Key: OwnerKey("S", 6), Owner: []byte("b1"), Weight: 2, Lease: b},
			{Key: OwnerKey("S", 7), Owner: []byte("a2"), Weight: 1, Lease: a},
		},
	}, st)

	o, werr, err := ReadOwner(s, "S", OwnerKey("S", 6))
	require.NoError(t, err)
	require.Nil(t, werr)
	require.Equal(t, &st.Waiters[0], o)
	o, werr, err = ReadOwner(s, "S", OwnerKey("S", 4))
	require.NoError(t, err)
	require.Nil(t, werr)
	require.Nil(t, o)
	_, werr, _ = ReadOwner(s, "T", OwnerKey("S", 6))
	require.Equal(t, wire.CodeInvalid, werr.Code)
	_, werr, _ = ReadStatus(s, "")
	require.Equal(t, wire.CodeInvalid, werr.Code)

	// The grant is a put of the owner key whose value carries the token.
	require.Nil(t, s.release(t, &wire.SemaphoreReleaseRequest{Name: "S", Key: OwnerKey("S", 5), Lease: a}))
	kv, err := s.Get(OwnerKey("S", 6))
	require.NoError(t, err)
	dec, err := DecodeOwner(kv.Value)
	require.NoError(t, err)
	require.Equal(t, Owner{Weight: 2, Token: 8, Data: []byte("b1")}, dec)
	require.Equal(t, int64(8), kv.ModRevision)
}

func TestRecordEncoding(t *testing.T) {
	for _, m := range []Meta{{}, {Limit: 3, Held: 2, Holders: 1, Waiters: 2, Head: 6}, {Limit: 1<<63 - 1, Held: 1 << 62, Holders: 1 << 40, Waiters: 1, Head: 1 << 50}} {
		got, err := DecodeMeta(m.Encode())
		require.NoError(t, err)
		require.Equal(t, m, got)
	}
	for _, o := range []Owner{{Weight: 1}, {Weight: 3, Token: 1 << 40, Data: []byte("host-a pid 42")}} {
		b := o.Encode()
		got, err := DecodeOwner(b)
		require.NoError(t, err)
		require.Equal(t, o, got)
		b[len(b)-1] ^= 0xff // the decoded owner does not alias the value
		require.Equal(t, o, got)
	}
	goodMeta := Meta{Limit: 3}.Encode()
	for _, bad := range [][]byte{nil, {}, {2}, {1}, {1, 3, 0, 0, 0}, append(goodMeta, 0), append([]byte{2}, goodMeta[1:]...)} {
		_, err := DecodeMeta(bad)
		require.ErrorIs(t, err, ErrCorrupt, "%q", bad)
	}
	for _, bad := range [][]byte{nil, {}, {1}, {1, 0, 0}, {1, 1}, {2, 1, 0}} {
		_, err := DecodeOwner(bad)
		require.ErrorIs(t, err, ErrCorrupt, "%q", bad)
	}
}

func TestKeyLayout(t *testing.T) {
	require.Equal(t, "\x00coord/semaphore/{jobs}/", string(Prefix("jobs")))
	require.Equal(t, "\x00coord/semaphore/{jobs}/m", string(MetaKey("jobs")))
	require.Equal(t, "\x00coord/semaphore/{jobs}/o/\x00\x00\x00\x00\x00\x00\x01\x02", string(OwnerKey("jobs", 258)))
	require.Equal(t, "jobs", string(wire.HashTag(OwnerKey("jobs", 258))))
	for _, tc := range []struct {
		key  []byte
		name string
		ok   bool
	}{
		{OwnerKey("L", 5), "L", true},
		{OwnerKey("a.b c", 1<<50), "a.b c", true},
		{OwnerKey("jobs/a", 5), "jobs/a", true},
		{OwnerKey("a/", 5), "a/", true},
		{MetaKey("L"), "", false},
		{MetaKey("jobs/a"), "", false},
		{Prefix("L"), "", false},
		{append(OwnerKey("L", 5), 0), "", false},
		{[]byte(Root + "{}/o/12345678"), "", false},
		{[]byte(Root + "{L/o/12345678"), "", false},
		{[]byte("\x00coord/lock/{L}/o/12345678"), "", false},
	} {
		name, ok := OwnerName(tc.key)
		require.Equal(t, tc.ok, ok, "%q", tc.key)
		require.Equal(t, tc.name, name, "%q", tc.key)
	}
	require.NoError(t, ValidateName("jobs"))
	require.Error(t, ValidateName(""))

	// Corrupt state is an error, never a wrong grant.
	s := newMemStore(testShard, 4)
	require.NoError(t, s.Put(MetaKey("S"), []byte{9}, 0))
	_, _, err := ReadStatus(s, "S")
	require.ErrorIs(t, err, ErrCorrupt)
	_, werr, err := ApplyAcquire(s, &wire.SemaphoreAcquireRequest{Name: "S", Lease: s.grant(1), Limit: 1})
	require.Nil(t, werr)
	require.ErrorIs(t, err, ErrCorrupt)
}
