// File: hfreduce/transport/tcp_transport.cc — see tcp_transport.h.
#include "hfreduce/transport/tcp_transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "haiscale/logging.h"
#include "haiscale/status.h"
#include "hfreduce/transport/mpi_transport.h"

namespace hs::hfreduce {
namespace {

// A peer that connected but has not sent a valid Hello within this time is
// dropped (it cannot hold the listener up for the whole setup timeout).
constexpr absl::Duration kHandshakeTimeout = absl::Seconds(5);
// The largest message the framing accepts (a corrupt length fails early).
constexpr int64_t kMaxMessageBytes = int64_t{1} << 40;

std::string Errno(int err) { return std::string(strerror(err)); }

std::string Ipv4String(uint32_t ipv4_net) {
  char text[INET_ADDRSTRLEN] = {0};
  in_addr a;
  a.s_addr = ipv4_net;
  inet_ntop(AF_INET, &a, text, sizeof(text));
  return text;
}

std::string SockaddrString(const sockaddr_in& sa) {
  return absl::StrCat(Ipv4String(sa.sin_addr.s_addr), ":", ntohs(sa.sin_port));
}

// Socket options every data socket gets: no Nagle (the tree sends a small
// control message before its data), large buffers (bandwidth x delay).
void TuneSocket(int fd, int64_t buffer_bytes) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (buffer_bytes > 0) {
    int b = static_cast<int>(std::min<int64_t>(buffer_bytes, 1 << 30));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &b, sizeof(b));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &b, sizeof(b));
  }
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

// Constant-time comparison, so the time to reject does not leak how many
// leading bytes of a guessed secret were right.
bool SecretEqual(const TcpSecret& a, const TcpSecret& b) {
  uint8_t diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ b[i];
  return diff == 0;
}

}  // namespace

absl::StatusOr<TcpSecret> RandomTcpSecret() {
  TcpSecret s{};
  size_t got = 0;
  while (got < s.size()) {
    ssize_t n = getrandom(s.data() + got, s.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("getrandom: ", Errno(errno)));
    }
    got += static_cast<size_t>(n);
  }
  return s;
}

std::string TcpAddress::ToString() const {
  return absl::StrCat(Ipv4String(ipv4), ":", port);
}

absl::StatusOr<uint32_t> ResolveTcpInterface(const std::string& spec) {
  in_addr a;
  if (!spec.empty() && inet_pton(AF_INET, spec.c_str(), &a) == 1) return a.s_addr;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) {
    return absl::InternalError(absl::StrCat("getifaddrs: ", Errno(errno)));
  }
  std::vector<std::string> seen;
  uint32_t found = 0;
  bool have = false;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    const uint32_t ip = reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr;
    seen.push_back(absl::StrCat(i->ifa_name, "=", Ipv4String(ip)));
    if (have) continue;
    if (spec.empty()) {
      if ((i->ifa_flags & IFF_UP) && !(i->ifa_flags & IFF_LOOPBACK)) {
        found = ip;
        have = true;
      }
    } else if (spec == i->ifa_name) {
      found = ip;
      have = true;
    }
  }
  freeifaddrs(list);
  if (have) return found;
  if (spec.empty()) return htonl(INADDR_LOOPBACK);
  return absl::NotFoundError(absl::StrCat(
      "tcp interface '", spec, "' is neither an IPv4 address nor an interface with "
      "an IPv4 address (have: ", absl::StrJoin(seen, ", "), ")"));
}

// ----------------------------------------------------------------- Setup ---

