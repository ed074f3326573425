package wire

import "hash/fnv"

// EtcdMemberID is the etcd member ID of the member named name, as the etcd
// door reports it (member_id in headers, member list) and the CLI prints
// it in etcdctl-shaped JSON: a hash of the name, the same on every member
// (etcd's IDs are random; Coord's member names are unique in a cluster and
// fixed). Never 0.
func EtcdMemberID(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte("coord-member/"))
	h.Write([]byte(name))
	if id := h.Sum64(); id != 0 {
		return id
	}
	return 1
}
