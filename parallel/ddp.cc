// File: parallel/ddp.cc — see ddp.h.
#include "parallel/ddp.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "haiscale/clock.h"
#include "haiscale/logging.h"
#include "haiscale/status.h"
#include "haiscale/thread_priority.h"
#include "parallel/mpi_env.h"
#include "parallel/sparse_rows.h"

namespace hs::parallel {

namespace {

// The bytes of /dev/shm each rank may register (with room to spare: a
// quarter more than asked, and 256 MiB), the least over every node of
// `comm`, and the ranks on that node; the same on every rank. One query
// answers both the gradients' and the node-shared parameters' fit.
struct SharedMemoryRoom {
  double per_rank = 0;
  int local = 1;
  bool Fits(int64_t bytes) const { return per_rank >= double(bytes); }
};
absl::StatusOr<SharedMemoryRoom> SharedMemoryPerRank(MPI_Comm comm) {
  MPI_Comm node = MPI_COMM_NULL;
  int rc = MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Comm_split_type");
  int local = 1;
  MPI_Comm_size(node, &local);
  MPI_Comm_free(&node);
  struct statvfs fs;
  double mine = 0;
  if (statvfs("/dev/shm", &fs) == 0) {
    const double avail = double(fs.f_bavail) * double(fs.f_frsize);
    mine = (avail - double(256 << 20)) / (1.25 * double(local));
  }
  struct {
    double room;
    int local;
  } in{mine, local}, least{};
  rc = MPI_Allreduce(&in, &least, 1, MPI_DOUBLE_INT, MPI_MINLOC, comm);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Allreduce");
  // MINLOC carries the ranks-per-node count of the node with least room.
  return SharedMemoryRoom{least.room, least.local};
}

// Logs that /dev/shm is too small for `what`, and what happens instead.
void LogTooLittleRoom(const SharedMemoryRoom& room, int64_t bytes_per_rank, const char* what,
                      const char* otherwise) {
  HS_LOG(INFO) << "ddp: /dev/shm too small for " << what << " (" << room.local << " x "
               << (bytes_per_rank >> 20) << " MiB on some node); " << otherwise;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Ddp>> Ddp::Create(MPI_Comm comm,
                                                 const models::ParamArena& arena,
                                                 float* grads, const DdpOptions& options) {
  if (options.zero_stage != 0 && options.zero_stage != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("parallel.zero_stage: ", options.zero_stage, " is not supported (0 or 1)"));
  }
  if (options.bucket_mb <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("parallel.bucket_mb: must be > 0, got ", options.bucket_mb));
  }
  std::unique_ptr<Ddp> d(new Ddp());
  d->options_ = options;
  d->grads_ = grads;
  int rc = MPI_Comm_dup(comm, &d->comm_);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Comm_dup");
  MPI_Comm_rank(d->comm_, &d->rank_);
  MPI_Comm_size(d->comm_, &d->size_);
  // Buckets from the end of the arena (reverse layer order), cut at
  // parameter boundaries once they reach bucket_mb.
  const int64_t target = std::max<int64_t>(1, int64_t(options.bucket_mb * (1 << 20) / 4));
  // Without a filter parameters are back to back, so buckets tile the arena.
  const auto& specs = arena.specs();
  Bucket cur{arena.size(), arena.size()};
  for (int64_t i = int64_t(specs.size()) - 1; i >= 0; --i) {
    const models::ParamSpec& spec = specs[i];
    if (options.include && !options.include(spec)) {
      // An excluded parameter ends the current bucket (buckets are contiguous).
      if (cur.size() > 0) d->buckets_.push_back(cur);
      cur = Bucket{spec.offset, spec.offset};
      continue;
    }
    if (options.row_sparse && options.row_sparse(spec) && spec.shape.size() >= 2 &&
        spec.numel > 0) {
      // A bucket of its own: reduced as packed rows (ReduceSparseBucket).
      if (cur.size() > 0) d->buckets_.push_back(cur);
      Bucket sparse{spec.offset, spec.offset + spec.numel};
      sparse.rows = spec.shape[0];
      sparse.cols = spec.numel / spec.shape[0];
      d->buckets_.push_back(sparse);
      cur = Bucket{spec.offset, spec.offset};
      continue;
    }
    if (cur.begin != spec.offset + spec.numel) {
      if (cur.size() > 0) d->buckets_.push_back(cur);
      cur = Bucket{spec.offset + spec.numel, spec.offset + spec.numel};
    }
    cur.begin = spec.offset;
    if (cur.size() >= target) {
      d->buckets_.push_back(cur);
      cur = Bucket{cur.begin, cur.begin};
    }
  }
  if (cur.size() > 0) d->buckets_.push_back(cur);
  if (!(options.max_sparse_density > 0 && options.max_sparse_density <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ddp: max_sparse_density must be in (0, 1], got ", options.max_sparse_density));
  }
  int64_t max_rows = 0, packed_capacity = 0;
  for (const Bucket& b : d->buckets_) {
    if (b.rows == 0) continue;
    max_rows = std::max(max_rows, b.rows);
    const int64_t rows = int64_t(options.max_sparse_density * double(b.rows));
    packed_capacity = std::max(packed_capacity, rows * b.cols);
  }
  if (options.backend == DdpOptions::Backend::kHfReduce) {
    hfreduce::Options hf = options.hfreduce;
    hf.ranks_per_node = options.ranks_per_node;
    // ZeRO-1's calls are asynchronous and run on HFReduce's progress thread;
    // ZeRO-0's blocking AllReduce runs on the communication thread itself.
    if (options.zero_stage == 1) {
      hf.progress_priority = options.comm_priority;
      hf.progress_slice_us = options.comm_slice_us;
    }
    const int64_t grad_bytes = arena.padded_size() * int64_t(sizeof(float));
    bool registered = options.registered_grads && options.zero_stage == 0;
    SharedMemoryRoom room;
    if (registered) {
      HS_ASSIGN_OR_RETURN(room, SharedMemoryPerRank(d->comm_));
      registered = room.Fits(grad_bytes);
      if (!registered) {
        LogTooLittleRoom(room, grad_bytes, "registered gradients",
                         "buckets are copied through HFReduce's slots");
      }
    }
    // Node-shared parameters add one parameter block per node (counted here
    // as one per rank, which leaves room to spare); without the room the
    // gradients stay registered and every rank keeps its own parameters.
    bool want_shared_params = registered && options.node_shared_params;
    if (want_shared_params) {
      want_shared_params = room.Fits(2 * grad_bytes);
      if (!want_shared_params) {
        LogTooLittleRoom(room, 2 * grad_bytes,
                         "registered gradients and node-shared parameters",
                         "every rank keeps its own parameters");
      }
    } else if (options.node_shared_params && d->rank_ == 0) {
      HS_LOG(INFO) << "ddp: parallel.node_shared_params needs registered gradients (ZeRO-0, "
                      "room in /dev/shm); every rank keeps its own parameters";
    }
    if (registered) hf.registered_bytes = grad_bytes;
    if (registered && want_shared_params) hf.node_shared_bytes = grad_bytes;
    HS_ASSIGN_OR_RETURN(d->hf_, hfreduce::Communicator::Create(d->comm_, hf));
    if (registered) {
      HS_ASSIGN_OR_RETURN(void* shared, d->hf_->AllocShared(grad_bytes));
      d->grads_ = static_cast<float*>(shared);
      std::memcpy(d->grads_, grads, grad_bytes);
      // Registered gradients are all AllReduceRows needs (CanAllReduceRows),
      // and `registered` is agreed, so every rank takes the same path.
      d->rows_in_place_ = max_rows > 0;
    }
    if (registered && want_shared_params) {
      HS_ASSIGN_OR_RETURN(void* params, d->hf_->AllocNodeShared(grad_bytes));
      d->shared_params_ = static_cast<float*>(params);
      d->param_floats_ = arena.padded_size();
      d->local_rank_ = d->hf_->local_rank();
      d->local_size_ = d->hf_->local_size();
      rc = MPI_Comm_split(d->comm_, d->hf_->node(), d->local_rank_, &d->node_comm_);
      if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Comm_split(node)");
    }
  }
  if (max_rows > 0 && !d->rows_in_place_) {  // the packed path's buffers
    d->row_counts_.resize(max_rows);
    d->packed_.resize(packed_capacity);
  }
  if (options.zero_stage == 1) {
    int64_t largest = 0;
    for (const Bucket& b : d->buckets_) largest = std::max(largest, d->PartSize(b) * d->size_);
    d->scratch_.resize(largest);
    d->gather_.resize(largest);
    d->part_.resize(largest / d->size_ + 1);
    d->send_part_.resize(largest / d->size_ + 1);
  }
  d->owned_ = d->ComputeOwnedRanges();
  d->thread_ = std::thread([p = d.get()] { p->CommLoop(); });
  return d;
}

Ddp::~Ddp() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  hf_.reset();
  if (node_comm_ != MPI_COMM_NULL) MPI_Comm_free(&node_comm_);
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

absl::Status Ddp::CheckReplicasIdentical(const float* params) const {
  // FNV-1a over the bytes: cheap, and any differing bit changes it.
  uint64_t h = 1469598103934665603ull;
  for (const Bucket& b : buckets_) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(params + b.begin);
    for (int64_t i = 0; i < b.size() * 4; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  std::vector<uint64_t> all(size_);
  int rc = MPI_Allgather(&h, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, comm_);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Allgather");
  std::vector<std::string> differ;
  for (int r = 0; r < size_; ++r)
    if (all[r] != all[0]) differ.push_back(absl::StrCat(r));
  if (!differ.empty()) {
    return absl::InternalError(absl::StrCat(
        "parameters differ between data-parallel ranks 0 and ", absl::StrJoin(differ, ", "),
        " (different configs or seeds on different ranks?)"));
  }
  return absl::OkStatus();
}

void Ddp::BeginBackward() {
  std::lock_guard<std::mutex> lock(mu_);
  frontier_ = std::numeric_limits<int64_t>::max();
  next_launch_ = 0;
  done_ = 0;
  busy_.clear();
  sparse_rows_ = 0;
  error_ = absl::OkStatus();
  timeline_ = CommTimeline();
  t_backward_end_ = 0;
}

void Ddp::Launch(size_t index) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(index);
  }
  cv_.notify_all();
}

models::GradReadyHook Ddp::hook() {
  return [this](int64_t begin, int64_t end) {
    (void)end;
    // Ranges arrive contiguous and descending: everything at or above the
    // lowest reported offset is final.
    frontier_ = std::min(frontier_, begin);
    while (next_launch_ < buckets_.size() && buckets_[next_launch_].begin >= frontier_) {
      Launch(next_launch_++);
    }
  };
}

void Ddp::EndBackward() {
  t_backward_end_ = NowSeconds();
  while (next_launch_ < buckets_.size()) Launch(next_launch_++);
}

absl::Status Ddp::WaitGradients() {
  const double t0 = NowSeconds();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return done_ == buckets_.size() || !error_.ok(); });
  if (!error_.ok()) return error_;
  const double t1 = NowSeconds();
  timeline_.exposed = t1 - std::max(t0, t_backward_end_);
  timeline_.buckets = int(busy_.size());
  timeline_.sparse_rows = sparse_rows_;
  for (const BucketSpan& b : busy_) {
    if (b.row_sparse) timeline_.sparse_rows_total += buckets_[b.index].rows;
    timeline_.busy += b.end - b.start;
    timeline_.cpu += b.cpu;
    timeline_.switches += b.switches;
    timeline_.hidden += std::max(0.0, std::min(b.end, t_backward_end_) - b.start);
    BucketSpan rel = b;
    rel.start -= t_backward_end_;
    rel.end -= t_backward_end_;
    timeline_.spans.push_back(rel);
  }
  return absl::OkStatus();
}

