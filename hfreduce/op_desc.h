// File: hfreduce/op_desc.h
//
// What one collective call is, as every rank must agree on it. Ranks
// publish it (in shared memory on a node, in control messages between
// nodes) and compare, so a rank that calls AllReduce with another count,
// dtype or op is reported instead of corrupting data or hanging.
#ifndef HFREDUCE_OP_DESC_H_
#define HFREDUCE_OP_DESC_H_

#include <cstdint>
#include <string>

namespace hs::hfreduce {

enum class OpKind : int32_t {
  kAllReduce = 0,
  kReduceScatter = 1,
  kAllGather = 2,
  kBroadcast = 3,
  kAllReduceRows = 4,  // AllReduce of a matrix whose rows are mostly zero
};

// OpKindName(kind): "allreduce", "reduce_scatter", "allgather", "broadcast",
// "allreduce_rows".
const char* OpKindName(OpKind kind);

// The agreed description of one collective (trivially copyable, 32 bytes).
struct OpDesc {
  uint64_t seq = 0;     // index of the call on this communicator, from 0
  int32_t kind = 0;     // OpKind
  int32_t dtype = 0;    // hs::DType
  int32_t op = 0;       // ReduceOp (0 for data movement)
  int32_t root = 0;     // Broadcast: the root; AllReduceRows: the row length;
                        // AllReduce: 1 when each sum goes only to the
                        // buffer of the local rank that reduces it
                        // (AllReduceToOwners); else 0
  int64_t count = 0;    // element count as passed by the caller
};

// SameOp(a, b): every field equal.
inline bool SameOp(const OpDesc& a, const OpDesc& b) {
  return a.seq == b.seq && a.kind == b.kind && a.dtype == b.dtype &&
         a.op == b.op && a.root == b.root && a.count == b.count;
}

// DescribeOp(d): "allreduce #3 count=1000 dtype=bf16 op=sum".
std::string DescribeOp(const OpDesc& d);

// The control message of the tree phase: a rank's OpDesc going up, the
// verdict going down. `bad` != 0 when two ranks' OpDescs differ; ref_* and
// bad_* then name the first pair seen (global ranks).
struct TreeCtrl {
  OpDesc desc;
  int32_t rank = -1;  // global rank of the sender
  int32_t bad = 0;
  int32_t ref_rank = -1;
  int32_t bad_rank = -1;
  OpDesc ref_desc;
  OpDesc bad_desc;
};

// DescribeMismatch(ctrl): "rank A called X but rank B called Y".
std::string DescribeMismatch(const TreeCtrl& ctrl);

// MarkMismatch(ctrl, ref_rank, ref, bad_rank, bad): ctrl->bad, naming rank
// ref_rank's call `ref` and rank bad_rank's call `bad`.
void MarkMismatch(TreeCtrl* ctrl, int32_t ref_rank, const OpDesc& ref, int32_t bad_rank,
                  const OpDesc& bad);

}  // namespace hs::hfreduce

#endif  // HFREDUCE_OP_DESC_H_