absl::StatusOr<std::unique_ptr<TcpTransport>> TcpTransport::Listen(
    int rank, int size, const TcpConfig& config) {
  if (rank < 0 || rank >= size) {
    return absl::InvalidArgumentError(absl::StrCat("tcp: bad rank ", rank, "/", size));
  }
  if (config.port < 0 || config.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("tcp: bad port ", config.port));
  }
  std::unique_ptr<TcpTransport> t(new TcpTransport(rank, size, config));
  HS_ASSIGN_OR_RETURN(uint32_t ip, ResolveTcpInterface(config.interface));
  t->self_.ipv4 = ip;
  t->self_.rank = config.job_rank;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("tcp: socket: ", Errno(errno)));
  t->listen_fd_ = fd;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  TuneSocket(fd, config.socket_buffer_bytes);  // inherited by accepted sockets
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = ip;
  sa.sin_port = htons(static_cast<uint16_t>(config.port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    return absl::UnavailableError(absl::StrCat(
        "tcp: bind ", SockaddrString(sa), " (interface '", config.interface,
        "'): ", Errno(errno)));
  }
  if (listen(fd, 128) != 0) {
    return absl::UnavailableError(absl::StrCat("tcp: listen: ", Errno(errno)));
  }
  socklen_t len = sizeof(sa);
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  t->self_.port = ntohs(sa.sin_port);
  return t;
}

TcpTransport::~TcpTransport() {
  CloseFd(&listen_fd_);
  for (Peer& p : peers_) CloseFd(&p.fd);
}

std::string TcpTransport::PeerName(int peer) const {
  if (peer < 0 || peer >= static_cast<int>(peers_.size())) {
    return absl::StrCat("node ", peer);
  }
  const TcpAddress& a = peers_[peer].addr;
  return absl::StrCat("node ", peer, " (rank ", a.rank, ", ", a.ToString(), ")");
}

