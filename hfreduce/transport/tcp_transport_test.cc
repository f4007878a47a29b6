// File: hfreduce/transport/tcp_transport_test.cc
//
// TcpTransport without MPI: two (or three) transports in one process talk
// over loopback. Covers the handshake (a wrong secret, garbage and silence
// are rejected and the real peer still gets in), framing and matching
// (tags, early messages, zero bytes, messages larger than the socket
// buffers, size mismatch), and the errors (closed peer, deadline, abort).
#include "hfreduce/transport/tcp_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace hs::hfreduce {
namespace {

TcpConfig Loopback(int job_rank) {
  TcpConfig c;
  c.interface = "127.0.0.1";
  c.job_rank = job_rank;
  c.socket_buffer_bytes = 256 << 10;  // small, so big messages need many writes
  return c;
}

TcpSecret Secret(uint8_t fill) {
  TcpSecret s;
  s.fill(fill);
  return s;
}

// Connects transports [0, n) as a full mesh (each one's neighbours are all
// the others), one thread each.
std::vector<absl::Status> ConnectAll(std::vector<std::unique_ptr<TcpTransport>>& ts,
                                     const std::vector<TcpSecret>& secrets,
                                     absl::Duration timeout = absl::Seconds(10)) {
  std::vector<TcpAddress> addrs;
  for (auto& t : ts) addrs.push_back(t->address());
  std::vector<absl::Status> out(ts.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < ts.size(); ++i) {
    threads.emplace_back([&, i] {
      std::vector<int> nb;
      for (size_t j = 0; j < ts.size(); ++j) {
        if (j != i) nb.push_back(static_cast<int>(j));
      }
      WaitContext ctx{nullptr, timeout};
      out[i] = ts[i]->Connect(addrs, secrets[i], nb, ctx);
    });
  }
  for (auto& th : threads) th.join();
  return out;
}

std::vector<std::unique_ptr<TcpTransport>> ListenN(int n) {
  std::vector<std::unique_ptr<TcpTransport>> ts;
  for (int i = 0; i < n; ++i) {
    auto t = TcpTransport::Listen(i, n, Loopback(100 + i));
    EXPECT_TRUE(t.ok()) << t.status();
    ts.push_back(std::move(*t));
  }
  return ts;
}

// Polls every (transport, request) until all completed; returns the first
// error, or DeadlineExceeded after 10 s.
absl::Status WaitAll(std::vector<std::pair<TcpTransport*, Transport::Request>> reqs) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!reqs.empty()) {
    for (size_t i = 0; i < reqs.size();) {
      auto done = reqs[i].first->Test(reqs[i].second);
      if (!done.ok()) return done.status();
      if (*done) {
        reqs.erase(reqs.begin() + i);
      } else {
        ++i;
      }
    }
    if (absl::Now() > deadline) return absl::DeadlineExceededError("WaitAll");
  }
  return absl::OkStatus();
}

int RawConnect(const TcpAddress& a) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = a.ipv4;
  sa.sin_port = htons(a.port);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0) << strerror(errno);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// Reads until EOF (or the 5 s receive timeout); returns the bytes read.
std::string ReadToEof(int fd) {
  std::string out;
  char buf[256];
  for (;;) {
    ssize_t r = recv(fd, buf, sizeof(buf), 0);
    if (r <= 0) return r == 0 ? out : out + "<error>";
    out.append(buf, r);
  }
}

TEST(TcpTransport, ResolveInterface) {
  auto lo = ResolveTcpInterface("lo");
  ASSERT_TRUE(lo.ok()) << lo.status();
  EXPECT_EQ(*lo, htonl(INADDR_LOOPBACK));
  auto ip = ResolveTcpInterface("127.0.0.1");
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ(*ip, htonl(INADDR_LOOPBACK));
  auto bad = ResolveTcpInterface("nosuchif0");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("have: "), std::string::npos) << bad.status();
  EXPECT_TRUE(ResolveTcpInterface("").ok());
}

