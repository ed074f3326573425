package wire

import (
	"bytes"
	"errors"
	"testing"
)

// TestSkipOversized: with SkipOversized a frame over the limit is passed
// over and reported with its call ID; the frames after it read normally.
// Without it the stream fails.
func TestSkipOversized(t *testing.T) {
	var stream []byte
	for _, f := range []*Frame{
		{Type: FrameResponse, ID: 1, Body: []byte("small")},
		{Type: FrameResponse, ID: 300000, More: true, Body: make([]byte, 5000)},
		{Type: FrameResponse, ID: 3, Body: []byte("after")},
	} {
		var err error
		if stream, err = AppendFrame(stream, f); err != nil {
			t.Fatal(err)
		}
	}
	fr := NewFrameReader(bytes.NewReader(stream), 1000)
	fr.SkipOversized()
	var f Frame
	if err := fr.Read(&f); err != nil || f.ID != 1 {
		t.Fatalf("first: %v %+v", err, f)
	}
	err := fr.Read(&f)
	var big *OversizedFrameError
	if !errors.As(err, &big) || !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("second: %v, want an OversizedFrameError", err)
	}
	if big.ID != 300000 || big.Type != FrameResponse || big.Size < 5000 || big.Limit != 1000 {
		t.Fatalf("second: %+v", big)
	}
	if err := fr.Read(&f); err != nil || f.ID != 3 || string(f.Body) != "after" {
		t.Fatalf("third: %v %+v", err, f)
	}

	fr = NewFrameReader(bytes.NewReader(stream), 1000)
	_ = fr.Read(&f)
	if err := fr.Read(&f); !errors.Is(err, ErrFrameTooLarge) || errors.As(err, &big) {
		t.Fatalf("without SkipOversized: %v", err)
	}
}
