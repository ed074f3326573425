package wire

// Method names. A method's request and response bodies are the message
// types named beside it.
const (
	MethodPut     = "kv.put"     // PutRequest → PutResponse (write)
	MethodRange   = "kv.range"   // RangeRequest → RangeResponse
	MethodDelete  = "kv.delete"  // DeleteRangeRequest → DeleteRangeResponse (write)
	MethodTxn     = "kv.txn"     // TxnRequest → TxnResponse (write)
	MethodCompact = "kv.compact" // CompactRequest → CompactResponse (write)
	MethodStatus  = "status"     // StatusRequest → StatusResponse
)