void Ddp::CommLoop() {
  // HFReduce only: its waits back off to naps, so the priority counts only
  // while it has work. MPI_Allreduce polls without pause in its waits and at
  // a higher priority takes the cores from compute (docs/parallelism.md).
  // The short slice is what lets it run soon after each wait on a peer.
  const int levels = hf_ ? options_.comm_priority : 0;
  const int slice_us = hf_ ? options_.comm_slice_us : 0;
  const CommThreadSetup setup =
      SetUpCommunicationThread("ddp-comm", levels, absl::Microseconds(slice_us));
  if (rank_ == 0 && levels > 0) {
    if (setup.priority.ok()) {
      HS_LOG(INFO) << "ddp: communication thread at nice " << ThisThreadNice()
                   << " (parallel.comm_priority " << levels << ")";
    } else {
      HS_LOG(WARN) << "ddp: parallel.comm_priority " << levels << ": "
                   << setup.priority.message();
    }
  }
  if (rank_ == 0 && slice_us > 0) {
    if (setup.slice.ok()) {
      HS_LOG(INFO) << "ddp: communication thread asks for a " << slice_us
                   << " us time slice (parallel.comm_slice_us; kernel reports "
                   << absl::FormatDuration(ThisThreadSlice()) << ")";
    } else {
      HS_LOG(WARN) << "ddp: parallel.comm_slice_us " << slice_us << ": " << setup.slice.message();
    }
  }
  for (;;) {
    size_t index;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      index = queue_.front();
      queue_.pop_front();
    }
    const double start = NowSeconds();
    const ThreadUsage used_before = ThisThreadUsage();
    if (options_.debug_delay_ms > 0) {
      // The artificially slow transport: the delay is transfer time.
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(options_.debug_delay_ms));
    }
    absl::Status s = Annotate(ReduceBucket(buckets_[index]), "gradient bucket ", index);
    const double end = NowSeconds();
    const ThreadUsage used = ThisThreadUsage() - used_before;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const Bucket& b = buckets_[index];
      busy_.push_back({int(index), b.size(), b.rows > 0, start, end, used.cpu_seconds,
                       used.switches});
      ++done_;
      if (!s.ok() && error_.ok()) error_ = s;
    }
    cv_.notify_all();
  }
}

