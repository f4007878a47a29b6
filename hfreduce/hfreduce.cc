// File: hfreduce/hfreduce.cc — Communicator setup (node grouping, shared
// segment, rails), the call queue and its progress thread; see hfreduce.h.
#include "hfreduce/hfreduce.h"

#include <unistd.h>

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "haiscale/logging.h"
#include "haiscale/status.h"
#include "haiscale/thread_priority.h"
#include "hfreduce/collective.h"
#include "hfreduce/reduce_kernels.h"
#include "hfreduce/ring.h"
#include "hfreduce/transport/mpi_transport.h"
#include "hfreduce/transport/shm.h"
#include "hfreduce/transport/tcp_transport.h"
#include "hfreduce/tree.h"

namespace hs::hfreduce {
namespace internal {

// One queued call and its completion, shared by the Handle and the queue.
struct OpState {
  OpCall call;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  absl::Status status;

  void Finish(absl::Status s) {
    {
      std::lock_guard<std::mutex> lock(mu);
      status = std::move(s);
      done = true;
    }
    cv.notify_all();
  }
};

}  // namespace internal

namespace {

#define HF_MPI(call, what) HS_RETURN_IF_ERROR(MpiErrorToStatus((call), what))

}  // namespace

// --------------------------------------------------------------- Handle ---

absl::Status Handle::Wait() {
  if (state_ == nullptr) return absl::FailedPreconditionError("empty Handle");
  std::unique_lock<std::mutex> lock(state_->mu);
  // The progress thread bounds every step by Options::timeout, so this wait
  // ends; the periodic wake-up only keeps it from sleeping unobserved.
  while (!state_->done) state_->cv.wait_for(lock, std::chrono::seconds(1));
  return state_->status;
}

bool Handle::Test() const {
  if (state_ == nullptr) return true;
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->done;
}

namespace {

Handle FailedHandle(absl::Status s) {
  auto state = std::make_shared<internal::OpState>();
  state->Finish(std::move(s));
  return Handle(std::move(state));
}

}  // namespace

// ------------------------------------------------------------ Creation ---

absl::StatusOr<std::unique_ptr<Communicator>> Communicator::Create(
    MPI_Comm comm, const Options& options) {
  std::unique_ptr<Communicator> c(new Communicator());
  absl::Status s = c->Init(comm, options);
  if (!s.ok()) return Annotate(s, "hfreduce::Communicator::Create");
  return c;
}

absl::Status Communicator::Init(MPI_Comm comm, const Options& o) {
  options_ = o;
  int flag = 0;
  MPI_Initialized(&flag);
  if (!flag) return absl::FailedPreconditionError("MPI is not initialised");
  int provided = 0;
  MPI_Query_thread(&provided);
  if (provided < MPI_THREAD_MULTIPLE) {
    return absl::FailedPreconditionError(
        "HFReduce needs MPI_THREAD_MULTIPLE (its progress thread calls MPI): "
        "initialise MPI with MPI_Init_thread(..., MPI_THREAD_MULTIPLE, ...)");
  }
  if (o.chunk_bytes < 4096 || o.chunk_bytes % 64 != 0 || o.min_chunk_bytes < 4096 ||
      o.min_chunk_bytes % 64 != 0 || o.pipeline_depth < 2 ||
      o.tree_chunk_bytes < 64 || o.tree_chunk_bytes % 64 != 0 ||
      o.tree_window < 1 || o.timeout <= absl::ZeroDuration() ||
      o.ranks_per_node < 0 || o.registered_bytes < 0 || o.node_shared_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad options: chunk_bytes=", o.chunk_bytes, " min_chunk_bytes=", o.min_chunk_bytes,
        " (both >= 4096, multiples of 64)",
        " pipeline_depth=", o.pipeline_depth, " (>= 2) tree_chunk_bytes=",
        o.tree_chunk_bytes, " tree_window=", o.tree_window, " timeout=",
        absl::FormatDuration(o.timeout), " ranks_per_node=", o.ranks_per_node,
        " registered_bytes=", o.registered_bytes, " node_shared_bytes=", o.node_shared_bytes));
  }
  HF_MPI(MPI_Comm_dup(comm, &comm_), "MPI_Comm_dup");
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  SetLogRank(rank_);

  // --- nodes: shared-memory split, or ranks_per_node -----------------------
  if (o.ranks_per_node > 0) {
    if (size_ % o.ranks_per_node != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ranks_per_node=", o.ranks_per_node, " does not divide the ", size_,
          " ranks into equal nodes"));
    }
    HF_MPI(MPI_Comm_split(comm_, rank_ / o.ranks_per_node, rank_, &local_comm_),
           "MPI_Comm_split(nodes)");
  } else {
    HF_MPI(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_,
                               MPI_INFO_NULL, &local_comm_),
           "MPI_Comm_split_type(SHARED)");
  }
  MPI_Comm_set_errhandler(local_comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(local_comm_, &local_rank_);
  MPI_Comm_size(local_comm_, &local_size_);
  int sizes[2] = {-local_size_, local_size_}, ext[2];
  HF_MPI(MPI_Allreduce(sizes, ext, 2, MPI_INT, MPI_MAX, comm_), "MPI_Allreduce");
  if (-ext[0] != ext[1]) {
    return absl::InvalidArgumentError(absl::StrCat(
        "nodes have different numbers of ranks (from ", -ext[0], " to ", ext[1],
        "); HFReduce needs the same count on every node: launch evenly or set "
        "ranks_per_node"));
  }
  num_nodes_ = size_ / local_size_;
  // Node index: the rank of the node's first rank among all first ranks.
  MPI_Comm leaders = MPI_COMM_NULL;
  HF_MPI(MPI_Comm_split(comm_, local_rank_ == 0 ? 0 : MPI_UNDEFINED, rank_,
                        &leaders),
         "MPI_Comm_split(leaders)");
  if (leaders != MPI_COMM_NULL) {
    MPI_Comm_rank(leaders, &node_);
    MPI_Comm_free(&leaders);
  }
  HF_MPI(MPI_Bcast(&node_, 1, MPI_INT, 0, local_comm_), "MPI_Bcast(node)");
  HF_MPI(MPI_Comm_split(comm_, local_rank_, node_, &rail_comm_),
         "MPI_Comm_split(rails)");
  MPI_Comm_set_errhandler(rail_comm_, MPI_ERRORS_RETURN);

  // --- node segment ---------------------------------------------------------
  uint64_t job_key = 0;
  if (rank_ == 0) {
    std::random_device rd;
    job_key = (uint64_t(rd()) << 32) ^ rd() ^ (uint64_t(getpid()) << 16) ^
              static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  }
  HF_MPI(MPI_Bcast(&job_key, 1, MPI_UINT64_T, 0, comm_), "MPI_Bcast(job key)");
  EngineConfig ec;
  ec.rank = rank_;
  ec.size = size_;
  ec.local_rank = local_rank_;
  ec.local_size = local_size_;
  ec.node = node_;
  ec.num_nodes = num_nodes_;
  ec.slot_bytes = o.chunk_bytes;
  ec.min_chunk_bytes = o.min_chunk_bytes;
  ec.depth = o.pipeline_depth;
  ec.small_bytes = o.small_bytes;
  ec.tree.chunk_bytes = o.tree_chunk_bytes;
  ec.tree.window = o.tree_window;
  ec.pair_exchange_bytes = o.pair_exchange_bytes;
  ec.timeout = o.timeout;
  // The segment's layout must agree on every rank: the largest request wins.
  ec.registered_bytes = o.registered_bytes;
  HF_MPI(MPI_Allreduce(MPI_IN_PLACE, &ec.registered_bytes, 1, MPI_INT64_T, MPI_MAX, comm_),
         "MPI_Allreduce(registered_bytes)");
  registered_bytes_ = ec.registered_bytes;
  ec.node_shared_bytes = o.node_shared_bytes;
  HF_MPI(MPI_Allreduce(MPI_IN_PLACE, &ec.node_shared_bytes, 1, MPI_INT64_T, MPI_MAX, comm_),
         "MPI_Allreduce(node_shared_bytes)");
  node_shared_bytes_ = ec.node_shared_bytes;
  const int64_t seg_bytes = ShmSegment::kHeaderBytes + Engine::SegmentBytes(ec);
  const std::string name = ShmSegmentName(geteuid(), job_key, node_);
  absl::Status seg_status;
  if (local_rank_ == 0) {
    RemoveStaleShmSegments();
    auto seg = ShmSegment::Create(name, seg_bytes, job_key);
    if (seg.ok()) segment_ = std::move(*seg); else seg_status = seg.status();
  }
  int created = seg_status.ok();
  HF_MPI(MPI_Bcast(&created, 1, MPI_INT, 0, local_comm_), "MPI_Bcast(shm)");
  if (local_rank_ != 0) {
    if (!created) {
      seg_status = absl::UnavailableError(
          "the node's first rank could not create the shared segment");
    } else {
      auto seg = ShmSegment::Open(name, seg_bytes, job_key);
      if (seg.ok()) segment_ = std::move(*seg); else seg_status = seg.status();
    }
  }
  // Everyone agrees before anyone relies on the segment; then the name goes.
  int ok = seg_status.ok(), all_ok = 0;
  HF_MPI(MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm_),
         "MPI_Allreduce(shm ok)");
  if (!all_ok) {
    if (seg_status.ok()) {
      seg_status = absl::UnavailableError("another rank failed to map its node segment");
    }
    return Annotate(seg_status, "rank ", rank_, " node ", node_, " segment ", name);
  }
  if (local_rank_ == 0) segment_->Unlink();

  // The transport is set up per rail; all rails agree before going on.
  absl::Status rail_status = InitTransport();
  ok = rail_status.ok();
  HF_MPI(MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm_),
         "MPI_Allreduce(transport ok)");
  if (!rail_status.ok()) return rail_status;
  if (!all_ok) {
    return absl::UnavailableError(absl::StrCat(
        "rank ", rank_, ": another rank failed to set up the inter-node transport"));
  }
  engine_ = std::make_unique<Engine>(ec, segment_->data(), rail_.get(), &abort_);
  HS_LOG(INFO) << Describe();
  progress_ = std::thread([this] { ProgressLoop(); });
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Communicator::Carve(int64_t* used, int64_t capacity, int64_t bytes,
                                             const char* call, const char* region,
                                             const char* option) {
  if (bytes < 0) return absl::InvalidArgumentError(absl::StrCat(call, ": negative size"));
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t at = (*used + 63) / 64 * 64;
  if (at + bytes > capacity) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "hfreduce rank ", rank_, ": ", call, "(", bytes, ") needs ", at + bytes, " bytes of ",
        region, " but Options::", option, " is ", capacity));
  }
  *used = at + bytes;
  return at;
}

