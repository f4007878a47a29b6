// File: hfreduce/transport/tcp_transport.h
//
// Transport over TCP sockets, for the inter-node phase when MPI's own
// network path is not wanted (or is slower). One connection per pair of
// tree neighbours, shared by both trees; messages are framed (tag, length)
// and matched per (peer, tag) in posting order, as MPI does.
//
// Setup has three steps; the MPI bootstrap does them for the Communicator:
//   1. Listen: every peer binds a listening socket on its configured
//      interface or address (port 0 = ephemeral).
//   2. The listening addresses and a per-job secret (128 random bits drawn
//      by one rank) are exchanged out of band (over MPI).
//   3. Connect: the higher-numbered peer of each neighbour pair connects and
//      sends a Hello {magic, version, secret, from, to}; the lower one
//      checks it and answers with an Ack. Connections that fail the check
//      (wrong secret, unknown or duplicate peer, garbage, silence) are
//      closed and logged, and the listener keeps waiting for the real peer
//      until the deadline. After setup the listener is closed.
//
// Data: non-blocking sockets, TCP_NODELAY, large socket buffers. Isend and
// Irecv never block; Test() drives progress with one poll() over the peer
// sockets. A send completes once all of it is in the kernel. A message with
// no posted receive is kept aside (copied) until one is posted.
//
// Security model: the secret keeps out processes that do not know it (other
// jobs, port scanners, a stale peer of an earlier run). It travels in clear
// text and the data is not encrypted, so it does not protect against anyone
// who can read the network; the network between nodes must be trusted.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(auto t, TcpTransport::Listen(node, num_nodes, cfg));
//   ... exchange t->address() and the secret ...
//   HS_RETURN_IF_ERROR(t->Connect(addresses, secret, neighbours, wait_ctx));
//   HS_ASSIGN_OR_RETURN(Transport::Request r, t->Isend(peer, tag, buf, n));
#ifndef HFREDUCE_TRANSPORT_TCP_TRANSPORT_H_
#define HFREDUCE_TRANSPORT_TCP_TRANSPORT_H_

#include <mpi.h>

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hfreduce/transport/transport.h"
#include "hfreduce/wait.h"

namespace hs::hfreduce {

// The per-job secret: 128 random bits.
using TcpSecret = std::array<uint8_t, 16>;

// RandomTcpSecret(): 16 bytes from getrandom(2).
absl::StatusOr<TcpSecret> RandomTcpSecret();

// Where a peer listens, as exchanged between peers (plain bytes, fixed
// size, so it can travel in an MPI_Allgather).
struct TcpAddress {
  uint32_t ipv4 = 0;  // network byte order
  uint16_t port = 0;  // host byte order
  uint16_t pad = 0;
  int32_t rank = -1;  // the peer's rank in the job (for messages)

  std::string ToString() const;  // "10.77.0.1:41523"
};

struct TcpConfig {
  // Interface name ("eth0"), IPv4 address ("10.77.0.1") or empty: the first
  // up, non-loopback IPv4 interface, else 127.0.0.1.
  std::string interface;
  int port = 0;                          // 0: ephemeral
  int64_t socket_buffer_bytes = 4 << 20; // SO_SNDBUF / SO_RCVBUF
  int32_t job_rank = -1;                 // this peer's rank in the job
};

// ResolveTcpInterface(spec): the IPv4 address (network order) to bind for
// an interface name, an address or "" (see TcpConfig::interface). The error
// lists the interfaces there are.
absl::StatusOr<uint32_t> ResolveTcpInterface(const std::string& spec);

// The handshake messages (exposed for the negative tests).
struct TcpHello {
  uint64_t magic = 0;
  uint32_t version = 0;
  int32_t from = -1;   // connecting peer
  int32_t to = -1;     // peer it means to reach
  uint32_t pad = 0;
  TcpSecret secret{};
};
struct TcpAck {
  uint64_t magic = 0;
  int32_t from = -1;
  int32_t ok = 0;
};
inline constexpr uint64_t kTcpHelloMagic = 0x3130504354524648ull;  // "HFRTCP01"
inline constexpr uint64_t kTcpAckMagic = 0x31304b4354524648ull;    // "HFRTCK01"
inline constexpr uint32_t kTcpVersion = 1;

class TcpTransport : public Transport {
 public:
  // TcpTransport::Listen(rank, size, config): binds and listens; rank/size
  // are the peer index and count (node index and number of nodes).
  static absl::StatusOr<std::unique_ptr<TcpTransport>> Listen(
      int rank, int size, const TcpConfig& config);

  ~TcpTransport() override;

  // TcpTransport::address(): where this peer listens (port filled in).
  const TcpAddress& address() const { return self_; }