absl::Status Ddp::AllReduceSum(float* x, int64_t n) {
  if (hf_) return hf_->AllReduce(x, n, DType::kF32, hfreduce::ReduceOp::kSum);
  int rc = MPI_Allreduce(MPI_IN_PLACE, x, int(n), MPI_FLOAT, MPI_SUM, comm_);
  return rc == MPI_SUCCESS ? absl::OkStatus() : MpiError(rc, "MPI_Allreduce");
}

absl::Status Ddp::ReduceSparseBucket(const Bucket& b) {
  float* g = grads_ + b.begin;
  if (rows_in_place_) {
    // The rows in the nodes' shared memory: no mask per rank, no packing
    // on one node, only the union's rows between nodes (hfreduce.h).
    int64_t found = 0;
    HS_RETURN_IF_ERROR(
        hf_->AllReduceRows(g, b.rows, b.cols, hfreduce::ReduceOp::kSum, &found));
    std::lock_guard<std::mutex> lock(mu_);
    sparse_rows_ += found;
    return absl::OkStatus();
  }
  // Which rows some rank has: a sum of 0/1 masks (small integers, so every
  // rank gets the same counts and makes the same choice below).
  float* counts = row_counts_.data();
  MarkNonzeroRows(g, b.rows, b.cols, counts);
  HS_RETURN_IF_ERROR(Annotate(AllReduceSum(counts, b.rows), "row mask"));
  const std::vector<int64_t> rows = RowsWithCount(counts, b.rows);
  const int64_t packed = int64_t(rows.size()) * b.cols;
  const bool sparse =
      int64_t(rows.size()) <= int64_t(options_.max_sparse_density * double(b.rows));
  {
    std::lock_guard<std::mutex> lock(mu_);
    sparse_rows_ += sparse ? int64_t(rows.size()) : b.rows;
  }
  // Too dense: the whole bucket (packing would cost more than it saves).
  if (!sparse) return AllReduceSum(g, b.size());
  if (rows.empty()) return absl::OkStatus();  // zero on every rank
  // Rows outside the union are zero on every rank: their sum is what they hold.
  PackRows(g, b.cols, rows, packed_.data());
  HS_RETURN_IF_ERROR(AllReduceSum(packed_.data(), packed));
  UnpackRows(packed_.data(), b.cols, rows, g);
  return absl::OkStatus();
}

