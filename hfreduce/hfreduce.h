// File: hfreduce/hfreduce.h
//
// HFReduce: the CPU-assisted hierarchical allreduce of the Fire-Flyer
// AI-HPC design (DeepSeek, SC'24), usable on its own like NCCL. Ranks of one
// node share a host-memory segment, the node's CPUs reduce with SIMD, and
// nodes combine their partial sums over a double binary tree.
//
//   rank buffers ──copy──> node shm slots ──SIMD sum (slice per rank)──> acc
//   acc slice l ──double binary tree with local rank l of every node──> acc
//   acc ──copy (÷N, round to bf16)──> rank buffers
//
// Results are deterministic: the reduction order is fixed, so every rank
// gets the same bits, run after run. Calls are asynchronous and run in call
// order on a progress thread owned by the Communicator; every call must be
// made by all ranks in the same order with the same count/dtype/op (a
// mismatch is detected and reported). Buffers are host pointers (the GPU
// path will add device buffers with D2H/H2D copies on streams).
//
// Usage (under mpirun, MPI initialised with MPI_THREAD_MULTIPLE):
//   HS_ASSIGN_OR_RETURN(auto comm, Communicator::Create(MPI_COMM_WORLD, {}));
//   Handle h = comm->AllReduceAsync(grads, n, DType::kBF16, ReduceOp::kAverage);
//   ... compute ...
//   HS_RETURN_IF_ERROR(h.Wait());
//   comm.reset();                   // before MPI_Finalize
#ifndef HFREDUCE_HFREDUCE_H_
#define HFREDUCE_HFREDUCE_H_

#include <mpi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "haiscale/dtype.h"
#include "hfreduce/op_desc.h"

namespace hs::hfreduce {

class Engine;
struct OpCall;
class ShmSegment;
class Transport;

enum class ReduceOp { kSum = 0, kAverage = 1 };

// The inter-node transport (see transport/*.h).
enum class TransportKind {
  kDefault = 0,  // $HFREDUCE_TRANSPORT ("mpi" or "tcp"), else kMpi
  kMpi = 1,      // MPI point-to-point on the rail communicator
  kTcp = 2,      // TCP sockets between tree neighbours (tcp_transport.h)
};

// ParseTransportKind("tcp") == kTcp; "mpi" and "" (kDefault) too.
absl::StatusOr<TransportKind> ParseTransportKind(const std::string& name);

// Options of a Communicator; the defaults suit tests and benchmarks.
struct Options {
  // Ranks per node. 0: group by MPI_Comm_split_type(MPI_COMM_TYPE_SHARED).
  // N > 0: ranks [0,N) are node 0, [N,2N) node 1, ..., so one machine can
  // act as several nodes. The world size must be a multiple of N.
  int ranks_per_node = 0;
  // The longest any wait may go without progress before the call fails
  // with DeadlineExceeded (a dead or stuck peer).
  absl::Duration timeout = absl::Seconds(60);
  // Bytes of one rank's shared-memory slot: the node pipeline's chunk.
  int64_t chunk_bytes = 1 << 20;
  // An AllReduce goes through the node pipeline in chunks of about 1/16 of
  // the message, at least this many bytes (a smaller chunk's working set
  // stays in L2; every chunk is three meetings of the node's ranks) and at
  // most chunk_bytes. The same on every rank.
  int64_t min_chunk_bytes = 512 << 10;
  // Shared-memory buffers in the node pipeline, >= 2: a rank copies chunk
  // g+1 in while chunk g is still being reduced and copied out.
  int pipeline_depth = 2;
  // AllReduces of at most min(small_bytes, chunk_bytes) bytes take the
  // small-message path: one reducer per node (local rank 0) and one tree,
  // instead of a slice per rank and a tree per rail. 0 disables it. The
  // results are the same bits either way.
  int64_t small_bytes = 64 << 10;
  // Blocking calls (AllReduce, AllReduceRows, ReduceScatter, AllGather)
  // run on the calling thread when nothing is queued or running, skipping
  // the hand-off to the progress thread.
  bool inline_blocking = true;
  // Bytes per inter-node message and messages in flight per tree (and per
  // ring direction for ReduceScatter / AllGather).
  int64_t tree_chunk_bytes = 128 << 10;
  int tree_window = 4;
  // Two nodes: AllReduces of at most this many bytes (and the op checks of
  // ReduceScatter / AllGather) swap the nodes' partial sums, one hop,
  // instead of going up and down a tree edge, two hops (same bits; 0: always
  // the trees). Above it the trees' fused sum at the root saves more than
  // the hop costs once the pipeline hides the hops (docs/hfreduce.md). The
  // same on every rank.
  int64_t pair_exchange_bytes = 1 << 20;
  // Bytes of node-shared memory per rank for AllocShared (registered
  // buffers); the largest value of any rank is used.
  int64_t registered_bytes = 0;
  // Bytes of the node's common region for AllocNodeShared (one block per
  // node, mapped by every local rank); the largest value of any rank is used.
  int64_t node_shared_bytes = 0;
  // Inter-node transport; every rank must choose the same (checked).
  TransportKind transport = TransportKind::kDefault;
  // TCP only. Where to listen: an interface name ("eth0"), an IPv4 address,
  // or "" for $HFREDUCE_TCP_IFACE, else the first up non-loopback IPv4
  // interface (else 127.0.0.1).
  std::string tcp_interface;
  // TCP only. 0: ephemeral ports ($HFREDUCE_TCP_PORT when set). P > 0: local
  // rank l listens on port P + l (for firewalls that open a range).
  int tcp_port = 0;
  // TCP only. SO_SNDBUF / SO_RCVBUF of every connection.
  int64_t tcp_socket_buffer_bytes = 4 << 20;
  // Nice levels the progress thread (where asynchronous calls run) takes
  // above the thread that created the communicator, so calls overlapped
  // with compute on the same cores progress (haiscale/thread_priority.h).
  // 0: equal. Without the right to (CAP_SYS_NICE, RLIMIT_NICE) a warning,
  // and equal priority.
  int progress_priority = 0;
  // The progress thread's time slice in microseconds (SetThisThreadSlice:
  // woken or yielding, it preempts compute within about that long); 0: the
  // kernel's default.
  int progress_slice_us = 0;
};

namespace internal {
struct OpState;
}

// The result of an asynchronous call.
class Handle {
 public:
  Handle() = default;

