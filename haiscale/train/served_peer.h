// File: haiscale/train/served_peer.h
//
// ServedPeer: a benchmark peer run as a child process in serve mode
// (tools/peers/deepseek_v2_torch.py --serve): "steps K" on its stdin runs its
// next K training steps and answers one JSON line {"step_ms": [...]} on its
// stdout. `hai bench train --compare-torch --rounds R` alternates its own
// rounds of steps with the peer's through it, so that both sides of each
// round's ratio ran within seconds of each other (a machine whose speed
// drifts moves both alike).
//
// Usage:
//   HS_ASSIGN_OR_RETURN(auto peer, ServedPeer::Start("python3 peer.py --serve ..."));
//   HS_ASSIGN_OR_RETURN(std::vector<double> ms, peer->Steps(5));
//   // the destructor closes the peer's stdin and waits for it
#ifndef HAISCALE_TRAIN_SERVED_PEER_H_
#define HAISCALE_TRAIN_SERVED_PEER_H_

#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hs::train {

class ServedPeer {
 public:
  // Start: runs `command` with /bin/sh, its stdin and stdout piped to us
  // (stderr stays the terminal's).
  static absl::StatusOr<std::unique_ptr<ServedPeer>> Start(const std::string& command);
  ~ServedPeer();
  ServedPeer(const ServedPeer&) = delete;
  ServedPeer& operator=(const ServedPeer&) = delete;

  // Steps(k): the peer's next k steps, milliseconds each. An error names the
  // command when the peer exited or answered something else.
  absl::StatusOr<std::vector<double>> Steps(int64_t k);

 private:
  ServedPeer(std::string command, pid_t pid, FILE* to, FILE* from)
      : command_(std::move(command)), pid_(pid), to_(to), from_(from) {}
  std::string command_;
  pid_t pid_;
  FILE* to_;    // the peer's stdin
  FILE* from_;  // the peer's stdout
};

// ParseStepMs(line, &ms): the numbers of a {"step_ms": [a, b, ...]} line;
// false when the line has no such list.
bool ParseStepMs(const std::string& line, std::vector<double>* ms);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_SERVED_PEER_H_