TEST(TcpTransport, SecretsDiffer) {
  auto a = RandomTcpSecret(), b = RandomTcpSecret();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

TEST(TcpTransport, MessagesMatchByTagInOrder) {
  auto ts = ListenN(2);
  auto st = ConnectAll(ts, {Secret(7), Secret(7)});
  ASSERT_TRUE(st[0].ok()) << st[0];
  ASSERT_TRUE(st[1].ok()) << st[1];
  TcpTransport* a = ts[0].get();
  TcpTransport* b = ts[1].get();

  // Early messages (no receive posted yet), two tags, same tag twice, zero
  // bytes, and 8 MiB (many partial writes with 256 KiB buffers).
  std::vector<int> x1(1000), x2(1000), x3(17);
  for (int i = 0; i < 1000; ++i) x1[i] = i, x2[i] = -i;
  for (int i = 0; i < 17; ++i) x3[i] = 1000 + i;
  std::vector<char> big(8 << 20);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + 7);
  std::vector<std::pair<TcpTransport*, Transport::Request>> reqs;
  auto send = [&](TcpTransport* t, int peer, int tag, const void* p, int64_t n) {
    auto r = t->Isend(peer, tag, p, n);
    ASSERT_TRUE(r.ok()) << r.status();
    reqs.push_back({t, *r});
  };
  send(a, 1, 5, x1.data(), 4000);
  send(a, 1, 5, x2.data(), 4000);
  send(a, 1, 6, x3.data(), 68);
  send(a, 1, 9, nullptr, 0);
  send(a, 1, 7, big.data(), big.size());
  // Let some arrive before receives exist.
  int never = 0;
  auto dummy = b->Irecv(0, 999, &never, sizeof(never));
  ASSERT_TRUE(dummy.ok());
  for (int i = 0; i < 100; ++i) ASSERT_FALSE(*b->Test(*dummy));
  b->Cancel(*dummy);

  std::vector<int> y1(1000), y2(1000), y3(17);
  std::vector<char> got(big.size());
  auto recv = [&](int tag, void* p, int64_t n) {
    auto r = b->Irecv(0, tag, p, n);
    ASSERT_TRUE(r.ok()) << r.status();
    reqs.push_back({b, *r});
  };
  recv(7, got.data(), got.size());
  recv(6, y3.data(), 68);
  recv(5, y1.data(), 4000);  // first tag-5 message
  recv(5, y2.data(), 4000);  // second
  recv(9, nullptr, 0);
  // And the other way round, receive posted first.
  int back = 0, answer = 42;
  auto rb = a->Irecv(1, 3, &back, sizeof(back));
  ASSERT_TRUE(rb.ok());
  reqs.push_back({a, *rb});
  send(b, 0, 3, &answer, sizeof(answer));

  ASSERT_TRUE(WaitAll(reqs).ok());
  EXPECT_EQ(y1, x1);
  EXPECT_EQ(y2, x2);
  EXPECT_EQ(y3, x3);
  EXPECT_EQ(got, big);
  EXPECT_EQ(back, 42);
  EXPECT_EQ(a->rejected(), 0);
}

TEST(TcpTransport, ThreePeersMesh) {
  auto ts = ListenN(3);
  auto st = ConnectAll(ts, {Secret(1), Secret(1), Secret(1)});
  for (auto& s : st) ASSERT_TRUE(s.ok()) << s;
  std::vector<std::pair<TcpTransport*, Transport::Request>> reqs;
  int in[3][3] = {}, out[3][3] = {};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      if (i == j) continue;
      out[i][j] = i * 10 + j;
      reqs.push_back({ts[i].get(), *ts[i]->Isend(j, 1, &out[i][j], 4)});
      reqs.push_back({ts[j].get(), *ts[j]->Irecv(i, 1, &in[j][i], 4)});
    }
  }
  ASSERT_TRUE(WaitAll(reqs).ok());
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      if (i != j) {
        EXPECT_EQ(in[j][i], i * 10 + j);
      }
    }
  }
}

