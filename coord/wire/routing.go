package wire

import "hash/fnv"

// HashTag returns the part of key that decides its shard: the text between
// the first '{' and the following '}' when that text is non-empty, else the
// whole key (the Redis Cluster hash-tag rule). Keys that share a tag, such
// as "{svc}/a" and "{svc}/b", always live in the same shard.
func HashTag(key []byte) []byte {
	for i, c := range key {
		if c != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j > i+1 {
					return key[i+1 : j]
				}
				return key
			}
		}
		return key
	}
	return key
}

// ShardOf returns the shard (0 ≤ shard < shards) that owns key.
func ShardOf(key []byte, shards int) uint32 {
	if shards <= 1 {
		return 0
	}
	h := fnv.New64a()
	h.Write(HashTag(key))
	return uint32(h.Sum64() % uint64(shards))
}

// RangeShard reports whether every key of the range [key, end) (end as in
// RangeRequest) lives in a single shard, and which. That holds for a single
// key, and for a prefix range whose prefix contains a complete, non-empty
// hash tag.
func RangeShard(key, end []byte, shards int) (uint32, bool) {
	if len(end) == 0 {
		return ShardOf(key, shards), true
	}
	if shards <= 1 {
		return 0, true
	}
	if pe := PrefixEnd(key); pe != nil && string(pe) == string(end) {
		if tag := HashTag(key); len(tag) < len(key) {
			return ShardOf(key, shards), true
		}
	}
	return 0, false
}

// PrefixEnd returns the end of the range of keys that start with prefix:
// the prefix with its last byte below 0xff incremented. For a prefix of
// only 0xff bytes (or an empty one) it returns "\x00", meaning "to the end
// of the keyspace", as etcd does.
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}