absl::Status TcpTransport::Connect(const std::vector<TcpAddress>& addresses,
                                   const TcpSecret& secret,
                                   const std::vector<int>& neighbours,
                                   const WaitContext& ctx) {
  if (static_cast<int>(addresses.size()) != size_) {
    return absl::InvalidArgumentError("tcp: address table size != peer count");
  }
  peers_.clear();
  peers_.resize(size_);
  for (int p = 0; p < size_; ++p) peers_[p].addr = addresses[p];

  // Dialled peers (lower index) and accepted ones (higher index).
  struct Dial {
    int peer = -1;
    int fd = -1;
    enum { kIdle, kConnecting, kHello, kAck } phase = kIdle;
    absl::Time retry_at = absl::InfinitePast();
    TcpHello hello;
    TcpAck ack;
    int64_t off = 0;
  };
  struct Pending {  // accepted, handshake not complete
    int fd = -1;
    std::string from;
    absl::Time until;
    TcpHello hello;
    int64_t got = 0;
  };
  std::vector<Dial> dials;
  std::vector<bool> want_accept(size_, false);
  int accepts_left = 0;
  for (int p : neighbours) {
    if (p < 0 || p >= size_ || p == rank_) {
      return absl::InvalidArgumentError(absl::StrCat("tcp: bad neighbour ", p));
    }
    if (p < rank_) {
      if (std::none_of(dials.begin(), dials.end(), [&](const Dial& d) { return d.peer == p; })) {
        Dial d;
        d.peer = p;
        d.hello = {kTcpHelloMagic, kTcpVersion, rank_, p, 0, secret};
        dials.push_back(d);
      }
    } else if (!want_accept[p]) {
      want_accept[p] = true;
      ++accepts_left;
    }
  }
  std::vector<Pending> pending;
  absl::Status status;
  auto reject = [&](Pending& c, const std::string& why, bool nack) {
    HS_LOG(WARN) << "hfreduce tcp: node " << rank_ << " rejected a connection from "
                 << c.from << ": " << why;
    if (nack) {
      TcpAck a{kTcpAckMagic, rank_, 0};
      (void)!send(c.fd, &a, sizeof(a), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    ++rejected_;
    CloseFd(&c.fd);
  };
  const absl::Time deadline = absl::Now() + ctx.timeout;
  close_grace_ = std::min(absl::Milliseconds(250), ctx.timeout / 4);
  auto remaining = [&] {
    std::vector<std::string> out;
    for (const Dial& d : dials) {
      if (d.peer >= 0) out.push_back(absl::StrCat("dial ", PeerName(d.peer)));
    }
    for (int p = 0; p < size_; ++p) {
      if (want_accept[p]) out.push_back(absl::StrCat("accept ", PeerName(p)));
    }
    return absl::StrJoin(out, ", ");
  };

  while (status.ok()) {
    const bool dials_left = std::any_of(dials.begin(), dials.end(),
                                        [](const Dial& d) { return d.peer >= 0; });
    if (!dials_left && accepts_left == 0) break;
    absl::Status abort = CheckAbort(ctx);
    if (!abort.ok()) {
      status = abort;
      break;
    }
    const absl::Time now = absl::Now();
    if (now > deadline) {
      status = absl::DeadlineExceededError(absl::StrCat(
          "hfreduce tcp: node ", rank_, " (", self_.ToString(), ") timed out after ",
          absl::FormatDuration(ctx.timeout), " connecting: still waiting to ",
          remaining()));
      break;
    }
    // Start (or restart) connects that are due.
    for (Dial& d : dials) {
      if (d.peer < 0 || d.phase != Dial::kIdle || now < d.retry_at) continue;
      d.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (d.fd < 0) {
        status = absl::InternalError(absl::StrCat("tcp: socket: ", Errno(errno)));
        break;
      }
      TuneSocket(d.fd, config_.socket_buffer_bytes);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_addr.s_addr = peers_[d.peer].addr.ipv4;
      sa.sin_port = htons(peers_[d.peer].addr.port);
      int rc = connect(d.fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
      if (rc != 0 && errno != EINPROGRESS) {
        HS_LOG(INFO) << "hfreduce tcp: connect to " << PeerName(d.peer) << ": "
                     << Errno(errno) << " (retrying)";
        CloseFd(&d.fd);
        d.retry_at = now + absl::Milliseconds(50);
        continue;
      }
      d.phase = Dial::kConnecting;
      d.off = 0;
    }
    if (!status.ok()) break;

    std::vector<pollfd> fds;
    std::vector<std::pair<int, int>> who;  // (kind 0 listen / 1 dial / 2 pending, index)
    if (accepts_left > 0) {
      fds.push_back({listen_fd_, POLLIN, 0});
      who.push_back({0, 0});
    }
    for (size_t i = 0; i < dials.size(); ++i) {
      const Dial& d = dials[i];
      if (d.peer < 0 || d.fd < 0) continue;
      fds.push_back({d.fd, static_cast<short>(d.phase == Dial::kAck ? POLLIN : POLLOUT), 0});
      who.push_back({1, static_cast<int>(i)});
    }
    for (size_t i = 0; i < pending.size(); ++i) {
      fds.push_back({pending[i].fd, POLLIN, 0});
      who.push_back({2, static_cast<int>(i)});
    }
    int n = poll(fds.data(), fds.size(), 20);
    if (n < 0 && errno != EINTR) {
      status = absl::InternalError(absl::StrCat("tcp: poll: ", Errno(errno)));
      break;
    }
    for (size_t k = 0; k < fds.size() && status.ok(); ++k) {
      if (fds[k].revents == 0) continue;
      auto [kind, idx] = who[k];
      if (kind == 0) {  // new connections
        for (;;) {
          sockaddr_in from{};
          socklen_t flen = sizeof(from);
          int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&from), &flen,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          TuneSocket(fd, config_.socket_buffer_bytes);
          Pending c;
          c.fd = fd;
          c.from = SockaddrString(from);
          c.until = std::min(deadline, absl::Now() + kHandshakeTimeout);
          pending.push_back(c);
        }
      } else if (kind == 1) {  // a connection we dial
        Dial& d = dials[idx];
        if (d.phase == Dial::kConnecting) {
          int err = 0;
          socklen_t elen = sizeof(err);
          getsockopt(d.fd, SOL_SOCKET, SO_ERROR, &err, &elen);
          if (err != 0) {
            HS_LOG(INFO) << "hfreduce tcp: connect to " << PeerName(d.peer) << ": "
                         << Errno(err) << " (retrying)";
            CloseFd(&d.fd);
            d.phase = Dial::kIdle;
            d.retry_at = absl::Now() + absl::Milliseconds(50);
            continue;
          }
          d.phase = Dial::kHello;
        }
        if (d.phase == Dial::kHello) {
          ssize_t w = send(d.fd, reinterpret_cast<char*>(&d.hello) + d.off,
                           sizeof(d.hello) - d.off, MSG_NOSIGNAL);
          if (w < 0 && errno != EAGAIN && errno != EINTR) {
            status = absl::UnavailableError(absl::StrCat(
                "hfreduce tcp: node ", rank_, " sending handshake to ",
                PeerName(d.peer), ": ", Errno(errno)));
            break;
          }
          if (w > 0) d.off += w;
          if (d.off == static_cast<int64_t>(sizeof(d.hello))) {
            d.phase = Dial::kAck;
            d.off = 0;
          }
        } else if (d.phase == Dial::kAck) {
          ssize_t r = recv(d.fd, reinterpret_cast<char*>(&d.ack) + d.off,
                           sizeof(d.ack) - d.off, 0);
          if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            status = absl::PermissionDeniedError(absl::StrCat(
                "hfreduce tcp: node ", rank_, ": ", PeerName(d.peer),
                " closed the connection during the handshake (",
                r == 0 ? "no answer" : Errno(errno),
                "): it is not a peer of this job, or holds another secret"));
            break;
          }
          if (r > 0) d.off += r;
          if (d.off == static_cast<int64_t>(sizeof(d.ack))) {
            if (d.ack.magic != kTcpAckMagic || d.ack.from != d.peer || d.ack.ok != 1) {
              status = absl::PermissionDeniedError(absl::StrCat(
                  "hfreduce tcp: node ", rank_, ": ", PeerName(d.peer),
                  " rejected the handshake (different job secret or peer index)"));
              break;
            }
            Peer& p = peers_[d.peer];
            p.fd = d.fd;
            d.fd = -1;
            active_.push_back(d.peer);
            d.peer = -1;
          }
        }
      } else {  // a connection we accepted: read and check its Hello
        Pending& c = pending[idx];
        ssize_t r = recv(c.fd, reinterpret_cast<char*>(&c.hello) + c.got,
                         sizeof(c.hello) - c.got, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
          reject(c, r == 0 ? "closed before completing the handshake" : Errno(errno),
                 false);
          continue;
        }
        if (r > 0) c.got += r;
        if (c.got == static_cast<int64_t>(sizeof(c.hello))) {
          const TcpHello& h = c.hello;
          if (h.magic != kTcpHelloMagic) {
            reject(c, "not an HFReduce handshake (bad magic)", false);
          } else if (h.version != kTcpVersion) {
            reject(c, absl::StrCat("protocol version ", h.version, " != ", kTcpVersion), true);
          } else if (!SecretEqual(h.secret, secret)) {
            reject(c, "wrong job secret (another job, or not HFReduce)", true);
          } else if (h.to != rank_ || h.from < 0 || h.from >= size_ ||
                     !want_accept[h.from]) {
            reject(c, absl::StrCat("unexpected peer index ", h.from, " -> ", h.to,
                                   " (not a pending neighbour)"), true);
          } else {
            TcpAck a{kTcpAckMagic, rank_, 1};
            if (send(c.fd, &a, sizeof(a), MSG_NOSIGNAL) != sizeof(a)) {
              reject(c, absl::StrCat("could not answer: ", Errno(errno)), false);
              continue;
            }
            Peer& p = peers_[h.from];
            p.fd = c.fd;
            c.fd = -1;
            want_accept[h.from] = false;
            --accepts_left;
            active_.push_back(h.from);
          }
        }
      }
    }
    // Drop closed / handshaken entries and silent connections.
    const absl::Time after = absl::Now();
    for (Pending& c : pending) {
      if (c.fd >= 0 && after > c.until) {
        reject(c, "no handshake in time", false);
      }
    }
    pending.erase(std::remove_if(pending.begin(), pending.end(),
                                 [](const Pending& c) { return c.fd < 0; }),
                  pending.end());
  }
  for (Dial& d : dials) CloseFd(&d.fd);
  for (Pending& c : pending) CloseFd(&c.fd);
  CloseFd(&listen_fd_);  // nobody else gets in after setup
  if (!status.ok()) {
    for (int p : active_) CloseFd(&peers_[p].fd);
    active_.clear();
    return status;
  }
  std::sort(active_.begin(), active_.end());
  return absl::OkStatus();
}

// ------------------------------------------------------------ Requests ---

absl::StatusOr<Transport::Request> TcpTransport::Alloc(const Slot& slot) {
  Request id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
    slots_[id] = slot;
  } else {
    slots_.push_back(slot);
    id = static_cast<Request>(slots_.size() - 1);
  }
  slots_[id].used = true;
  return id;
}

