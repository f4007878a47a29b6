// File: hfreduce/op_desc.cc — see op_desc.h.
#include "hfreduce/op_desc.h"

#include "absl/strings/str_cat.h"
#include "haiscale/dtype.h"

namespace hs::hfreduce {

const char* OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kAllReduce:
      return "allreduce";
    case OpKind::kReduceScatter:
      return "reduce_scatter";
    case OpKind::kAllGather:
      return "allgather";
    case OpKind::kBroadcast:
      return "broadcast";
    case OpKind::kAllReduceRows:
      return "allreduce_rows";
  }
  return "?";
}

std::string DescribeOp(const OpDesc& d) {
  std::string out = absl::StrCat(OpKindName(static_cast<OpKind>(d.kind)), " #",
                                 d.seq, " count=", d.count, " dtype=",
                                 DTypeName(static_cast<DType>(d.dtype)));
  if (d.kind == static_cast<int32_t>(OpKind::kAllReduceRows)) {
    absl::StrAppend(&out, " cols=", d.root);
  }
  if (d.kind == static_cast<int32_t>(OpKind::kAllReduce) ||
      d.kind == static_cast<int32_t>(OpKind::kReduceScatter) ||
      d.kind == static_cast<int32_t>(OpKind::kAllReduceRows)) {
    absl::StrAppend(&out, " op=", d.op == 0 ? "sum" : "average");
  }
  if (d.kind == static_cast<int32_t>(OpKind::kAllReduce) && d.root == 1) {
    absl::StrAppend(&out, " to=owners");
  }
  if (d.kind == static_cast<int32_t>(OpKind::kBroadcast)) {
    absl::StrAppend(&out, " root=", d.root);
  }
  return out;
}

std::string DescribeMismatch(const TreeCtrl& c) {
  return absl::StrCat("hfreduce: mismatched collective across ranks: rank ",
                      c.ref_rank, " called ", DescribeOp(c.ref_desc), " but rank ",
                      c.bad_rank, " called ", DescribeOp(c.bad_desc));
}

void MarkMismatch(TreeCtrl* ctrl, int32_t ref_rank, const OpDesc& ref, int32_t bad_rank,
                  const OpDesc& bad) {
  ctrl->bad = 1;
  ctrl->ref_rank = ref_rank;
  ctrl->ref_desc = ref;
  ctrl->bad_rank = bad_rank;
  ctrl->bad_desc = bad;
}

}  // namespace hs::hfreduce
