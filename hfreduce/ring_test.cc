// File: hfreduce/ring_test.cc — RingPipe over an in-memory transport whose
// sends move only when the sender tests a request, as a large MPI message
// (rendezvous) or a TCP send bigger than the socket's buffer does.
#include "hfreduce/ring.h"

#include <atomic>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace hs::hfreduce {
namespace {

// Two peers sharing one mailbox. A send is copied into the peer's oldest
// matching receive only inside the sender's Test (its progress); a receive
// completes once its bytes landed.
class Mailbox {
 public:
  struct Op {
    int from = 0, to = 0, tag = 0;
    const void* send_buf = nullptr;
    void* recv_buf = nullptr;
    int64_t bytes = 0;
    bool is_recv = false, done = false;
  };

  int64_t Add(Op op) {
    std::lock_guard<std::mutex> lock(mu_);
    ops_.push_back(op);
    return static_cast<int64_t>(ops_.size()) - 1;
  }

  // Progress(me): delivers me's sends that have a matching receive, in order.
  void Progress(int me) {
    std::lock_guard<std::mutex> lock(mu_);
    for (Op& s : ops_) {
      if (s.is_recv || s.done || s.from != me) continue;
      Op* r = nullptr;
      for (Op& o : ops_) {
        if (o.is_recv && !o.done && o.from == s.from && o.to == s.to && o.tag == s.tag) {
          r = &o;
          break;
        }
      }
      if (r == nullptr) break;  // the non-overtaking rule: later sends wait too
      std::memcpy(r->recv_buf, s.send_buf, static_cast<size_t>(s.bytes));
      r->done = s.done = true;
    }
  }

  bool Done(int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    return ops_[static_cast<size_t>(id)].done;
  }

  void Cancel(int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    ops_[static_cast<size_t>(id)].done = true;
  }

 private:
  std::mutex mu_;
  std::deque<Op> ops_;  // deque: pointers stay valid as ops are added
};

class SenderProgressTransport : public Transport {
 public:
  SenderProgressTransport(Mailbox* box, int rank) : box_(box), rank_(rank) {}
  std::string name() const override { return "test"; }
  int rank() const override { return rank_; }
  int size() const override { return 2; }
  absl::StatusOr<Request> Isend(int peer, int tag, const void* buf, int64_t bytes) override {
    return box_->Add({rank_, peer, tag, buf, nullptr, bytes, /*is_recv=*/false});
  }
  absl::StatusOr<Request> Irecv(int peer, int tag, void* buf, int64_t bytes) override {
    return box_->Add({peer, rank_, tag, nullptr, buf, bytes, /*is_recv=*/true});
  }
  absl::StatusOr<bool> Test(Request request) override {
    box_->Progress(rank_);
    return box_->Done(request);
  }
  void Cancel(Request request) override { box_->Cancel(request); }

 private:
  Mailbox* box_;
  int rank_;
};

// Two nodes of a ring over one mailbox; node 1 gives up after recv_timeout.
struct TwoNodes {
  explicit TwoNodes(int tag, absl::Duration recv_timeout = absl::Seconds(5))
      : ring0(&t0, tag, WaitContext{nullptr, absl::Seconds(5)}, 4),
        ring1(&t1, tag, WaitContext{nullptr, recv_timeout}, 4) {}
  Mailbox box;
  SenderProgressTransport t0{&box, 0}, t1{&box, 1};
  RingPipe ring0, ring1;
};

// The pattern of a ring collective: node 0 sends a piece, then waits for
// something its node's ranks do only after node 1 received it (here: a
// flag node 1 raises). While it waits it must poll its ring, or the piece
// never moves.
TEST(RingPipeTest, PollMovesASendWhileTheSenderWaitsOnSomethingElse) {
  TwoNodes nodes(7);
  RingPipe& ring0 = nodes.ring0;
  RingPipe& ring1 = nodes.ring1;
  std::vector<float> piece(1000, 2.5f), got(1000, 0.0f);
  ASSERT_TRUE(ring1.PostRecv(got.data(), 4000).ok());
  ASSERT_TRUE(ring0.Send(piece.data(), 4000).ok());

  std::atomic<bool> received{false};
  absl::Status recv_status;
  std::thread node1([&] {
    recv_status = ring1.WaitRecv();
    received.store(true);
  });
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  absl::Status poll_status;
  while (!received.load() && absl::Now() < deadline && poll_status.ok()) {
    poll_status = ring0.Poll();
    std::this_thread::yield();
  }
  node1.join();
  ASSERT_TRUE(poll_status.ok()) << poll_status;
  ASSERT_TRUE(recv_status.ok()) << recv_status;
  EXPECT_EQ(got[999], 2.5f);
  // Poll already completed the send: Drain finds it done without a Test.
  EXPECT_TRUE(ring0.Drain().ok());
  EXPECT_EQ(ring0.sends_done(), 1);
}

// Without the poll the same receive cannot complete: the test above would
// hang without RingPipe::Poll, and this one shows the transport needs it.
TEST(RingPipeTest, WithoutSenderProgressTheReceiveTimesOut) {
  TwoNodes nodes(7, absl::Milliseconds(200));
  RingPipe& ring0 = nodes.ring0;
  RingPipe& ring1 = nodes.ring1;
  std::vector<float> piece(10, 1.0f), got(10, 0.0f);
  ASSERT_TRUE(ring1.PostRecv(got.data(), 40).ok());
  ASSERT_TRUE(ring0.Send(piece.data(), 40).ok());
  absl::Status s = ring1.WaitRecv();
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_NE(s.message().find("a piece from the previous node"), std::string::npos) << s;
}

// Poll completes receives in order too; WaitRecv then returns the polled
// ones without testing them again (a completed request is released).
TEST(RingPipeTest, PolledReceivesAreReturnedInOrder) {
  TwoNodes nodes(3);
  RingPipe& ring0 = nodes.ring0;
  RingPipe& ring1 = nodes.ring1;
  std::vector<int> a = {1, 2}, b = {3, 4}, ga(2), gb(2);
  ASSERT_TRUE(ring1.PostRecv(ga.data(), 8).ok());
  ASSERT_TRUE(ring1.PostRecv(gb.data(), 8).ok());
  ASSERT_TRUE(ring0.Send(a.data(), 8).ok());
  ASSERT_TRUE(ring0.Send(b.data(), 8).ok());
  ASSERT_TRUE(ring0.Poll().ok());  // the sender moves both
  ASSERT_TRUE(ring1.Poll().ok());  // the receiver notes both done
  EXPECT_EQ(ring1.posted_recvs(), 2);
  ASSERT_TRUE(ring1.WaitRecv().ok());
  ASSERT_TRUE(ring1.WaitRecv().ok());
  EXPECT_EQ(ring1.posted_recvs(), 0);
  EXPECT_EQ(ga, a);
  EXPECT_EQ(gb, b);
  ASSERT_TRUE(ring0.Drain().ok());
  EXPECT_EQ(ring0.sends_done(), 2);
}

}  // namespace
}  // namespace hs::hfreduce