absl::StatusOr<void*> Communicator::AllocShared(int64_t bytes) {
  HS_ASSIGN_OR_RETURN(const int64_t at, Carve(&shared_used_, registered_bytes_, bytes,
                                              "AllocShared", "the registered region",
                                              "registered_bytes"));
  return static_cast<void*>(engine_->SharedRegion(local_rank_) + at);
}

absl::StatusOr<void*> Communicator::AllocNodeShared(int64_t bytes) {
  // Every local rank must get the same block: the requests are compared
  // (setup time; local_comm_ is not used by the progress thread).
  int64_t range[2] = {bytes, -bytes};
  const int rc =
      MPI_Allreduce(MPI_IN_PLACE, range, 2, MPI_INT64_T, MPI_MAX, local_comm_);
  if (rc != MPI_SUCCESS) {
    return absl::InternalError(absl::StrCat("hfreduce rank ", rank_,
                                            ": AllocNodeShared: MPI_Allreduce failed"));
  }
  if (range[0] != -range[1]) {
    return absl::InvalidArgumentError(absl::StrCat(
        "hfreduce rank ", rank_, ": AllocNodeShared(", bytes, "): the ranks of node ", node_,
        " asked for different sizes (", -range[1], " to ", range[0], " bytes)"));
  }
  HS_ASSIGN_OR_RETURN(const int64_t at, Carve(&node_shared_used_, node_shared_bytes_, bytes,
                                              "AllocNodeShared", "the node's common region",
                                              "node_shared_bytes"));
  return static_cast<void*>(engine_->NodeSharedRegion() + at);
}

