package server

import (
	"testing"

	"github.com/coord-io/coord/coord/wire"
)

// TestEtcdMemberIDAgrees: the CLI's etcdctl-shaped JSON (wire.EtcdMemberID)
// and the etcd door name a member by the same ID.
func TestEtcdMemberIDAgrees(t *testing.T) {
	for _, name := range []string{"n1", "n2", "default", ""} {
		if got, want := wire.EtcdMemberID(name), etcdMemberID(name); got != want {
			t.Errorf("%q: wire %d, etcd door %d", name, got, want)
		}
	}
}