  // Handle::Wait(): blocks until the call finished; returns its status.
  // Every internal wait has a deadline, so this returns within about
  // Options::timeout after the last progress.
  absl::Status Wait();

  // Handle::Test(): true when the call finished (then Wait() won't block).
  bool Test() const;

  // Handle::valid(): false for a default-constructed Handle.
  bool valid() const { return state_ != nullptr; }

  // Handle(state): made by the Communicator (internal type).
  explicit Handle(std::shared_ptr<internal::OpState> s) : state_(std::move(s)) {}

 private:
  std::shared_ptr<internal::OpState> state_;
};

class Communicator {
 public:
  // Communicator::Create(comm, options)
  //
  // Collective over `comm`: groups ranks into nodes, creates the node
  // segment, connects the inter-node transport and starts the progress
  // thread. MPI must be initialised with MPI_THREAD_MULTIPLE. Errors name
  // the rank and what failed (e.g. nodes with different rank counts).
  static absl::StatusOr<std::unique_ptr<Communicator>> Create(
      MPI_Comm comm, const Options& options = Options());

  // ~Communicator(): finishes queued calls, stops the progress thread and
  // frees its MPI communicators (a broken one keeps them, so that a later
  // communicator cannot receive its stale messages). Destroy it before
  // MPI_Finalize.
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  // Communicator::AllReduceAsync(buffer, count, dtype, op)
  //
  // In place: buffer (count elements, kF32 or kBF16) becomes the sum or
  // average over all ranks. The buffer must stay valid until done.
  Handle AllReduceAsync(void* buffer, int64_t count, DType dtype, ReduceOp op);

  // Communicator::AllReduce(...): AllReduceAsync(...).Wait().
  absl::Status AllReduce(void* buffer, int64_t count, DType dtype, ReduceOp op);

