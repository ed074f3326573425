package statemachine

import "fmt"

// Op numbers.
//
// A command of log format version 2 names its op by a small number
// instead of its name (one byte instead of up to 25): opNumbers maps each
// number to the op's log name. The numbers are persisted in every command
// of the log: never renumber, never reuse a number (a retired op keeps
// its number, unused), only append. TestOpNumbersPinned pins the table.
// An op without a number (a new op not yet given one) is written with its
// name, which every format-2 decoder also reads; give it the next number
// to make its commands smaller.
var opNumbers = [...]string{
	0: "", // not a number: an op name follows instead

	1: OpPut,             // "kv.put"
	2: OpDelete,          // "kv.delete"
	3: OpTxn,             // "kv.txn"
	4: OpCompact,         // "kv.compact"
	5: OpLeaseGrant,      // "lease.grant"
	6: OpLeaseRevoke,     // "lease.revoke"
	7: OpLeaseRenew,      // "lease.renew"
	8: OpClusterIdentity, // "cluster.identity"
	9: OpMemberPublish,   // "member.publish"

	10: "lock.lock",
	11: "lock.unlock",
	12: "elect.campaign",
	13: "elect.proclaim",
	14: "elect.resign",
	15: "queue.enqueue",
	16: "queue.dequeue",
	17: "queue.ack",
	18: "barrier",
	19: "semaphore.acquire",
	20: "semaphore.release",

	21: "auth.enable",
	22: "auth.disable",
	23: "user.add",
	24: "user.delete",
	25: "user.passwd",
	26: "user.grant-role",
	27: "user.revoke-role",
	28: "role.add",
	29: "role.delete",
	30: "role.grant-permission",
	31: "role.revoke-permission",
}

// opNumber is the number of each numbered op, by name.
var opNumber = func() map[string]uint64 {
	m := make(map[string]uint64, len(opNumbers))
	for n, name := range opNumbers {
		if name == "" {
			continue
		}
		if _, dup := m[name]; dup {
			panic(fmt.Sprintf("statemachine: op %q has two numbers", name))
		}
		m[name] = uint64(n)
	}
	return m
}()

// opNameOf returns the name of op number n, or for a number no op has
// (a log written by a later build) a name no op has either ("#n"), so
// that applying it is the same user error on every member.
func opNameOf(n uint64) string {
	if n != 0 && n < uint64(len(opNumbers)) {
		return opNumbers[n]
	}
	return fmt.Sprintf("#%d", n)
}