absl::StatusOr<TransportKind> ParseTransportKind(const std::string& name) {
  if (name.empty()) return TransportKind::kDefault;
  if (name == "mpi") return TransportKind::kMpi;
  if (name == "tcp") return TransportKind::kTcp;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown transport '", name, "' (mpi or tcp)"));
}

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

}  // namespace

// The inter-node transport of this rank's rail. Collective over comm_.
absl::Status Communicator::InitTransport() {
  TransportKind kind = options_.transport;
  absl::Status kind_status;
  if (kind == TransportKind::kDefault) {
    auto env = ParseTransportKind(Env("HFREDUCE_TRANSPORT"));
    if (env.ok()) kind = *env; else kind_status = Annotate(env.status(), "HFREDUCE_TRANSPORT");
    if (kind == TransportKind::kDefault) kind = TransportKind::kMpi;
  }
  // Every rank must run the same transport (an environment variable that
  // reached only some ranks would otherwise hang the first call).
  const int mine = kind_status.ok() ? static_cast<int>(kind) : -1;
  int k[2] = {mine, -mine}, ext[2];
  HF_MPI(MPI_Allreduce(k, ext, 2, MPI_INT, MPI_MAX, comm_), "MPI_Allreduce(transport)");
  if (!kind_status.ok()) return kind_status;
  if (ext[0] != -ext[1]) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ranks chose different inter-node transports (rank ", rank_, ": ",
        kind == TransportKind::kTcp ? "tcp" : "mpi",
        "); set Options::transport or HFREDUCE_TRANSPORT the same on every rank"));
  }
  if (kind == TransportKind::kMpi) {
    rail_ = std::make_unique<MpiTransport>(rail_comm_);
    rail_desc_ = "mpi";
    return absl::OkStatus();
  }
  // TCP: one secret per job, drawn by rank 0 and sent to all over MPI.
  TcpSecret secret{};
  int drawn = 1;
  if (rank_ == 0) {
    auto s = RandomTcpSecret();
    if (s.ok()) secret = *s; else drawn = 0;
  }
  HF_MPI(MPI_Bcast(&drawn, 1, MPI_INT, 0, comm_), "MPI_Bcast(tcp secret ok)");
  if (!drawn) return absl::InternalError("rank 0 could not draw the tcp job secret");
  HF_MPI(MPI_Bcast(secret.data(), static_cast<int>(secret.size()), MPI_BYTE, 0, comm_),
         "MPI_Bcast(tcp secret)");
  TcpConfig cfg;
  cfg.interface = options_.tcp_interface.empty() ? Env("HFREDUCE_TCP_IFACE")
                                                 : options_.tcp_interface;
  int port = options_.tcp_port;
  if (port == 0 && !Env("HFREDUCE_TCP_PORT").empty()) {
    port = std::atoi(Env("HFREDUCE_TCP_PORT").c_str());
  }
  cfg.port = port > 0 ? port + local_rank_ : 0;
  cfg.socket_buffer_bytes = options_.tcp_socket_buffer_bytes;
  cfg.job_rank = rank_;
  // Connections: the double tree's (AllReduce, Broadcast, call checks) and
  // the ring's (ReduceScatter, AllGather).
  std::vector<int> neighbours;
  auto add = [&](int p) {
    if (p >= 0 && p != node_ &&
        std::find(neighbours.begin(), neighbours.end(), p) == neighbours.end()) {
      neighbours.push_back(p);
    }
  };
  for (int t = 0; t < 2 && num_nodes_ > 1; ++t) {
    TreeLinks l = DoubleTreeLinks(num_nodes_, node_, t);
    for (int p : {l.parent, l.children[0], l.children[1]}) add(p);
  }
  if (num_nodes_ > 1) {
    add(RingPrev(num_nodes_, node_));
    add(RingNext(num_nodes_, node_));
  }
  WaitContext ctx{&abort_, options_.timeout};
  auto t = CreateTcpTransportOverMpi(rail_comm_, secret, cfg, neighbours, ctx);
  if (!t.ok()) {
    return Annotate(t.status(), "rank ", rank_, " (node ", node_, ") tcp transport on '",
                    cfg.interface, "'");
  }
  rail_desc_ = absl::StrCat("tcp ", (*t)->address().ToString());
  rail_ = std::move(*t);
  return absl::OkStatus();
}