TEST(TcpTransport, SizeMismatchIsAnError) {
  auto ts = ListenN(2);
  auto st = ConnectAll(ts, {Secret(2), Secret(2)});
  ASSERT_TRUE(st[0].ok() && st[1].ok());
  char buf[64] = {0};
  auto s = ts[0]->Isend(1, 4, buf, 33);
  auto r = ts[1]->Irecv(0, 4, buf, 32);
  ASSERT_TRUE(s.ok() && r.ok());
  absl::Status e = WaitAll({{ts[0].get(), *s}, {ts[1].get(), *r}});
  EXPECT_EQ(e.code(), absl::StatusCode::kFailedPrecondition) << e;
  EXPECT_NE(e.message().find("expected 32 bytes, got 33"), std::string::npos) << e;
  // The stream is still in sync: the next message arrives intact.
  int v = 5, w = 0;
  auto s2 = ts[0]->Isend(1, 4, &v, 4);
  auto r2 = ts[1]->Irecv(0, 4, &w, 4);
  ASSERT_TRUE(WaitAll({{ts[0].get(), *s2}, {ts[1].get(), *r2}}).ok());
  EXPECT_EQ(w, 5);
}

TEST(TcpTransport, ClosedPeerNamesRankAndAddress) {
  auto ts = ListenN(2);
  auto st = ConnectAll(ts, {Secret(3), Secret(3)});
  ASSERT_TRUE(st[0].ok() && st[1].ok());
  const std::string addr0 = ts[0]->address().ToString();
  int v = 0;
  auto r = ts[1]->Irecv(0, 1, &v, 4);
  ASSERT_TRUE(r.ok());
  // A last message, then the peer goes away (as a rank does after it
  // reported an error): the message is still delivered, even to a receive
  // posted after the close was seen.
  int last = 77, got_last = 0;
  auto sl = ts[0]->Isend(1, 2, &last, 4);
  ASSERT_TRUE(WaitAll({{ts[0].get(), *sl}}).ok());
  ts[0].reset();
  for (int i = 0; i < 20; ++i) (void)ts[1]->Test(*r);  // sees the EOF
  auto rl = ts[1]->Irecv(0, 2, &got_last, 4);
  ASSERT_TRUE(rl.ok()) << rl.status();
  ASSERT_TRUE(WaitAll({{ts[1].get(), *rl}}).ok());
  EXPECT_EQ(got_last, 77);
  absl::Status e = WaitAll({{ts[1].get(), *r}});
  EXPECT_EQ(e.code(), absl::StatusCode::kUnavailable) << e;
  EXPECT_NE(e.message().find("node 0 (rank 100, " + addr0 + ")"), std::string::npos) << e;
  EXPECT_NE(e.message().find("closed by peer"), std::string::npos) << e;
  // Later calls fail at once with the same error.
  EXPECT_FALSE(ts[1]->Isend(0, 1, &v, 4).ok());
}

