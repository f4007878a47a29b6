// File: parallel/expert_parallel.cc — see expert_parallel.h.
//
// Plan layout (DispatchPlan::opaque), written by Dispatch and read by the
// other three calls:
//   [0, P*El)             send[p*El + le]: slots this rank sends to local
//                         expert le of rank p (= slots of global expert
//                         p*El + le)
//   [P*El, 2*P*El)        recv[q*El + le]: rows rank q sends to this rank's
//                         local expert le
//   [2*P*El, +N*K)        order[i]: the slot (n*K + k) at send position i
#include "parallel/expert_parallel.h"

#include <chrono>
#include <climits>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "haiscale/status.h"
#include "parallel/mpi_env.h"

namespace hs::parallel {
namespace {

using Clock = std::chrono::steady_clock;

// Counts and displacements (in rows) of one all-to-all direction.
struct Layout {
  std::vector<int> send_counts, send_displs, recv_counts, recv_displs;
  int64_t send_total = 0, recv_total = 0;
};

// MakeLayout: per-peer totals of the plan's [P x El] count matrices.
absl::StatusOr<Layout> MakeLayout(const models::DispatchPlan& plan, int P, int64_t El) {
  const int64_t* send = plan.opaque.data();
  const int64_t* recv = send + P * El;
  Layout l;
  l.send_counts.assign(P, 0);
  l.send_displs.assign(P, 0);
  l.recv_counts.assign(P, 0);
  l.recv_displs.assign(P, 0);
  for (int p = 0; p < P; ++p) {
    int64_t s = 0, r = 0;
    for (int64_t le = 0; le < El; ++le) {
      s += send[p * El + le];
      r += recv[p * El + le];
    }
    if (s > INT_MAX || r > INT_MAX || l.send_total + s > INT_MAX ||
        l.recv_total + r > INT_MAX) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "expert all-to-all: more than 2^31 rows to/from rank ", p));
    }
    l.send_counts[p] = int(s);
    l.recv_counts[p] = int(r);
    l.send_displs[p] = int(l.send_total);
    l.recv_displs[p] = int(l.recv_total);
    l.send_total += s;
    l.recv_total += r;
  }
  return l;
}

// ValidPlan: the plan was made by this dispatcher's Dispatch.
absl::Status CheckPlan(const models::DispatchPlan& plan, int P, int64_t El) {
  if (int64_t(plan.opaque.size()) != 2 * P * El + plan.N * plan.K ||
      int64_t(plan.expert_offsets.size()) != El + 1) {
    return absl::InvalidArgumentError(
        "expert all-to-all: the DispatchPlan was not made by this dispatcher's Dispatch");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<AllToAllExpertDispatcher>> AllToAllExpertDispatcher::Create(
    MPI_Comm ep_comm, int64_t num_experts, const AllToAllOptions& options) {
  if (ep_comm == MPI_COMM_NULL) {
    return absl::InvalidArgumentError("AllToAllExpertDispatcher: null EP communicator");
  }
  MPI_Comm comm;
  int rc = MPI_Comm_dup(ep_comm, &comm);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Comm_dup(ep)");
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  if (num_experts <= 0 || num_experts % size != 0) {
    MPI_Comm_free(&comm);
    return absl::InvalidArgumentError(absl::StrCat(
        "AllToAllExpertDispatcher: n_routed_experts (", num_experts,
        ") must be a positive multiple of the EP size (", size, ")"));
  }
  return std::unique_ptr<AllToAllExpertDispatcher>(
      new AllToAllExpertDispatcher(comm, rank, size, num_experts, options));
}

AllToAllExpertDispatcher::AllToAllExpertDispatcher(MPI_Comm comm, int rank, int size,
                                                   int64_t num_experts,
                                                   const AllToAllOptions& options)
    : comm_(comm), rank_(rank), size_(size), E_(num_experts),
      local_(num_experts / size), options_(options) {}

AllToAllExpertDispatcher::~AllToAllExpertDispatcher() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (row_type_ != MPI_DATATYPE_NULL) MPI_Type_free(&row_type_);
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

// RowType: one row of C floats as an MPI datatype, so counts are in rows.
absl::StatusOr<MPI_Datatype> AllToAllExpertDispatcher::RowType(int64_t C) {
  if (C == row_type_c_) return row_type_;
  if (C <= 0 || C > INT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("expert all-to-all: bad row width ", C));
  }
  if (row_type_ != MPI_DATATYPE_NULL) MPI_Type_free(&row_type_);
  int rc = MPI_Type_contiguous(int(C), MPI_FLOAT, &row_type_);
  if (rc == MPI_SUCCESS) rc = MPI_Type_commit(&row_type_);
  if (rc != MPI_SUCCESS) {
    row_type_ = MPI_DATATYPE_NULL;
    row_type_c_ = -1;
    return MpiError(rc, "MPI_Type_contiguous(row)");
  }
  row_type_c_ = C;
  return row_type_;
}

// WaitFor: polls the request (yielding the core) until it completes or the
// deadline passes; the blocked time is this call's exposed communication.
absl::Status AllToAllExpertDispatcher::WaitFor(MPI_Request* request, const char* what) {
  const Clock::time_point start = Clock::now();
  const auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double>(options_.timeout_s));
  int done = 0;
  for (int64_t spins = 0;; ++spins) {
    int rc = MPI_Test(request, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      return MpiError(rc, absl::StrCat(what, " (ep rank ", rank_, ")"));
    }
    if (done) break;
    if (Clock::now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          what, ": ep rank ", rank_, " waited more than ", options_.timeout_s,
          " s for its peers (a rank failed or skipped a MoE layer)"));
    }
    if (spins < 1000) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  stats_.wait_s += std::chrono::duration<double>(Clock::now() - start).count();
  return absl::OkStatus();
}