  // Communicator::AllReduceToOwners(buffer, count, dtype, op)
  //
  // AllReduce for data a node's ranks hold once between them (DDP's
  // node-shared parameters, where each local rank steps the optimizer on
  // its own part): at least the elements of AllReduceOwnedSlices(count,
  // dtype) become the sum or average in this rank's buffer; the rest of it
  // may keep its input. With registered buffers (AllocShared) this saves
  // writing every sum into all L buffers of the node: each rank writes its
  // slices into its own only. Same bits as AllReduce where it writes.
  absl::Status AllReduceToOwners(void* buffer, int64_t count, DType dtype, ReduceOp op);

  // Communicator::AllReduceOwnedSlices(count, dtype): the element ranges
  // [begin, end) of an AllReduce of `count` elements whose sums this rank
  // computes; over the node's local ranks a partition of [0, count), the
  // same on every node.
  std::vector<std::pair<int64_t, int64_t>> AllReduceOwnedSlices(int64_t count,
                                                                DType dtype) const;

  // Communicator::AllReduceRows(buffer, rows, cols, op, nonzero_rows)
  //
  // In place, f32: the AllReduce of a row-major [rows, cols] matrix most of
  // whose rows are zero on every rank (an embedding's gradient: only the
  // batch's tokens have rows). A row that is zero (+0 or -0) on every rank
  // is left as it is; every other row gets AllReduce's bits (with three or
  // more nodes, possibly not in the last place: the trees cut the packed
  // rows differently; still the same on every rank). `buffer` must come
  // from AllocShared on every rank (CanAllReduceRows): each rank walks its
  // share of the rows straight in the node's buffers, so no masks per
  // rank, no packing on one node, no copies; between nodes only the
  // union's rows travel. Otherwise every rank fails with FailedPrecondition.
  // *nonzero_rows (optional): how many rows were nonzero on some rank.
  // Blocking; ordered with the other calls.
  absl::Status AllReduceRows(float* buffer, int64_t rows, int64_t cols, ReduceOp op,
                             int64_t* nonzero_rows = nullptr);

  // Communicator::CanAllReduceRows(buffer, bytes): the bytes lie in this
  // rank's registered region (AllReduceRows needs that on every rank; the
  // caller makes sure they agree).
  bool CanAllReduceRows(const void* buffer, int64_t bytes) const;

  // Communicator::ReduceScatterAsync(send, recv, recv_count, dtype, op)
  //
  // send holds size() * recv_count elements; rank r receives block r of the
  // reduction (elements [r*recv_count, (r+1)*recv_count)) in recv. Moves
  // the minimal bytes (node shared memory, then a ring between nodes);
  // deterministic, and with <= 2 nodes the bits of AllReduce's block r.
  Handle ReduceScatterAsync(const void* send, void* recv, int64_t recv_count,
                            DType dtype, ReduceOp op);

  // Communicator::ReduceScatter(...): ReduceScatterAsync(...).Wait(), on the
  // calling thread when nothing is in flight (Options::inline_blocking).
  absl::Status ReduceScatter(const void* send, void* recv, int64_t recv_count,
                             DType dtype, ReduceOp op);

  // Communicator::AllGatherAsync(send, recv, send_count, dtype)
  //
  // recv (size() * send_count elements) gets every rank's send block in
  // rank order. Any dtype; the bytes are copied exactly. send may be
  // recv + rank() * send_count (in place).
  Handle AllGatherAsync(const void* send, void* recv, int64_t send_count,
                        DType dtype);

  // Communicator::AllGather(...): AllGatherAsync(...).Wait(), on the calling
  // thread when nothing is in flight (Options::inline_blocking).
  absl::Status AllGather(const void* send, void* recv, int64_t send_count, DType dtype);

  // Communicator::BroadcastAsync(buffer, count, dtype, root)
  //
  // Every rank's buffer gets root's bytes.
  Handle BroadcastAsync(void* buffer, int64_t count, DType dtype, int root);