// The negative test of the issue: a raw socket that sends a Hello with a
// wrong secret is answered "no" and closed; garbage and a silent socket are
// closed too; the real peer still gets in afterwards.
TEST(TcpTransport, RejectsWrongSecretAndStrangers) {
  auto t0 = TcpTransport::Listen(0, 2, Loopback(0));
  auto t1 = TcpTransport::Listen(1, 2, Loopback(1));
  ASSERT_TRUE(t0.ok() && t1.ok());
  std::vector<TcpAddress> addrs = {(*t0)->address(), (*t1)->address()};
  const TcpSecret secret = Secret(0x5a);
  absl::Status s0;
  std::thread acceptor([&] {
    WaitContext ctx{nullptr, absl::Seconds(20)};
    s0 = (*t0)->Connect(addrs, secret, {1}, ctx);
  });

  // 1. Right format, wrong secret: a negative Ack, then EOF.
  int fd = RawConnect(addrs[0]);
  TcpHello bad{kTcpHelloMagic, kTcpVersion, 1, 0, 0, Secret(0x5b)};
  ASSERT_EQ(send(fd, &bad, sizeof(bad), 0), static_cast<ssize_t>(sizeof(bad)));
  std::string answer = ReadToEof(fd);
  close(fd);
  ASSERT_EQ(answer.size(), sizeof(TcpAck));
  TcpAck ack;
  std::memcpy(&ack, answer.data(), sizeof(ack));
  EXPECT_EQ(ack.magic, kTcpAckMagic);
  EXPECT_EQ(ack.ok, 0);

  // 2. Not our protocol at all: closed without an answer (a reset when
  // bytes beyond the Hello were left unread).
  fd = RawConnect(addrs[0]);
  const char junk[] = "GET / HTTP/1.0\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxx";
  ASSERT_GT(send(fd, junk, sizeof(junk), 0), 0);
  answer = ReadToEof(fd);
  EXPECT_TRUE(answer.empty() || answer == "<error>") << answer;
  close(fd);

  // 3. Right secret but claiming to be a peer that is not a neighbour.
  fd = RawConnect(addrs[0]);
  TcpHello stranger{kTcpHelloMagic, kTcpVersion, 0, 0, 0, secret};
  ASSERT_EQ(send(fd, &stranger, sizeof(stranger), 0), static_cast<ssize_t>(sizeof(stranger)));
  answer = ReadToEof(fd);
  close(fd);
  ASSERT_EQ(answer.size(), sizeof(TcpAck));
  std::memcpy(&ack, answer.data(), sizeof(ack));
  EXPECT_EQ(ack.ok, 0);

  // 4. The real peer.
  WaitContext ctx{nullptr, absl::Seconds(10)};
  absl::Status s1 = (*t1)->Connect(addrs, secret, {0}, ctx);
  acceptor.join();
  ASSERT_TRUE(s0.ok()) << s0;
  ASSERT_TRUE(s1.ok()) << s1;
  EXPECT_EQ((*t0)->rejected(), 3);
  int v = 11, w = 0;
  auto sr = (*t1)->Isend(0, 2, &v, 4);
  auto rr = (*t0)->Irecv(1, 2, &w, 4);
  ASSERT_TRUE(WaitAll({{t1->get(), *sr}, {t0->get(), *rr}}).ok());
  EXPECT_EQ(w, 11);
  // After setup the listener is closed: nobody else can connect.
  int late = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = addrs[0].ipv4;
  sa.sin_port = htons(addrs[0].port);
  EXPECT_NE(connect(late, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  close(late);
}

// A dialler holding another job's secret is refused and says so.
TEST(TcpTransport, DiallerWithWrongSecretFails) {
  auto ts = ListenN(2);
  auto st = ConnectAll(ts, {Secret(1), Secret(2)}, absl::Milliseconds(1500));
  EXPECT_EQ(st[1].code(), absl::StatusCode::kPermissionDenied) << st[1];
  EXPECT_NE(st[1].message().find("node 0 (rank 100, 127.0.0.1:"), std::string::npos) << st[1];
  EXPECT_EQ(st[0].code(), absl::StatusCode::kDeadlineExceeded) << st[0];
  EXPECT_NE(st[0].message().find("accept node 1 (rank 101"), std::string::npos) << st[0];
  EXPECT_EQ(ts[0]->rejected(), 1);
}

TEST(TcpTransport, SilentConnectionTimesOut) {
  auto t = TcpTransport::Listen(0, 2, Loopback(0));
  ASSERT_TRUE(t.ok());
  TcpAddress missing;
  missing.rank = 9;
  std::vector<TcpAddress> addrs = {(*t)->address(), missing};
  int fd = RawConnect(addrs[0]);  // connects, never speaks
  WaitContext ctx{nullptr, absl::Milliseconds(600)};
  absl::Time t0 = absl::Now();
  absl::Status s = (*t)->Connect(addrs, Secret(1), {1}, ctx);
  EXPECT_LT(absl::Now() - t0, absl::Seconds(3));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_NE(s.message().find("still waiting to accept node 1 (rank 9"), std::string::npos) << s;
  EXPECT_EQ((*t)->rejected(), 1);  // the silent one, dropped at the deadline
  close(fd);
}

TEST(TcpTransport, AbortStopsConnect) {
  auto t = TcpTransport::Listen(1, 2, Loopback(1));
  ASSERT_TRUE(t.ok());
  // Peer 0 "listens" on a port nobody serves: the dial keeps retrying.
  TcpAddress nowhere = (*t)->address();
  nowhere.port = 1;
  std::atomic<bool> abort{false};
  std::thread raiser([&] {
    absl::SleepFor(absl::Milliseconds(200));
    abort.store(true);
  });
  WaitContext ctx{&abort, absl::Seconds(30)};
  absl::Time t0 = absl::Now();
  absl::Status s = (*t)->Connect({nowhere, (*t)->address()}, Secret(1), {0}, ctx);
  raiser.join();
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
}

}  // namespace
}  // namespace hs::hfreduce
