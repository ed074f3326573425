package barrierrules

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/locks/lockrules"
)

// The state-machine rules of barriers: package statemachine calls them
// inside the replicated apply, over a lockrules.Store of the barrier's shard.
// They are deterministic (no clock, no randomness, no map iteration),
// check every user error before their first write, and make at most one
// revision. See package barrier's doc for the key layout and a worked
// example.

// Root is the prefix of every barrier's state (see Prefix).
const Root = "\x00coord/barrier/"

// MaxNameLen is the longest name of a barrier, in bytes.
const MaxNameLen = lockrules.MaxNameLen

// ValidateName checks a barrier name: non-empty, at most MaxNameLen
// bytes, without '{' or '}' ('/' is allowed: "jobs/b"). The error is a *wire.Error with
// wire.CodeInvalid; nil for a valid name.
func ValidateName(name string) error {
	if werr := checkName(name); werr != nil {
		return werr
	}
	return nil
}

func checkName(name string) *wire.Error {
	switch {
	case name == "":
		return wire.Errorf(wire.CodeInvalid, "empty barrier name")
	case len(name) > MaxNameLen:
		return wire.Errorf(wire.CodeInvalid, "barrier name of %d bytes is longer than %d", len(name), MaxNameLen)
	}
	if i := strings.IndexAny(name, "{}"); i >= 0 {
		return wire.Errorf(wire.CodeInvalid, "barrier name %q contains %q: names cannot contain '{' or '}'", name, name[i])
	}
	return nil
}

// Prefix returns the prefix of every key of barrier name:
// "\x00coord/barrier/{NAME}/". Its hash tag is NAME.
func Prefix(name string) []byte { return []byte(Root + "{" + name + "}/") }

// GateKey returns the key of barrier name's gate (Prefix + "g"): present
// while the gate is held. A delete event on it releases every waiter.
func GateKey(name string) []byte { return append(Prefix(name), 'g') }

// ReadyKey returns the key of the ready record of double barrier name
// (Prefix + "r"): put when Count participants are in, deleted when the
// last participant leaves. A put event on it releases Enter, a delete
// event Leave.
func ReadyKey(name string) []byte { return append(Prefix(name), 'r') }

// ParticipantPrefix returns the prefix of the participant keys of double
// barrier name (Prefix + "p/").
func ParticipantPrefix(name string) []byte { return append(Prefix(name), 'p', '/') }

// ParticipantKey returns the key of the participant of double barrier
// name that entered at revision rev (ParticipantPrefix + rev as 8 bytes
// big-endian).
func ParticipantKey(name string, rev int64) []byte {
	return binary.BigEndian.AppendUint64(ParticipantPrefix(name), uint64(rev))
}

// IsParticipantKey reports whether key has the form of a participant key
// of double barrier name.
func IsParticipantKey(name string, key []byte) bool { return isParticipantKey(name, key) }

func isParticipantKey(name string, key []byte) bool {
	p := ParticipantPrefix(name)
	return len(key) == len(p)+8 && bytes.HasPrefix(key, p)
}

// participants counts the live participant keys.
func participants(r lockrules.Reader, name string) (int64, error) {
	p := ParticipantPrefix(name)
	return r.Count(p, wire.PrefixEnd(p))
}

func exists(r lockrules.Reader, key []byte) (bool, error) {
	kv, err := r.Get(key)
	return kv != nil, err
}

