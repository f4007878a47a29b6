// File: haiscale/rl/reward_command.h
//
// The external reward command: a user program that scores completions.
// It is started once (`/bin/sh -c COMMAND`, stderr shared with the
// trainer) and lives for the whole run. For each completion the trainer
// writes one line to its stdin: the prompt record's JSON object with the
// fields "completion" (the generated text) and "completion_tokens" added;
// the command answers with one line per completion, in order, holding a
// finite number (the reward). Writing and reading are interleaved with
// poll(), so a command that answers as it reads never blocks on a full
// pipe.
//
// Failures are errors naming the command, never a hang: a batch that is
// not fully answered within `timeout_seconds`, a command that exits or
// closes its stdout, a line that is not a number, or output beyond the
// expected lines. After an error the command is killed (SIGKILL) and every
// later Score fails.
#ifndef HAISCALE_RL_REWARD_COMMAND_H_
#define HAISCALE_RL_REWARD_COMMAND_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "haiscale/rl/rewards.h"

namespace hs::rl {

class RewardCommand : public RewardFunction {
 public:
  // Start(name, command, timeout_seconds): spawns the command.
  static absl::StatusOr<std::unique_ptr<RewardCommand>> Start(std::string name,
                                                              std::string command,
                                                              double timeout_seconds);
  ~RewardCommand() override;  // closes its stdin, waits briefly, then kills

  const std::string& name() const override { return name_; }
  absl::StatusOr<std::vector<double>> Score(const std::vector<Completion>& batch) override;

 private:
  RewardCommand(std::string name, std::string command, double timeout, pid_t pid, int in_fd,
                int out_fd);
  absl::Status Fail(absl::Status status);  // kills the child, remembers the error
  std::string ExitDescription();           // how the child ended (reaps it)
  void Kill();

  std::string name_, command_;
  double timeout_;
  pid_t pid_;
  int in_fd_, out_fd_;  // our ends: the child's stdin (write), stdout (read)
  std::string pending_; // bytes read past the last complete line
  absl::Status failed_;
};

}  // namespace hs::rl

#endif  // HAISCALE_RL_REWARD_COMMAND_H_