void TcpTransport::Finish(Request r, absl::Status s) {
  Slot& slot = slots_[r];
  slot.done = true;
  slot.status = std::move(s);
}

absl::Status TcpTransport::CheckPeer(int peer) const {
  if (peer < 0 || peer >= static_cast<int>(peers_.size())) {
    return absl::InvalidArgumentError(absl::StrCat("tcp: no peer ", peer));
  }
  const Peer& p = peers_[peer];
  if (!p.error.ok() && absl::Now() >= p.fail_at) return p.error;
  if (!p.error.ok()) return absl::OkStatus();  // closing: fails at fail_at
  if (p.fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("tcp: node ", rank_, " is not connected to ", PeerName(peer)));
  }
  return absl::OkStatus();
}

void TcpTransport::ClosePeer(int peer, absl::Status s) {
  Peer& p = peers_[peer];
  if (!p.error.ok()) return;
  p.error = absl::Status(s.code(), absl::StrCat("hfreduce tcp: node ", rank_, " <-> ",
                                                PeerName(peer), ": ", s.message()));
  HS_LOG(WARN) << p.error.message();
  CloseFd(&p.fd);
  active_.erase(std::remove(active_.begin(), active_.end(), peer), active_.end());
  // A half-read message will never complete.
  if (p.in_payload && p.recv_target >= 0) Finish(p.recv_target, p.error);
  if (p.in_payload && p.recv_spill != nullptr) {
    Unexpected* u = p.recv_spill;
    if (u->bound >= 0) Finish(u->bound, p.error);
    p.unexpected.erase(std::find_if(p.unexpected.begin(), p.unexpected.end(),
                                    [&](const auto& e) { return e.get() == u; }));
  }
  p.in_payload = false;
  p.recv_target = -1;
  p.recv_spill = nullptr;
  p.fail_at = absl::Now() + close_grace_;
  closing_.push_back(peer);
}