Communicator::~Communicator() {
  if (progress_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    progress_.join();
  }
  engine_.reset();
  rail_.reset();
  segment_.reset();
  bool broken = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    broken = !broken_.ok();
  }
  // A failed call can leave messages in flight to ranks that stopped before
  // receiving them. Freeing this communicator's MPI communicators would let
  // the next Communicator::Create reuse their context ids, and those stale
  // messages would then match its receives (a "mismatch" naming a call of
  // this communicator). A broken communicator keeps them: a few handles.
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && !broken) {
    for (MPI_Comm* c : {&rail_comm_, &local_comm_, &comm_}) {
      if (*c != MPI_COMM_NULL) MPI_Comm_free(c);
    }
  }
}

std::string Communicator::Describe() const {
  std::string out = absl::StrCat(
      "hfreduce: rank ", rank_, "/", size_, " node ", node_, "/", num_nodes_,
      " local ", local_rank_, "/", local_size_, " simd ",
      SimdLevelName(ActiveSimdLevel()), " transport ", rail_desc_, " chunk ",
      options_.chunk_bytes, " depth ", options_.pipeline_depth, " tree chunk ",
      options_.tree_chunk_bytes, " window ", options_.tree_window);
  if (num_nodes_ == 2 && options_.pair_exchange_bytes > 0) {
    absl::StrAppend(&out, "\n  two nodes: one-hop exchange with node ", 1 - node_,
                    " up to ", options_.pair_exchange_bytes, " bytes, trees above");
  }
  for (int t = 0; t < 2 && num_nodes_ > 1; ++t) {
    TreeLinks l = DoubleTreeLinks(num_nodes_, node_, t);
    absl::StrAppend(&out, "\n  Tree ", t, " : ", l.parent, " -> ", node_, " -> ",
                    l.children[0], "/", l.children[1]);
  }
  return out;
}