// ApplyBarrier applies a BarrierRequest at st.Revision():
//
//   - BarrierHold puts the gate key (if absent), BarrierRelease deletes it
//     (if present), BarrierWait only reads.
//   - BarrierEnter (Count ≥ 1, Lease a lease of this shard) puts a
//     participant key attached to Lease, and the ready record if there
//     are now at least Count participants and it is absent.
//   - BarrierLeave deletes participant key Key (a key that is not a live
//     participant of the barrier: nothing to do), and the ready record
//     if no participant is left.
//
// The response reports the state after the command (Held, Participants,
// Ready) and, for Enter, the participant's Key. Header is left to the
// caller.
func ApplyBarrier(st lockrules.Store, req *wire.BarrierRequest) (*wire.BarrierResponse, *wire.Error, error) {
	if werr := checkName(req.Name); werr != nil {
		return nil, werr, nil
	}
	var key []byte
	switch req.Op {
	case wire.BarrierHold:
		held, err := exists(st, GateKey(req.Name))
		if err != nil {
			return nil, nil, err
		}
		if !held {
			if err := st.Put(GateKey(req.Name), nil, 0); err != nil {
				return nil, nil, err
			}
		}
	case wire.BarrierRelease:
		if _, err := st.Delete(GateKey(req.Name)); err != nil {
			return nil, nil, err
		}
	case wire.BarrierWait:
	case wire.BarrierEnter:
		if req.Count < 1 {
			return nil, wire.Errorf(wire.CodeInvalid, "double barrier %q: a count of %d participants: it must be at least 1", req.Name, req.Count), nil
		}
		if werr, err := checkLease(st, req.Name, req.Lease); werr != nil || err != nil {
			return nil, werr, err
		}
		key = ParticipantKey(req.Name, st.Revision())
		if err := st.Put(key, []byte(strconv.FormatInt(req.Count, 10)), req.Lease); err != nil {
			return nil, nil, err
		}
		n, err := participants(st, req.Name)
		if err != nil {
			return nil, nil, err
		}
		ready, err := exists(st, ReadyKey(req.Name))
		if err != nil {
			return nil, nil, err
		}
		if n >= req.Count && !ready {
			if err := st.Put(ReadyKey(req.Name), []byte(strconv.FormatInt(n, 10)), 0); err != nil {
				return nil, nil, err
			}
		}
	case wire.BarrierLeave:
		if isParticipantKey(req.Name, req.Key) {
			left, err := st.Delete(req.Key)
			if err != nil {
				return nil, nil, err
			}
			if left {
				if err := participantGone(st, req.Name); err != nil {
					return nil, nil, err
				}
			}
		}
	default:
		return nil, wire.Errorf(wire.CodeInvalid, "barrier %q: unknown operation %d", req.Name, req.Op), nil
	}
	resp, err := readState(st, req.Name)
	if err != nil {
		return nil, nil, err
	}
	resp.Key = key
	return resp, nil, nil
}

// participantGone deletes the ready record of barrier name once no
// participant is left.
func participantGone(st lockrules.Store, name string) error {
	n, err := participants(st, name)
	if err != nil || n > 0 {
		return err
	}
	_, err = st.Delete(ReadyKey(name))
	return err
}

// checkLease checks that lease can be a participant's: a lease of this
// shard that exists.
func checkLease(st lockrules.Store, name string, lease int64) (*wire.Error, error) {
	if lease == 0 {
		return wire.Errorf(wire.CodeInvalid, "double barrier %q: a lease is required (a participant leaves when it expires)", name), nil
	}
	shard, ok := wire.LeaseShard(lease)
	if !ok {
		return wire.Errorf(wire.CodeLeaseNotFound, "lease %016x not found (not a lease ID)", lease), nil
	}
	if shard != st.Shard() {
		return wire.Errorf(wire.CodeWrongShard,
			"barrier %q lives in shard %d and cannot use lease %016x of shard %d: grant the lease with routing key {%s}",
			name, st.Shard(), lease, shard, name), nil
	}
	ok, err := st.LeaseExists(lease)
	if err != nil || ok {
		return nil, err
	}
	return wire.Errorf(wire.CodeLeaseNotFound, "lease %016x not found", lease), nil
}

// participantName returns the barrier name of a participant key, and
// false for any other key.
func participantName(key []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(key, []byte(Root))
	if !ok || len(rest) < 2 || rest[0] != '{' {
		return "", false
	}
	end := bytes.IndexByte(rest, '}')
	if end < 0 {
		return "", false
	}
	name := string(rest[1:end])
	if checkName(name) != nil || !isParticipantKey(name, key) {
		return "", false
	}
	return name, true
}

// KeyDeleted removes a participant whose key was deleted other than by
// BarrierLeave, that is by the revoke (or expiry) of its lease: as for a
// Leave, the ready record is deleted if no participant is left, so the
// others are never stuck in Leave. Called by the revoke command, at its
// revision, for every deleted key under Root, after all the lease's keys
// are gone; prev is the deleted key's last live version. Other keys are
// ignored.
func KeyDeleted(st lockrules.Store, prev *wire.KeyValue) error {
	name, ok := participantName(prev.Key)
	if !ok {
		return nil
	}
	return participantGone(st, name)
}

// ReadState describes barrier name as r sees it: whether its gate is
// Held, how many Participants are in its double barrier, and whether its
// ready record exists (Ready). Header is left to the caller.
func ReadState(r lockrules.Reader, name string) (*wire.BarrierResponse, *wire.Error, error) {
	if werr := checkName(name); werr != nil {
		return nil, werr, nil
	}
	resp, err := readState(r, name)
	return resp, nil, err
}

func readState(r lockrules.Reader, name string) (*wire.BarrierResponse, error) {
	held, err := exists(r, GateKey(name))
	if err != nil {
		return nil, err
	}
	n, err := participants(r, name)
	if err != nil {
		return nil, err
	}
	ready, err := exists(r, ReadyKey(name))
	if err != nil {
		return nil, err
	}
	return &wire.BarrierResponse{Held: held, Participants: n, Ready: ready}, nil
}