absl::Status Ddp::ReduceBucket(const Bucket& b) {
  float* g = grads_ + b.begin;
  const int64_t n = b.size();
  // ZeRO-1 too: the reduced rows land whole on every rank, including this
  // rank's part, which is all its optimizer reads.
  if (b.rows > 0) return ReduceSparseBucket(b);
  // Node-shared parameters: each rank's optimizer reads only the slices
  // HFReduce sums on it (OwnedRanges), so the sums go only there.
  if (shared_params_ != nullptr) {
    return hf_->AllReduceToOwners(g, n, DType::kF32, hfreduce::ReduceOp::kSum);
  }
  if (options_.zero_stage == 0) return AllReduceSum(g, n);
  // ZeRO-1: reduce-scatter a zero-padded copy; part r comes back to rank r.
  const int64_t part = PartSize(b);
  std::memcpy(scratch_.data(), g, n * sizeof(float));
  std::fill(scratch_.begin() + n, scratch_.begin() + part * size_, 0.0f);
  float* mine = part_.data();  // sized once in Create
  if (hf_) {
    HS_RETURN_IF_ERROR(hf_->ReduceScatterAsync(scratch_.data(), mine, part, DType::kF32,
                                               hfreduce::ReduceOp::kSum)
                           .Wait());
  } else {
    int rc = MPI_Reduce_scatter_block(scratch_.data(), mine, int(part), MPI_FLOAT, MPI_SUM,
                                      comm_);
    if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Reduce_scatter_block");
  }
  const int64_t lo = std::min(n, rank_ * part), hi = std::min(n, (rank_ + 1) * part);
  std::memcpy(g + lo, mine, (hi - lo) * sizeof(float));
  return absl::OkStatus();
}

