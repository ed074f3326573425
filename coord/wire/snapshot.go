package wire

// MethodSnapshot streams a backup of every shard from the member the
// call reaches (member-local; root's only while auth is on): the bytes
// of one backup file (statemachine.WriteBackup's format), in messages of
// at most SnapshotChunk bytes, then a final message with the total.
const MethodSnapshot = "maintenance.snapshot"

// SnapshotChunk bounds the bytes of one SnapshotResponse message.
const SnapshotChunk = 256 << 10

// SnapshotRequest asks for a backup.
type SnapshotRequest struct{}

// SnapshotResponse is one message of a backup stream: the next bytes of
// the file (Blob); the final message has none and the file's Size.
type SnapshotResponse struct {
	Blob []byte `msgpack:"b,omitempty"`
	Size int64  `msgpack:"n,omitempty"`
}
