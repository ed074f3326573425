package electionrules

import (
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/locks/lockrules"
)

// The state-machine rules of elections: the FIFO hand-off of package
// locks (lockrules.FIFO) under the election root, where an owner is a
// candidate, its data the candidate's value, the holder the leader and the
// token its term. Package statemachine calls them inside the replicated
// apply.

// Root is the prefix of every election's state (see Prefix).
const Root = "\x00coord/elect/"

const kind = "election"

// ValidateName checks an election name: non-empty, at most
// lockrules.MaxNameLen bytes, without '{' or '}' ('/' is allowed). The error is a
// *wire.Error with wire.CodeInvalid; nil for a valid name.
func ValidateName(name string) error {
	if _, werr := electionFIFO(name); werr != nil {
		return werr
	}
	return nil
}

func electionFIFO(name string) (*lockrules.FIFO, *wire.Error) {
	return lockrules.NewFIFO(kind, Root, name)
}

// Prefix returns the prefix of every key of election name:
// "\x00coord/elect/{NAME}/", hash tag NAME.
func Prefix(name string) []byte { return []byte(Root + "{" + name + "}/") }

// LeaderKey returns the key of election name's leader record (Prefix +
// "h"). Every change of leader or of the leader's value puts it; it is
// deleted when the last candidate leaves. DecodeLeader reads its value.
func LeaderKey(name string) []byte { return append(Prefix(name), 'h') }

// DecodeLeader decodes the value of a leader record (LeaderKey): a
// lockrules.Holder whose Key is the leader's candidate key, Owner its value,
// Token its term and Lease its lease.
func DecodeLeader(value []byte) (lockrules.Holder, error) { return lockrules.DecodeHolder(value) }

// LeaderOf is the LeaderResponse of a decoded leader record (Header left
// zero).
func LeaderOf(h lockrules.Holder) *wire.LeaderResponse {
	return &wire.LeaderResponse{Key: h.Key, Value: h.Owner, Term: h.Token, Lease: h.Lease}
}

// ApplyCampaign applies a CampaignRequest at st.Revision(): it queues a
// candidate with req.Value attached to req.Lease, leading at once (Term =
// the revision) if nobody leads, else waiting (Term 0). The response
// describes the candidate; its Header is left to the caller.
func ApplyCampaign(st lockrules.Store, req *wire.CampaignRequest) (*wire.LeaderResponse, *wire.Error, error) {
	f, werr := electionFIFO(req.Name)
	if werr != nil {
		return nil, werr, nil
	}
	if werr, err := f.CheckLease(st, req.Lease); werr != nil || err != nil {
		return nil, werr, err
	}
	key, h, granted, err := f.Join(st, req.Lease, req.Value)
	if err != nil {
		return nil, nil, err
	}
	resp := &wire.LeaderResponse{Key: key, Value: req.Value, Lease: req.Lease}
	if granted {
		resp.Term = h.Token
	}
	return resp, nil, nil
}

// ApplyProclaim applies a ProclaimRequest: the leader req.Key gets value
// req.Value (its candidate key and the leader record are put), keeping
// its term. wire.CodeNotLeader if req.Key does not lead, wire.CodeNotOwner
// if req.Lease is not its lease.
func ApplyProclaim(st lockrules.Store, req *wire.ProclaimRequest) (*wire.LeaderResponse, *wire.Error, error) {
	f, werr := electionFIFO(req.Name)
	if werr != nil {
		return nil, werr, nil
	}
	if h, held, err := f.Holder(st); err != nil || !held || string(h.Key) != string(req.Key) {
		if err != nil {
			return nil, nil, err
		}
		return nil, wire.Errorf(wire.CodeNotLeader, "key %q does not lead election %q", req.Key, req.Name), nil
	}
	if _, werr, err := f.Owned(st, req.Key, req.Lease); werr != nil || err != nil {
		return nil, werr, err
	}
	h, ok, err := f.SetOwner(st, req.Key, req.Value)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, wire.Errorf(wire.CodeNotLeader, "key %q does not lead election %q", req.Key, req.Name), nil
	}
	return LeaderOf(h), nil, nil
}

// ApplyResign applies a ResignRequest: candidate req.Key leaves the election;
// if it led, the next candidate leads from st.Revision(). Resigning a key
// that is not a candidate (any more) changes nothing and succeeds; a
// candidate of another lease than req.Lease is wire.CodeNotOwner. The
// response is empty but for the Header, left to the caller.
func ApplyResign(st lockrules.Store, req *wire.ResignRequest) (*wire.LeaderResponse, *wire.Error, error) {
	f, werr := electionFIFO(req.Name)
	if werr != nil {
		return nil, werr, nil
	}
	owner, werr, err := f.Owned(st, req.Key, req.Lease)
	if werr != nil || err != nil || !owner {
		return &wire.LeaderResponse{}, werr, err
	}
	if _, err := f.Leave(st, req.Key); err != nil {
		return nil, nil, err
	}
	return &wire.LeaderResponse{}, nil, nil
}

// OwnerDeleted hands an election on after a candidate key was deleted by
// the revoke of its lease (see lockrules.OwnerDeleted): called for every
// deleted key under Root.
func OwnerDeleted(st lockrules.Store, key []byte) error {
	return lockrules.OwnerGoneUnder(st, kind, Root, key)
}

// ReadLeader returns election name's leader as r sees it (Header left to the
// caller), or wire.CodeNotFound when nobody leads.
func ReadLeader(r lockrules.Reader, name string) (*wire.LeaderResponse, *wire.Error, error) {
	f, werr := electionFIFO(name)
	if werr != nil {
		return nil, werr, nil
	}
	h, held, err := f.Holder(r)
	if err != nil {
		return nil, nil, err
	}
	if !held {
		return nil, wire.Errorf(wire.CodeNotFound, "election %q has no leader", name), nil
	}
	return LeaderOf(h), nil, nil
}