  // TcpTransport::Connect(addresses, secret, neighbours, ctx)
  //
  // Connects to every peer in `neighbours` (addresses[p] is where peer p
  // listens): lower peers are dialled, higher ones accepted. Returns when
  // all are connected; DeadlineExceeded (naming the missing peers) after
  // ctx.timeout, Aborted when ctx's abort flag rises.
  absl::Status Connect(const std::vector<TcpAddress>& addresses,
                       const TcpSecret& secret,
                       const std::vector<int>& neighbours,
                       const WaitContext& ctx);

  // TcpTransport::rejected(): connections refused during Connect.
  int rejected() const { return rejected_; }

  std::string name() const override { return "tcp"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  absl::StatusOr<Request> Isend(int peer, int tag, const void* buf,
                                int64_t bytes) override;
  absl::StatusOr<Request> Irecv(int peer, int tag, void* buf,
                                int64_t bytes) override;
  absl::StatusOr<bool> Test(Request request) override;
  void Cancel(Request request) override;

 private:
  struct Frame {  // on the wire before every message
    int32_t tag = 0;
    uint32_t pad = 0;
    int64_t bytes = 0;
  };
  struct Slot {
    bool used = false;
    bool is_recv = false;
    bool done = false;
    int peer = -1;
    int tag = 0;
    char* buf = nullptr;
    int64_t bytes = 0;
    absl::Status status;
  };
  // A message that arrived before its receive was posted.
  struct Unexpected {
    int tag = 0;
    std::vector<char> data;
    int64_t got = 0;
    bool complete = false;
    Request bound = -1;  // receive waiting for it to complete
  };
  struct Peer {
    int fd = -1;
    TcpAddress addr;
    absl::Status error;  // once set, the connection is dead
    // After the peer closed: requests still pending (or posted later) fail
    // at this time, not at once, so messages that arrived before the close
    // are matched first (a peer that reported an error and left).
    absl::Time fail_at = absl::InfiniteFuture();
    // Sending: requests in order; the head may be partly written.
    std::deque<Request> sends;
    Frame send_frame;
    int64_t send_off = 0;  // bytes of frame + payload written for the head
    // Receiving: the frame being read and where its payload goes.
    std::deque<Request> recvs;  // posted, not yet matched, in order
    Frame recv_frame;
    int64_t frame_got = 0;
    bool in_payload = false;
    Request recv_target = -1;        // matched receive, or
    Unexpected* recv_spill = nullptr;  // message kept aside
    int64_t payload_got = 0;
    std::deque<std::unique_ptr<Unexpected>> unexpected;
  };

  TcpTransport(int rank, int size, const TcpConfig& config)
      : rank_(rank), size_(size), config_(config) {}
  absl::StatusOr<Request> Alloc(const Slot& slot);
  void Finish(Request r, absl::Status s);
  std::string PeerName(int peer) const;
  // FailPeer: the connection is unusable; pending requests fail now.
  // ClosePeer: the peer went away; pending requests fail after a grace.
  void FailPeer(int peer, absl::Status s);
  void ClosePeer(int peer, absl::Status s);
  void FailPending(int peer);
  void Progress();
  void PumpSend(int peer);
  void PumpRecv(int peer);
  void StartPayload(int peer);
  void EndPayload(int peer);
  absl::Status CheckPeer(int peer) const;

  int rank_ = 0;
  int size_ = 1;
  TcpConfig config_;
  TcpAddress self_;
  int listen_fd_ = -1;
  int rejected_ = 0;
  std::deque<Peer> peers_;  // [size]; fd < 0 when not a neighbour (a deque:
                            // Peer holds move-only members)
  std::vector<int> active_;  // connected peers
  std::vector<int> closing_;  // closed by the peer, grace not over
  absl::Duration close_grace_ = absl::Milliseconds(250);
  std::vector<Slot> slots_;
  std::vector<Request> free_;
};

// CreateTcpTransportOverMpi(rail, secret, config, neighbours, ctx)
//
// Collective over `rail` (rank in rail = peer index): listens, all-gathers
// the addresses, connects to `neighbours` and agrees on the outcome, so
// every rank fails when one does. The secret must be the same on every rank
// (drawn by one rank and broadcast by the caller).
absl::StatusOr<std::unique_ptr<TcpTransport>> CreateTcpTransportOverMpi(
    MPI_Comm rail, const TcpSecret& secret, const TcpConfig& config,
    const std::vector<int>& neighbours, const WaitContext& ctx);

}  // namespace hs::hfreduce

#endif  // HFREDUCE_TRANSPORT_TCP_TRANSPORT_H_