  // Communicator::AllocShared(bytes)
  //
  // `bytes` (64-byte aligned) of this rank's registered region: host memory
  // in the node's shared segment, valid until the Communicator is destroyed
  // (there is no free). An AllReduce of a buffer that lies in it is done in
  // place: the node's other ranks read it and write their finished slices
  // straight into it, with no copy into or out of the pipeline's slots (the
  // idea of NCCL's registered user buffers; DDP puts its gradient buckets
  // here). Other calls and plain buffers work as usual. ResourceExhausted
  // when Options::registered_bytes is used up.
  absl::StatusOr<void*> AllocShared(int64_t bytes);

  // Communicator::AllocNodeShared(bytes)
  //
  // Collective over the node's ranks, which must ask for the same `bytes`
  // (checked): `bytes` (64-byte aligned) of the node's common region, the
  // same memory on every local rank, zeroed, valid until the Communicator is
  // destroyed. For data the node's ranks hold once between them (DDP's
  // node-shared parameters); the caller orders their reads and writes.
  // ResourceExhausted when Options::node_shared_bytes is used up.
  absl::StatusOr<void*> AllocNodeShared(int64_t bytes);

  // Communicator::Abort(reason): fails queued and future calls and tells
  // this node's other ranks to stop.
  void Abort(const std::string& reason);

  // Topology of this communicator.
  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  int node() const { return node_; }
  int num_nodes() const { return num_nodes_; }
  const Options& options() const { return options_; }
  // transport(): the inter-node transport in use, e.g. "mpi" or
  // "tcp 10.77.0.1:40213" (where this rank listens).
  const std::string& transport() const { return rail_desc_; }
  // progress_wakeups(): how often the progress thread has woken up to look
  // at the queue. Blocking calls that run inline must not wake it (each
  // wake-up is a context switch of a raised-priority thread); tests check.
  int64_t progress_wakeups() const { return progress_wakeups_.load(std::memory_order_relaxed); }

  // Communicator::Describe(): topology, trees, SIMD level, transport.
  std::string Describe() const;

 private:
  Communicator() = default;
  absl::Status Init(MPI_Comm comm, const Options& options);
  absl::Status InitTransport();
  Handle Enqueue(OpCall call);
  // Runs `call` (desc without seq) to completion: on this thread when
  // nothing is queued or running (Options::inline_blocking), else queued.
  absl::Status RunBlocking(OpCall call);
  // Runs one call on the engine (the caller owns the engine); the first
  // failure breaks the communicator.
  absl::Status Execute(const OpCall& call, absl::Status broken);
  void ProgressLoop();
  // Carve(used, capacity, bytes, ...): the 64-byte aligned offset of `bytes`
  // more of a region of `capacity` bytes of which *used are handed out
  // (AllocShared, AllocNodeShared); ResourceExhausted naming `option` when
  // it is used up.
  absl::StatusOr<int64_t> Carve(int64_t* used, int64_t capacity, int64_t bytes, const char* call,
                                const char* region, const char* option);

  Options options_;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  int node_ = 0, num_nodes_ = 1;
  MPI_Comm comm_ = MPI_COMM_NULL;        // dup of the user's comm
  MPI_Comm local_comm_ = MPI_COMM_NULL;  // this node's ranks
  MPI_Comm rail_comm_ = MPI_COMM_NULL;   // local rank l of every node
  std::unique_ptr<ShmSegment> segment_;
  std::unique_ptr<Transport> rail_;
  std::string rail_desc_;  // "mpi" or "tcp 10.0.0.1:4000"
  std::unique_ptr<Engine> engine_;
  std::atomic<bool> abort_{false};
  uint64_t next_seq_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<internal::OpState>> queue_;
  bool stop_ = false;
  bool running_ = false;  // a call is on the engine (either thread)
  absl::Status broken_;  // first error; later calls fail with it
  std::thread progress_;
  std::atomic<int64_t> progress_wakeups_{0};
  int64_t registered_bytes_ = 0;  // agreed Options::registered_bytes
  int64_t shared_used_ = 0;       // bytes handed out by AllocShared
  int64_t node_shared_bytes_ = 0; // agreed Options::node_shared_bytes
  int64_t node_shared_used_ = 0;  // bytes handed out by AllocNodeShared
};

}  // namespace hs::hfreduce

#endif  // HFREDUCE_HFREDUCE_H_