// ----------------------------------------------------------------- Calls ---

Handle Communicator::Enqueue(OpCall call) {
  auto state = std::make_shared<internal::OpState>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    call.desc.seq = next_seq_++;
    state->call = call;
    queue_.push_back(state);
  }
  cv_.notify_all();
  return Handle(std::move(state));
}

namespace {

absl::Status CheckArgs(const char* what, const void* a, const void* b,
                       int64_t count, DType dtype, bool reduction) {
  if (count < 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": negative count ", count));
  }
  if (count > 0 && (a == nullptr || b == nullptr)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": null buffer"));
  }
  if (reduction && dtype != DType::kF32 && dtype != DType::kBF16) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": dtype ", DTypeName(dtype), " not supported (f32 or bf16)"));
  }
  return absl::OkStatus();
}

// One call as the engine takes it (seq is given when it is queued or run).
OpCall MakeCall(OpKind kind, const void* src, void* dst, int64_t count, DType dtype,
                int32_t op = 0, int32_t root = 0) {
  OpCall call;
  call.src = src;
  call.dst = dst;
  call.desc.kind = static_cast<int32_t>(kind);
  call.desc.dtype = static_cast<int32_t>(dtype);
  call.desc.op = op;
  call.desc.root = root;
  call.desc.count = count;
  return call;
}

}  // namespace