void TcpTransport::FailPeer(int peer, absl::Status s) {
  Peer& p = peers_[peer];
  if (!p.error.ok()) {
    p.fail_at = absl::InfinitePast();
    FailPending(peer);
    return;
  }
  p.error = absl::Status(s.code(), absl::StrCat("hfreduce tcp: node ", rank_, " <-> ",
                                                PeerName(peer), ": ", s.message()));
  HS_LOG(ERROR) << p.error.message();
  CloseFd(&p.fd);
  active_.erase(std::remove(active_.begin(), active_.end(), peer), active_.end());
  p.fail_at = absl::InfinitePast();
  FailPending(peer);
}

void TcpTransport::FailPending(int peer) {
  Peer& p = peers_[peer];
  for (Request r : p.sends) Finish(r, p.error);
  for (Request r : p.recvs) Finish(r, p.error);
  if (p.recv_target >= 0) Finish(p.recv_target, p.error);
  for (auto& u : p.unexpected) {
    if (u->bound >= 0) Finish(u->bound, p.error);
  }
  p.sends.clear();
  p.recvs.clear();
  p.recv_target = -1;
  p.recv_spill = nullptr;
  // Complete early messages stay: a receive posted before fail_at may
  // still take them.
  for (auto it = p.unexpected.begin(); it != p.unexpected.end();) {
    it = (*it)->complete && (*it)->bound == -1 ? it + 1 : p.unexpected.erase(it);
  }
}