absl::Status AllToAllExpertDispatcher::Dispatch(const float* x, const int32_t* idx, int64_t N,
                                                int64_t K, int64_t C,
                                                models::DispatchPlan* plan, Tensor* expert_in) {
  const int P = size_;
  const int64_t El = local_, S = N * K;
  plan->N = N;
  plan->K = K;
  plan->C = C;
  plan->slot_row.clear();
  // ---- 1. counting sort of the slots by global expert = (rank, local expert)
  plan->opaque.assign(2 * P * El + S, 0);
  int64_t* send = plan->opaque.data();
  int64_t* recv = send + P * El;
  int64_t* order = recv + P * El;
  for (int64_t s = 0; s < S; ++s) {
    const int32_t e = idx[s];
    if (e < 0 || e >= E_) {
      return absl::InternalError(absl::StrCat("expert id ", e, " out of range [0, ", E_, ")"));
    }
    ++send[e];
  }
  std::vector<int64_t> next(E_, 0);
  for (int64_t e = 1; e < E_; ++e) next[e] = next[e - 1] + send[e - 1];
  for (int64_t s = 0; s < S; ++s) order[next[idx[s]]++] = s;
  // ---- 2. exchange the per-expert counts while packing the rows
  std::vector<int64_t> send_counts(send, send + P * El);
  std::vector<int64_t> recv_counts(P * El, 0);
  MPI_Request request;
  int rc = MPI_Ialltoall(send_counts.data(), int(El), MPI_INT64_T, recv_counts.data(), int(El),
                         MPI_INT64_T, comm_, &request);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Ialltoall(expert counts)");
  std::vector<float> rows(std::max<int64_t>(S * C, 1));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < S; ++i) {
    std::memcpy(rows.data() + i * C, x + (order[i] / K) * C, C * sizeof(float));
  }
  HS_RETURN_IF_ERROR(WaitFor(&request, "MPI_Ialltoall(expert counts)"));
  std::copy(recv_counts.begin(), recv_counts.end(), recv);
  // ---- 3. rows of local expert le: from source 0, 1, ... (token order)
  plan->expert_offsets.assign(El + 1, 0);
  last_received_.assign(El, 0);
  for (int64_t le = 0; le < El; ++le) {
    for (int q = 0; q < P; ++q) last_received_[le] += recv[q * El + le];
    plan->expert_offsets[le + 1] = plan->expert_offsets[le] + last_received_[le];
  }
  return ToExperts(rows, *plan, expert_in);
}

// ToExperts: all-to-all of rows packed in send order; the received rows
// (source-major, local-expert-minor) are regrouped expert-major.
absl::Status AllToAllExpertDispatcher::ToExperts(const std::vector<float>& send_rows,
                                                 const models::DispatchPlan& plan, Tensor* out) {
  HS_RETURN_IF_ERROR(CheckPlan(plan, size_, local_));
  HS_ASSIGN_OR_RETURN(MPI_Datatype row, RowType(plan.C));
  HS_ASSIGN_OR_RETURN(Layout l, MakeLayout(plan, size_, local_));
  const int64_t C = plan.C, El = local_, P = size_;
  *out = Tensor::Empty({l.recv_total, C});
  std::vector<float> staging;
  float* recv_buf = out->data<float>();
  if (El > 1) {  // one local expert: received order is already expert order
    staging.resize(std::max<int64_t>(l.recv_total * C, 1));
    recv_buf = staging.data();
  }
  std::vector<float> dummy(1);
  MPI_Request request;
  int rc = MPI_Ialltoallv(send_rows.data(), l.send_counts.data(), l.send_displs.data(), row,
                          recv_buf ? recv_buf : dummy.data(), l.recv_counts.data(),
                          l.recv_displs.data(), row, comm_, &request);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Ialltoallv(expert dispatch)");
  HS_RETURN_IF_ERROR(WaitFor(&request, "MPI_Ialltoallv(expert dispatch)"));
  ++stats_.exchanges;
  stats_.rows_sent += l.send_total - l.send_counts[rank_];
  stats_.rows_received += l.recv_total - l.recv_counts[rank_];
  if (El > 1) {
    const int64_t* recv = plan.opaque.data() + P * El;
    float* dst = out->data<float>();
    for (int64_t le = 0; le < El; ++le) {
      int64_t at = plan.expert_offsets[le];
      for (int64_t q = 0; q < P; ++q) {
        int64_t from = l.recv_displs[q];
        for (int64_t j = 0; j < le; ++j) from += recv[q * El + j];
        const int64_t n = recv[q * El + le];
        std::memcpy(dst + at * C, staging.data() + from * C, n * C * sizeof(float));
        at += n;
      }
    }
  }
  return absl::OkStatus();
}