Handle Communicator::AllReduceAsync(void* buffer, int64_t count, DType dtype,
                                    ReduceOp op) {
  absl::Status s = CheckArgs("AllReduce", buffer, buffer, count, dtype, true);
  if (!s.ok()) return FailedHandle(s);
  return Enqueue(MakeCall(OpKind::kAllReduce, buffer, buffer, count, dtype, int32_t(op)));
}

absl::Status Communicator::AllReduce(void* buffer, int64_t count, DType dtype,
                                     ReduceOp op) {
  absl::Status s = CheckArgs("AllReduce", buffer, buffer, count, dtype, true);
  if (!s.ok()) return s;
  return RunBlocking(MakeCall(OpKind::kAllReduce, buffer, buffer, count, dtype, int32_t(op)));
}

absl::Status Communicator::AllReduceToOwners(void* buffer, int64_t count, DType dtype,
                                             ReduceOp op) {
  absl::Status s = CheckArgs("AllReduceToOwners", buffer, buffer, count, dtype, true);
  if (!s.ok()) return s;
  return RunBlocking(
      MakeCall(OpKind::kAllReduce, buffer, buffer, count, dtype, int32_t(op), /*root=*/1));
}

std::vector<std::pair<int64_t, int64_t>> Communicator::AllReduceOwnedSlices(int64_t count,
                                                                            DType dtype) const {
  return engine_->AllReduceOwnedUnits(count, dtype, local_rank_);
}

absl::Status Communicator::RunBlocking(OpCall call) {
  if (!options_.inline_blocking) return Enqueue(call).Wait();
  absl::Status broken;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!queue_.empty() || running_ || stop_) {
      // Calls are in flight: queue behind them to keep the call order.
      lock.unlock();
      return Enqueue(call).Wait();
    }
    // Nothing queued or running: this thread takes the engine, in order.
    call.desc.seq = next_seq_++;
    running_ = true;
    broken = broken_;
  }
  absl::Status s = Execute(call, broken);
  bool wake_progress = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_ = false;
    // Only the progress thread waits on cv_, and only calls queued meanwhile
    // (or a stop) give it something to do. Waking it after every call made a
    // small blocking AllReduce cost a context switch of a thread at raised
    // priority: ~5 µs of a 4 KiB call on 2 cores (docs/hfreduce.md).
    wake_progress = !queue_.empty() || stop_;
  }
  if (wake_progress) cv_.notify_all();
  return s;
}

bool Communicator::CanAllReduceRows(const void* buffer, int64_t bytes) const {
  if (registered_bytes_ <= 0) return false;
  const char* p = static_cast<const char*>(buffer);
  const char* region = engine_->SharedRegion(local_rank_);
  return p >= region && bytes >= 0 && p + bytes <= region + registered_bytes_;
}

absl::Status Communicator::AllReduceRows(float* buffer, int64_t rows, int64_t cols,
                                         ReduceOp op, int64_t* nonzero_rows) {
  if (rows < 0 || cols <= 0 || cols > INT32_MAX ||
      (rows > 0 && rows > INT64_MAX / cols)) {
    return absl::InvalidArgumentError(
        absl::StrCat("AllReduceRows: bad shape [", rows, ", ", cols, "]"));
  }
  HS_RETURN_IF_ERROR(CheckArgs("AllReduceRows", buffer, buffer, rows * cols, DType::kF32, true));
  // OpDesc::root carries the row length, so ranks that disagree on it are named.
  OpCall call = MakeCall(OpKind::kAllReduceRows, buffer, buffer, rows * cols, DType::kF32,
                         int32_t(op), int32_t(cols));
  call.nonzero_rows = nonzero_rows;
  return RunBlocking(call);
}

Handle Communicator::ReduceScatterAsync(const void* send, void* recv,
                                        int64_t recv_count, DType dtype,
                                        ReduceOp op) {
  absl::Status s = CheckArgs("ReduceScatter", send, recv, recv_count, dtype, true);
  if (!s.ok()) return FailedHandle(s);
  return Enqueue(MakeCall(OpKind::kReduceScatter, send, recv, recv_count, dtype, int32_t(op)));
}