absl::StatusOr<Transport::Request> TcpTransport::Isend(int peer, int tag,
                                                       const void* buf,
                                                       int64_t bytes) {
  HS_RETURN_IF_ERROR(CheckPeer(peer));
  if (bytes < 0 || bytes > kMaxMessageBytes) {
    return absl::InvalidArgumentError(absl::StrCat("tcp: bad message size ", bytes));
  }
  Slot slot;
  slot.peer = peer;
  slot.tag = tag;
  slot.buf = static_cast<char*>(const_cast<void*>(buf));
  slot.bytes = bytes;
  HS_ASSIGN_OR_RETURN(Request r, Alloc(slot));
  Peer& p = peers_[peer];
  p.sends.push_back(r);
  if (p.sends.size() == 1) PumpSend(peer);  // eager: most sends finish here
  return r;
}

absl::StatusOr<Transport::Request> TcpTransport::Irecv(int peer, int tag,
                                                       void* buf, int64_t bytes) {
  HS_RETURN_IF_ERROR(CheckPeer(peer));
  Slot slot;
  slot.is_recv = true;
  slot.peer = peer;
  slot.tag = tag;
  slot.buf = static_cast<char*>(buf);
  slot.bytes = bytes;
  HS_ASSIGN_OR_RETURN(Request r, Alloc(slot));
  Peer& p = peers_[peer];
  // A message that came early matches the first posted receive.
  for (auto it = p.unexpected.begin(); it != p.unexpected.end(); ++it) {
    Unexpected& u = **it;
    if (u.tag != tag || u.bound != -1) continue;
    if (static_cast<int64_t>(u.data.size()) != bytes) {
      Finish(r, absl::FailedPreconditionError(absl::StrCat(
                    "message size mismatch from ", PeerName(peer), " tag ", tag,
                    ": expected ", bytes, " bytes, got ", u.data.size())));
      if (u.complete) p.unexpected.erase(it); else u.bound = -2;  // discard
    } else if (u.complete) {
      if (bytes > 0) std::memcpy(buf, u.data.data(), bytes);
      Finish(r, absl::OkStatus());
      p.unexpected.erase(it);
    } else {
      u.bound = r;
    }
    return r;
  }
  p.recvs.push_back(r);
  return r;
}

absl::StatusOr<bool> TcpTransport::Test(Request request) {
  if (request < 0 || request >= static_cast<Request>(slots_.size()) ||
      !slots_[request].used) {
    return absl::InvalidArgumentError(absl::StrCat("tcp: bad request ", request));
  }
  if (!slots_[request].done) Progress();
  Slot& slot = slots_[request];
  if (!slot.done) return false;
  absl::Status s = std::move(slot.status);
  slot = Slot();
  free_.push_back(request);
  if (!s.ok()) return s;
  return true;
}

void TcpTransport::Cancel(Request request) {
  if (request < 0 || request >= static_cast<Request>(slots_.size()) ||
      !slots_[request].used) {
    return;
  }
  Slot& slot = slots_[request];
  if (!slot.done && slot.peer >= 0 && slot.peer < static_cast<int>(peers_.size())) {
    Peer& p = peers_[slot.peer];
    bool broken = false;
    if (!slot.is_recv) {
      if (!p.sends.empty() && p.sends.front() == request && p.send_off > 0) {
        broken = true;  // part of it is on the wire
      } else {
        p.sends.erase(std::remove(p.sends.begin(), p.sends.end(), request), p.sends.end());
      }
    } else if (p.recv_target == request) {
      broken = true;  // its payload is being read into the caller's buffer
    } else {
      p.recvs.erase(std::remove(p.recvs.begin(), p.recvs.end(), request), p.recvs.end());
      for (auto& u : p.unexpected) {
        if (u->bound == request) u->bound = -2;
      }
    }
    if (broken) {
      FailPeer(slot.peer, absl::CancelledError("a transfer was cancelled mid-message"));
    }
  }
  slots_[request] = Slot();
  free_.push_back(request);
}

// ------------------------------------------------------------- Progress ---

