package statemachine

import (
	"github.com/vmihailenco/msgpack/v5"

	"github.com/coord-io/coord/coord/wire"
)

// Command is the envelope of every proposal: who sent it, its place in the
// sender's sequence, and exactly one operation.
//
// ClientID and Seq make retries exactly-once: a command whose (ClientID,
// Seq) was already applied is not applied again; its first result is
// returned instead. AckBelow tells the state machine that the client has
// received the results of all its sequence numbers below it, so those
// results may be forgotten. ClientID 0 disables de-duplication (used by
// server-internal proposals that are idempotent by construction).
type Command struct {
	ClientID uint64 `msgpack:"cid,omitempty"`
	Seq      uint64 `msgpack:"seq,omitempty"`
	AckBelow uint64 `msgpack:"ack,omitempty"`

	Put         *wire.PutRequest         `msgpack:"put,omitempty"`
	DeleteRange *wire.DeleteRangeRequest `msgpack:"del,omitempty"`
	Txn         *wire.TxnRequest         `msgpack:"txn,omitempty"`
	Compact     *wire.CompactRequest     `msgpack:"cmp,omitempty"`
}

// EncodeCommand encodes a command for proposal.
func EncodeCommand(c *Command) ([]byte, error) {
	return msgpack.Marshal(c)
}

// DecodeCommand decodes a proposed command.
func DecodeCommand(b []byte) (*Command, error) {
	var c Command
	if err := msgpack.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// Result is what applying one command produced. Code is wire.OK on
// success, in which case Data is the msgpack encoding of the operation's
// response (*wire.PutResponse, *wire.DeleteRangeResponse,
// *wire.TxnResponse or *wire.CompactResponse). Otherwise Data is the
// msgpack encoding of a *wire.Error. User errors are results, never Go
// errors: an error returned from Apply is a storage failure.
type Result struct {
	Code wire.Code
	Data []byte
}

// Entry is one committed log entry to apply.
type Entry struct {
	Index  uint64
	Cmd    []byte
	Result Result
}