// FromExperts: the reverse of ToExperts; slot_rows gets rows in send order.
absl::Status AllToAllExpertDispatcher::FromExperts(const Tensor& rows,
                                                   const models::DispatchPlan& plan,
                                                   std::vector<float>* slot_rows) {
  HS_RETURN_IF_ERROR(CheckPlan(plan, size_, local_));
  HS_ASSIGN_OR_RETURN(MPI_Datatype row, RowType(plan.C));
  HS_ASSIGN_OR_RETURN(Layout l, MakeLayout(plan, size_, local_));
  const int64_t C = plan.C, El = local_, P = size_;
  if (rows.numel() != l.recv_total * C) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expert all-to-all: expected ", l.recv_total, " x ", C, " expert rows, got ",
        rows.numel(), " floats"));
  }
  std::vector<float> staging;
  const float* send_buf = rows.data<float>();
  if (El > 1) {  // regroup expert-major -> source-major
    staging.resize(std::max<int64_t>(l.recv_total * C, 1));
    const int64_t* recv = plan.opaque.data() + P * El;
    for (int64_t le = 0; le < El; ++le) {
      int64_t at = plan.expert_offsets[le];
      for (int64_t q = 0; q < P; ++q) {
        int64_t to = l.recv_displs[q];
        for (int64_t j = 0; j < le; ++j) to += recv[q * El + j];
        const int64_t n = recv[q * El + le];
        std::memcpy(staging.data() + to * C, send_buf + at * C, n * C * sizeof(float));
        at += n;
      }
    }
    send_buf = staging.data();
  }
  std::vector<float> dummy(1);
  slot_rows->assign(std::max<int64_t>(l.send_total * C, 1), 0.0f);
  MPI_Request request;
  int rc = MPI_Ialltoallv(send_buf ? send_buf : dummy.data(), l.recv_counts.data(),
                          l.recv_displs.data(), row, slot_rows->data(), l.send_counts.data(),
                          l.send_displs.data(), row, comm_, &request);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Ialltoallv(expert combine)");
  HS_RETURN_IF_ERROR(WaitFor(&request, "MPI_Ialltoallv(expert combine)"));
  ++stats_.exchanges;
  stats_.rows_sent += l.recv_total - l.recv_counts[rank_];
  stats_.rows_received += l.send_total - l.send_counts[rank_];
  return absl::OkStatus();
}

absl::Status AllToAllExpertDispatcher::Combine(const Tensor& expert_out,
                                               const models::DispatchPlan& plan,
                                               float* slot_out) {
  std::vector<float> buf;
  HS_RETURN_IF_ERROR(FromExperts(expert_out, plan, &buf));
  const int64_t C = plan.C, S = plan.N * plan.K;
  const int64_t* order = plan.opaque.data() + 2 * int64_t(size_) * local_;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < S; ++i) {
    std::memcpy(slot_out + order[i] * C, buf.data() + i * C, C * sizeof(float));
  }
  return absl::OkStatus();
}

absl::Status AllToAllExpertDispatcher::CombineBackward(const float* dslot_out,
                                                       const models::DispatchPlan& plan,
                                                       Tensor* dexpert_out) {
  HS_RETURN_IF_ERROR(CheckPlan(plan, size_, local_));
  const int64_t C = plan.C, S = plan.N * plan.K;
  const int64_t* order = plan.opaque.data() + 2 * int64_t(size_) * local_;
  std::vector<float> rows(std::max<int64_t>(S * C, 1));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < S; ++i) {
    std::memcpy(rows.data() + i * C, dslot_out + order[i] * C, C * sizeof(float));
  }
  return ToExperts(rows, plan, dexpert_out);
}

absl::Status AllToAllExpertDispatcher::DispatchBackward(const Tensor& dexpert_in,
                                                        const models::DispatchPlan& plan,
                                                        float* dx) {
  std::vector<float> buf;
  HS_RETURN_IF_ERROR(FromExperts(dexpert_in, plan, &buf));
  const int64_t C = plan.C, K = plan.K, S = plan.N * plan.K;
  const int64_t* order = plan.opaque.data() + 2 * int64_t(size_) * local_;
  std::vector<int64_t> position(S);
  for (int64_t i = 0; i < S; ++i) position[order[i]] = i;
  // One thread per token: its K slots summed in k order (as the local
  // dispatcher does, so the two agree bit for bit on the same rows).
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < plan.N; ++n) {
    float* out = dx + n * C;
    for (int64_t k = 0; k < K; ++k) {
      const float* g = buf.data() + position[n * K + k] * C;
      for (int64_t c = 0; c < C; ++c) out[c] += g[c];
    }
  }
  return absl::OkStatus();
}

}  // namespace hs::parallel
