package wire

// WatchRequest opens a watch stream on a key or range (RangeEnd as in
// RangeRequest). StartRevision 0 watches from the next revision; an older
// revision replays the history from there first, then continues live, with
// no gap and no duplicate. For a watch served by every shard (a range
// without a common hash tag) StartRevision applies to each shard.
type WatchRequest struct {
	Key           []byte `msgpack:"k"`
	RangeEnd      []byte `msgpack:"e,omitempty"`
	StartRevision int64  `msgpack:"r,omitempty"`
	// StartRevisions overrides StartRevision per shard; a client resuming
	// a watch over several shards sets it to each shard's next revision.
	StartRevisions map[uint32]int64 `msgpack:"rs,omitempty"`
	PrevKV         bool             `msgpack:"p,omitempty"`
	NoPut          bool             `msgpack:"np,omitempty"`
	NoDelete       bool             `msgpack:"nd,omitempty"`
}

// WatchResponse is one message of a watch stream: a batch of events in
// revision order (per shard), or the end of the stream. The first message
// of every stream is a Created message with no events; Header carries the
// revision (per shard) the watch starts after.
//
// A stream ends with Canceled set and a Reason; CompactRevision is set
// when the watch asked for history that has been compacted.
//
// A message carries at most the server's response byte limit of events
// (at least one event). A revision with more events than that is split
// over several messages: each but the last has Fragment set, and a client
// delivers a revision only once it has all of it.
type WatchResponse struct {
	Header          ResponseHeader `msgpack:"h"`
	Created         bool           `msgpack:"c,omitempty"`
	Events          []Event        `msgpack:"ev,omitempty"`
	Canceled        bool           `msgpack:"x,omitempty"`
	Reason          string         `msgpack:"why,omitempty"`
	CompactRevision int64          `msgpack:"cr,omitempty"`
	// Fragment: the last revision of Events goes on in the next message.
	Fragment bool `msgpack:"frag,omitempty"`
}