std::vector<std::pair<int64_t, int64_t>> Ddp::ComputeOwnedRanges() const {
  std::vector<std::pair<int64_t, int64_t>> out;
  if (parts() == 1) {
    for (auto it = buckets_.rbegin(); it != buckets_.rend(); ++it) {
      if (!out.empty() && out.back().second == it->begin) {
        out.back().second = it->end;  // adjacent buckets: one range
      } else {
        out.push_back({it->begin, it->end});
      }
    }
    return out;
  }
  for (const Bucket& b : buckets_) {
    if (shared_params_ != nullptr && b.rows == 0) {
      // The slices whose sums AllReduceToOwners leaves in this rank's buffer.
      for (const auto& [lo, hi] : hf_->AllReduceOwnedSlices(b.size(), DType::kF32)) {
        out.push_back({b.begin + lo, b.begin + hi});
      }
      continue;
    }
    // ZeRO-1's parts, and node-shared row-sparse buckets (AllReduceRows
    // leaves every sum in every buffer, so any split will do).
    const int64_t part = PartSize(b), k = part_index();
    const int64_t lo = std::min(b.size(), k * part), hi = std::min(b.size(), (k + 1) * part);
    if (hi > lo) out.push_back({b.begin + lo, b.begin + hi});
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status Ddp::CopyInParams(const float* params) {
  if (shared_params_ == nullptr) {
    return absl::FailedPreconditionError("CopyInParams without node-shared parameters");
  }
  if (local_rank_ == 0 && params != shared_params_) {
    std::memcpy(shared_params_, params, size_t(param_floats_) * sizeof(float));
  }
  return NodeBarrier();
}

absl::Status Ddp::NodeBarrier() {
  if (shared_params_ == nullptr) {
    return absl::FailedPreconditionError("NodeBarrier without node-shared parameters");
  }
  const int rc = MPI_Barrier(node_comm_);
  return rc == MPI_SUCCESS ? absl::OkStatus() : MpiError(rc, "MPI_Barrier(node)");
}

absl::Status Ddp::GatherToNodeRoot(const std::vector<std::pair<int64_t, int64_t>>& ranges,
                                   const float* packed, float* full) {
  if (shared_params_ == nullptr) {
    return absl::FailedPreconditionError("GatherToNodeRoot without node-shared parameters");
  }
  // The ranges (as begin/end pairs), then the values, each gathered with
  // its per-rank counts; MPI counts are ints, so refuse what they cannot say.
  std::vector<int64_t> mine;
  int64_t floats = 0;
  for (const auto& [b, e] : ranges) {
    mine.push_back(b);
    mine.push_back(e);
    floats += e - b;
  }
  if (floats > INT32_MAX || int64_t(mine.size()) > INT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ddp rank ", rank_, ": ", floats, " floats of node-shared state exceed one MPI message"));
  }
  const int counts[2] = {int(mine.size()), int(floats)};
  std::vector<int> all(2 * size_t(local_size_));
  int rc = MPI_Gather(counts, 2, MPI_INT, all.data(), 2, MPI_INT, 0, node_comm_);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Gather(node state counts)");
  const bool root = local_rank_ == 0;
  std::vector<int> range_counts(local_size_), range_at(local_size_), value_counts(local_size_),
      value_at(local_size_);
  int64_t total_ranges = 0, total_values = 0;
  for (int l = 0; l < local_size_ && root; ++l) {
    range_counts[l] = all[2 * l];
    value_counts[l] = all[2 * l + 1];
    range_at[l] = int(total_ranges);
    value_at[l] = int(total_values);
    total_ranges += range_counts[l];
    total_values += value_counts[l];
  }
  if (root && (total_values > INT32_MAX || total_values > param_floats_)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ddp: the node's state (", total_values, " floats) does not fit one message or the arena"));
  }
  std::vector<int64_t> all_ranges(root ? total_ranges : 0);
  std::vector<float> all_values(root ? total_values : 0);
  rc = MPI_Gatherv(mine.data(), counts[0], MPI_INT64_T, all_ranges.data(), range_counts.data(),
                   range_at.data(), MPI_INT64_T, 0, node_comm_);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Gatherv(node state ranges)");
  rc = MPI_Gatherv(packed, counts[1], MPI_FLOAT, all_values.data(), value_counts.data(),
                   value_at.data(), MPI_FLOAT, 0, node_comm_);
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Gatherv(node state)");
  if (!root) return absl::OkStatus();
  const float* src = all_values.data();
  for (size_t i = 0; i + 1 < all_ranges.size(); i += 2) {
    const int64_t b = all_ranges[i], e = all_ranges[i + 1];
    std::memcpy(full + b, src, size_t(e - b) * sizeof(float));
    src += e - b;
  }
  return absl::OkStatus();
}

absl::Status Ddp::AllGatherParams(float* params) {
  // Node-shared: every part is written where the node's ranks read it; the
  // barrier only orders those writes before the next forward's reads.
  if (shared_params_ != nullptr) return NodeBarrier();
  if (options_.zero_stage != 1) return absl::OkStatus();
  for (const Bucket& b : buckets_) {
    const int64_t part = PartSize(b), n = b.size();
    float* mine = send_part_.data();  // sized once in Create
    const int64_t lo = std::min(n, rank_ * part), hi = std::min(n, (rank_ + 1) * part);
    std::memcpy(mine, params + b.begin + lo, (hi - lo) * sizeof(float));
    std::fill(mine + (hi - lo), mine + part, 0.0f);
    if (hf_) {
      HS_RETURN_IF_ERROR(hf_->AllGatherAsync(mine, gather_.data(), part, DType::kF32).Wait());
    } else {
      int rc = MPI_Allgather(mine, int(part), MPI_FLOAT, gather_.data(), int(part),
                             MPI_FLOAT, comm_);
      if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Allgather");
    }
    std::memcpy(params + b.begin, gather_.data(), n * sizeof(float));
  }
  return absl::OkStatus();
}

}  // namespace hs::parallel
