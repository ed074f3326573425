// Package wire is Coord's client–server protocol, shared by the client and
// the server: message types, error codes, frames and hash-tag routing.
//
// A connection carries frames: a 4-byte big-endian length, then the
// msgpack encoding of a Frame (an array). The client's first frame is a
// Hello (magic, protocol version, client ID); the server answers with its
// member name, request size limit, shard count and cluster identity (0
// while the member has not learned it; response headers carry it too), or
// an error and closes.
// Then any number of calls are in flight at once, each identified by the
// ID the client chose: a Request (method, body, relative timeout, the
// write's sequence number), answered by one Response, or by several with
// More set for a stream (watch, observe), ended by a final one. A Cancel
// frame ends a call early. Errors travel as a stable Code and a one-line
// message; codes never change meaning and are append-only (exactly-once
// records persist them; TestCodesPinned pins each code's number).
//
// A malformed or oversized frame closes only its connection, except that
// a client passes over a response frame over its limit and fails only
// that call (FrameReader.SkipOversized). A server never sends a frame over
// MaxResponseFrameSize: ranges are paged (RangeRequest, NextKey) and watch
// messages bounded, a revision split into Fragment messages. Decoders are
// fuzzed (FuzzDecodeFrame).
//
// Methods: one table (methods.go, LookupMethod, Methods) says for every
// method its request and response types, whether it is an exactly-once
// write (per request: IsWrite; a resumed wait or a barrier's Wait only
// reads), whether it waits, whether a cut-off wait is resumed, and
// whether it streams (IsStream). The client tags writes from it, and the
// server's dispatch, deadlines, stream limit and metrics read it.
//
// Routing: a key's shard is hash(tag) mod shards, where tag is the text
// between the first '{' and the next '}' when non-empty, else the whole
// key (HashTag, ShardOf). Ranges whose keys share a tag are served by one
// shard; others fan out (RangeShard).
package wire
