package statemachine

import (
	"testing"

	"github.com/coord-io/coord/coord/wire"
)

// benchPutCommand is a client's put of a 256-byte value as the server
// proposes it (exactly-once tag, times).
func benchPutCommand() *Command {
	value := make([]byte, 256)
	cmd := &Command{ClientID: 7, Seq: 1234, AckBelow: 1200, Sent: 1_700_000_000_000, Time: 1_700_000_000_100}
	cmd.Set(OpPut, &wire.PutRequest{Key: []byte("bench/key/012345"), Value: value})
	return cmd
}

// BenchmarkCommandEncode is the proposer's cost of one put command.
func BenchmarkCommandEncode(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		cmd := benchPutCommand()
		if _, err := EncodeCommand(cmd); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommandDecode is the applier's cost of decoding one put
// command (envelope and request).
func BenchmarkCommandDecode(b *testing.B) {
	enc, err := EncodeCommand(benchPutCommand())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeCommand(enc); err != nil {
			b.Fatal(err)
		}
	}
}