void TcpTransport::Progress() {
  if (!closing_.empty()) {
    const absl::Time now = absl::Now();
    for (size_t i = 0; i < closing_.size();) {
      const int peer = closing_[i];
      if (now >= peers_[peer].fail_at) {
        FailPending(peer);
        closing_.erase(closing_.begin() + i);
      } else {
        ++i;
      }
    }
  }
  if (active_.empty()) return;
  pollfd fds[64];
  int ids[64];
  int n = 0;
  for (int peer : active_) {
    if (n == 64) break;  // at most 4 tree and 2 ring neighbours
    const Peer& p = peers_[peer];
    fds[n] = {p.fd, static_cast<short>(POLLIN | (p.sends.empty() ? 0 : POLLOUT)), 0};
    ids[n++] = peer;
  }
  if (poll(fds, n, 0) <= 0) return;
  for (int i = 0; i < n; ++i) {
    const short ev = fds[i].revents;
    if (ev == 0) continue;
    if (ev & (POLLIN | POLLHUP | POLLERR)) PumpRecv(ids[i]);
    if ((ev & POLLOUT) && peers_[ids[i]].fd >= 0) PumpSend(ids[i]);
  }
}

void TcpTransport::PumpSend(int peer) {
  Peer& p = peers_[peer];
  while (!p.sends.empty() && p.fd >= 0) {
    Slot& s = slots_[p.sends.front()];
    constexpr int64_t kFrame = sizeof(Frame);
    if (p.send_off == 0) p.send_frame = Frame{s.tag, 0, s.bytes};
    const int64_t total = kFrame + s.bytes;
    iovec iov[2];
    int niov = 0;
    if (p.send_off < kFrame) {
      iov[niov++] = {reinterpret_cast<char*>(&p.send_frame) + p.send_off,
                     static_cast<size_t>(kFrame - p.send_off)};
      if (s.bytes > 0) iov[niov++] = {s.buf, static_cast<size_t>(s.bytes)};
    } else {
      iov[niov++] = {s.buf + (p.send_off - kFrame),
                     static_cast<size_t>(total - p.send_off)};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = niov;
    ssize_t w = sendmsg(p.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      ClosePeer(peer, absl::UnavailableError(absl::StrCat(
                          "connection lost (send: ", Errno(errno), ")")));
      return;
    }
    p.send_off += w;
    if (p.send_off == total) {
      Finish(p.sends.front(), absl::OkStatus());
      p.sends.pop_front();
      p.send_off = 0;
    }
  }
}

void TcpTransport::StartPayload(int peer) {
  Peer& p = peers_[peer];
  const Frame& f = p.recv_frame;
  p.in_payload = true;
  p.payload_got = 0;
  p.recv_target = -1;
  p.recv_spill = nullptr;
  for (auto it = p.recvs.begin(); it != p.recvs.end(); ++it) {
    Slot& s = slots_[*it];
    if (s.tag != f.tag) continue;
    const Request r = *it;
    p.recvs.erase(it);
    if (s.bytes == f.bytes) {
      p.recv_target = r;
      return;
    }
    Finish(r, absl::FailedPreconditionError(absl::StrCat(
                  "message size mismatch from ", PeerName(peer), " tag ", f.tag,
                  ": expected ", s.bytes, " bytes, got ", f.bytes)));
    auto u = std::make_unique<Unexpected>();
    u->tag = f.tag;
    u->data.resize(f.bytes);
    u->bound = -2;  // read and drop
    p.recv_spill = u.get();
    p.unexpected.push_back(std::move(u));
    return;
  }
  auto u = std::make_unique<Unexpected>();
  u->tag = f.tag;
  u->data.resize(f.bytes);
  p.recv_spill = u.get();
  p.unexpected.push_back(std::move(u));
}

void TcpTransport::EndPayload(int peer) {
  Peer& p = peers_[peer];
  if (p.recv_target >= 0) {
    Finish(p.recv_target, absl::OkStatus());
  } else if (p.recv_spill != nullptr) {
    Unexpected* u = p.recv_spill;
    u->complete = true;
    if (u->bound != -1) {
      if (u->bound >= 0) {
        Slot& s = slots_[u->bound];
        if (s.bytes > 0) std::memcpy(s.buf, u->data.data(), s.bytes);
        Finish(u->bound, absl::OkStatus());
      }
      p.unexpected.erase(std::find_if(p.unexpected.begin(), p.unexpected.end(),
                                      [&](const auto& e) { return e.get() == u; }));
    }
  }
  p.in_payload = false;
  p.frame_got = 0;
  p.recv_target = -1;
  p.recv_spill = nullptr;
}

void TcpTransport::PumpRecv(int peer) {
  Peer& p = peers_[peer];
  while (p.fd >= 0) {
    char* dst;
    int64_t want;
    if (!p.in_payload) {
      dst = reinterpret_cast<char*>(&p.recv_frame) + p.frame_got;
      want = static_cast<int64_t>(sizeof(Frame)) - p.frame_got;
    } else {
      char* base = p.recv_target >= 0 ? slots_[p.recv_target].buf
                                      : p.recv_spill->data.data();
      dst = base + p.payload_got;
      want = p.recv_frame.bytes - p.payload_got;
    }
    ssize_t r = recv(p.fd, dst, static_cast<size_t>(want), MSG_DONTWAIT);
    if (r == 0) {
      ClosePeer(peer, absl::UnavailableError("connection closed by peer"));
      return;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      ClosePeer(peer, absl::UnavailableError(absl::StrCat(
                          "connection lost (recv: ", Errno(errno), ")")));
      return;
    }
    if (!p.in_payload) {
      p.frame_got += r;
      if (p.frame_got < static_cast<int64_t>(sizeof(Frame))) continue;
      if (p.recv_frame.bytes < 0 || p.recv_frame.bytes > kMaxMessageBytes) {
        FailPeer(peer, absl::DataLossError(absl::StrCat(
                           "corrupt frame (length ", p.recv_frame.bytes, ")")));
        return;
      }
      StartPayload(peer);
      if (p.recv_frame.bytes == 0) EndPayload(peer);
    } else {
      p.payload_got += r;
      if (p.payload_got == p.recv_frame.bytes) EndPayload(peer);
    }
  }
}

// ------------------------------------------------------------ Bootstrap ---

absl::StatusOr<std::unique_ptr<TcpTransport>> CreateTcpTransportOverMpi(
    MPI_Comm rail, const TcpSecret& secret, const TcpConfig& config,
    const std::vector<int>& neighbours, const WaitContext& ctx) {
  int rank = 0, size = 1;
  MPI_Comm_rank(rail, &rank);
  MPI_Comm_size(rail, &size);
  auto listened = TcpTransport::Listen(rank, size, config);
  int ok = listened.ok(), all_ok = 0;
  HS_RETURN_IF_ERROR(MpiErrorToStatus(
      MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, rail), "MPI_Allreduce(tcp listen)"));
  if (!listened.ok()) return listened.status();
  if (!all_ok) {
    return absl::UnavailableError("tcp: another node of this rail could not listen");
  }
  std::unique_ptr<TcpTransport> t = std::move(*listened);
  std::vector<TcpAddress> addrs(size);
  const TcpAddress me = t->address();
  HS_RETURN_IF_ERROR(MpiErrorToStatus(
      MPI_Allgather(&me, sizeof(TcpAddress), MPI_BYTE, addrs.data(),
                    sizeof(TcpAddress), MPI_BYTE, rail),
      "MPI_Allgather(tcp addresses)"));
  absl::Status s = t->Connect(addrs, secret, neighbours, ctx);
  ok = s.ok();
  HS_RETURN_IF_ERROR(MpiErrorToStatus(
      MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, rail), "MPI_Allreduce(tcp connect)"));
  if (!s.ok()) return s;
  if (!all_ok) {
    return absl::UnavailableError(
        "tcp: another node of this rail failed to connect (see its error)");
  }
  return t;
}

}  // namespace hs::hfreduce