Handle Communicator::AllGatherAsync(const void* send, void* recv,
                                    int64_t send_count, DType dtype) {
  absl::Status s = CheckArgs("AllGather", send, recv, send_count, dtype, false);
  if (!s.ok()) return FailedHandle(s);
  return Enqueue(MakeCall(OpKind::kAllGather, send, recv, send_count, dtype));
}

absl::Status Communicator::ReduceScatter(const void* send, void* recv, int64_t recv_count,
                                         DType dtype, ReduceOp op) {
  HS_RETURN_IF_ERROR(CheckArgs("ReduceScatter", send, recv, recv_count, dtype, true));
  return RunBlocking(
      MakeCall(OpKind::kReduceScatter, send, recv, recv_count, dtype, int32_t(op)));
}

absl::Status Communicator::AllGather(const void* send, void* recv, int64_t send_count,
                                     DType dtype) {
  HS_RETURN_IF_ERROR(CheckArgs("AllGather", send, recv, send_count, dtype, false));
  return RunBlocking(MakeCall(OpKind::kAllGather, send, recv, send_count, dtype));
}

Handle Communicator::BroadcastAsync(void* buffer, int64_t count, DType dtype,
                                    int root) {
  absl::Status s = CheckArgs("Broadcast", buffer, buffer, count, dtype, false);
  if (s.ok() && (root < 0 || root >= size_)) {
    s = absl::InvalidArgumentError(absl::StrCat("Broadcast: root ", root,
                                                " out of range [0, ", size_, ")"));
  }
  if (!s.ok()) return FailedHandle(s);
  return Enqueue(MakeCall(OpKind::kBroadcast, buffer, buffer, count, dtype, 0, root));
}

void Communicator::Abort(const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (broken_.ok()) broken_ = absl::AbortedError(absl::StrCat("hfreduce: ", reason));
  }
  abort_.store(true);
  if (engine_ != nullptr) engine_->RaiseNodeAbort(reason);
}

absl::Status Communicator::Execute(const OpCall& call, absl::Status broken) {
  absl::Status s = broken;
  if (s.ok()) s = engine_->Run(call);
  if (!s.ok() && broken.ok()) {
    // The first failure breaks the communicator: peers on the node stop
    // at once, later calls fail with the same error.
    s = Annotate(s, "rank ", rank_, " (node ", node_, ") in ", DescribeOp(call.desc));
    HS_LOG(ERROR) << s.message();
    engine_->RaiseNodeAbort(std::string(s.message()));
    std::lock_guard<std::mutex> lock(mu_);
    if (broken_.ok()) broken_ = s;
  }
  return s;
}

void Communicator::ProgressLoop() {
  const CommThreadSetup setup = SetUpCommunicationThread(
      "hfreduce-prog", options_.progress_priority, absl::Microseconds(options_.progress_slice_us));
  if (!setup.priority.ok() && local_rank_ == 0) {
    HS_LOG(WARN) << "hfreduce: rank " << rank_ << ": Options::progress_priority "
                 << options_.progress_priority << ": " << setup.priority.message();
  }
  if (!setup.slice.ok() && local_rank_ == 0) {
    HS_LOG(WARN) << "hfreduce: rank " << rank_ << ": Options::progress_slice_us "
                 << options_.progress_slice_us << ": " << setup.slice.message();
  }
  for (;;) {
    std::shared_ptr<internal::OpState> op;
    absl::Status broken;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // A blocking call may hold the engine on its own thread (running_).
      while (!((stop_ && !running_) || (!queue_.empty() && !running_))) {
        cv_.wait(lock);
        progress_wakeups_.fetch_add(1, std::memory_order_relaxed);
      }
      if (queue_.empty()) return;  // stop_ and drained
      op = queue_.front();
      queue_.pop_front();
      broken = broken_;
      running_ = true;
    }
    absl::Status s = Execute(op->call, broken);
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_ = false;
    }
    op->Finish(std::move(s));
  }
}

}  // namespace hs::hfreduce
