package main

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/coord-io/coord/coord/wire"
)

// getSort is the --sort-by/--order of get, as etcdctl's.
type getSort struct {
	target  string // KEY, VERSION, CREATE, MODIFY or VALUE; "" with order "": none
	descend bool
}

// parseGetSort reads etcdctl's --sort-by and --order values, in any case.
// --order alone sorts by key; --sort-by alone ascends.
func parseGetSort(sortBy, order string) (getSort, error) {
	var s getSort
	switch t := strings.ToUpper(sortBy); t {
	case "", "KEY", "VERSION", "CREATE", "MODIFY", "VALUE":
		s.target = t
	default:
		return s, fmt.Errorf("--sort-by: want KEY, VERSION, CREATE, MODIFY or VALUE, got %q", sortBy)
	}
	switch o := strings.ToUpper(order); o {
	case "", "ASCEND":
	case "DESCEND":
		s.descend = true
	default:
		return s, fmt.Errorf("--order: want ASCEND or DESCEND, got %q", order)
	}
	if s.target == "" && order != "" {
		s.target = "KEY"
	}
	return s, nil
}

// native reports whether the member's order (ascending keys) is the
// order asked for, so --limit can be left to the member.
func (s getSort) native() bool { return s.target == "" || (s.target == "KEY" && !s.descend) }

// apply sorts the whole range r (key order, as read) and keeps its first
// limit keys (0: all), as etcd sorts before it limits. Ties keep key order.
// Count stays the range's; More reports keys left out.
func (s getSort) apply(r *wire.RangeResponse, limit int64) {
	if s.native() {
		return
	}
	less := func(a, b *wire.KeyValue) int {
		switch s.target {
		case "VERSION":
			return cmpInt(a.Version, b.Version)
		case "CREATE":
			return cmpInt(a.CreateRevision, b.CreateRevision)
		case "MODIFY":
			return cmpInt(a.ModRevision, b.ModRevision)
		case "VALUE":
			return bytes.Compare(a.Value, b.Value)
		}
		return bytes.Compare(a.Key, b.Key)
	}
	sort.SliceStable(r.Kvs, func(i, j int) bool {
		c := less(r.Kvs[i], r.Kvs[j])
		if s.descend {
			c = -c
		}
		return c < 0
	})
	if limit > 0 && int64(len(r.Kvs)) > limit {
		r.Kvs = r.Kvs[:limit]
		r.More = true
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
