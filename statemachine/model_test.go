package statemachine

import (
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

// TestRangeAgainstModel checks reads at every revision against a naive
// model of the history, with keys of long and short histories (the scan
// both steps through versions and seeks past them) and compactions.
func TestRangeAgainstModel(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	h := newHarness(t)
	keys := []string{"a", "a\x00", "b", "bb", "c\x00\x00", "d"}
	history := map[string]map[int64]version{} // key → rev → version
	rev := int64(1)                           // an empty shard is at revision 1
	for i := 0; i < 400; i++ {
		k := keys[rng.Intn(len(keys))]
		if rng.Intn(4) == 0 {
			k = "a" // a long history
		}
		var batch []*Command
		for j := rng.Intn(5); j >= 0; j-- {
			if rng.Intn(5) == 0 {
				batch = append(batch, &Command{Op: OpDelete, req: &wire.DeleteRangeRequest{Key: []byte(k)}})
			} else {
				batch = append(batch, &Command{Op: OpPut, req: &wire.PutRequest{Key: []byte(k), Value: []byte{byte('0' + rng.Intn(10))}}})
			}
		}
		rs, _ := h.apply(batch...)
		for j, c := range batch {
			require.Equal(t, wire.OK, rs[j].Code)
			if history[k] == nil {
				history[k] = map[int64]version{}
			}
			if put, ok := c.Request().(*wire.PutRequest); ok {
				rev++
				history[k][rev] = version{value: string(put.Value), live: true}
			} else if latest(history[k], rev).live {
				rev++
				history[k][rev] = version{}
			}
		}
	}
	compacted := int64(0)
	check := func() {
		for r := max(compacted, 1); r <= rev; r++ {
			var live []string
			for k, vs := range history {
				if latest(vs, r).live {
					live = append(live, k)
				}
			}
			sort.Strings(live)
			var want []string
			for _, k := range live {
				want = append(want, k+"="+latest(history[k], r).value)
			}
			got := kvs(h.rng(&wire.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: r}))
			require.Equal(t, want, got, "revision %d (seed %d)", r, seed)
		}
	}
	check()
	for _, c := range []int64{rev / 3, rev / 2, rev - 1} {
		require.Equal(t, wire.OK, h.compact(c).Code)
		compacted = c
		check()
	}
}

type version struct {
	value string
	live  bool
}

func latest(vs map[int64]version, rev int64) version {
	best := int64(-1)
	for r := range vs {
		if r <= rev && r > best {
			best = r
		}
	}
	return vs[best]
}
