// File: haiscale/rl/reward_command.cc
#include "haiscale/rl/reward_command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "haiscale/clock.h"
#include "haiscale/status.h"

extern char** environ;

namespace hs::rl {
namespace {

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// Writing to a command that has exited must be an error (EPIPE), not a
// signal that ends the trainer.
void IgnoreSigpipe() {
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    signal(SIGPIPE, SIG_IGN);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<RewardCommand>> RewardCommand::Start(std::string name,
                                                                    std::string command,
                                                                    double timeout_seconds) {
  if (command.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("reward ", name, ": the command is empty"));
  }
  if (!(timeout_seconds > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("reward ", name, ": timeout must be positive, got ", timeout_seconds));
  }
  IgnoreSigpipe();
  int to_child[2], from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0) return ErrnoToStatus(errno, "pipe for the reward command");
  if (pipe2(from_child, O_CLOEXEC) != 0) {
    close(to_child[0]);
    close(to_child[1]);
    return ErrnoToStatus(errno, "pipe for the reward command");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
  std::string sh = "/bin/sh", dash_c = "-c";
  char* argv[] = {sh.data(), dash_c.data(), command.data(), nullptr};
  pid_t pid = -1;
  const int err = posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(to_child[0]);
  close(from_child[1]);
  if (err != 0) {
    close(to_child[1]);
    close(from_child[0]);
    return ErrnoToStatus(err, absl::StrCat("starting reward command `", command, "`"));
  }
  fcntl(to_child[1], F_SETFL, fcntl(to_child[1], F_GETFL) | O_NONBLOCK);
  fcntl(from_child[0], F_SETFL, fcntl(from_child[0], F_GETFL) | O_NONBLOCK);
  return std::unique_ptr<RewardCommand>(new RewardCommand(
      std::move(name), std::move(command), timeout_seconds, pid, to_child[1], from_child[0]));
}

RewardCommand::RewardCommand(std::string name, std::string command, double timeout, pid_t pid,
                             int in_fd, int out_fd)
    : name_(std::move(name)),
      command_(std::move(command)),
      timeout_(timeout),
      pid_(pid),
      in_fd_(in_fd),
      out_fd_(out_fd) {}

RewardCommand::~RewardCommand() {
  CloseFd(in_fd_);  // end of input: a well-behaved command exits now
  for (int i = 0; i < 50 && pid_ > 0; ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) pid_ = -1;
    else usleep(2000);
  }
  Kill();
  CloseFd(out_fd_);
}

void RewardCommand::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string RewardCommand::ExitDescription() {
  if (pid_ <= 0) return "it is no longer running";
  int status = 0;
  // The command closed its stdout; give it a moment to finish exiting.
  pid_t done = 0;
  for (int i = 0; i < 100 && done == 0; ++i) {
    done = waitpid(pid_, &status, WNOHANG);
    if (done == 0) usleep(2000);
  }
  if (done != pid_) return "it closed its output";
  pid_ = -1;
  if (WIFEXITED(status)) return absl::StrCat("it exited with status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("it was killed by signal ", WTERMSIG(status));
  return "it ended";
}

absl::Status RewardCommand::Fail(absl::Status status) {
  Kill();
  CloseFd(in_fd_);
  CloseFd(out_fd_);
  failed_ = Annotate(status, "reward command ", name_, " (`", command_, "`)");
  return failed_;
}

absl::StatusOr<std::vector<double>> RewardCommand::Score(const std::vector<Completion>& batch) {
  if (!failed_.ok()) return failed_;
  std::string input;
  for (const Completion& c : batch) {
    nlohmann::json line = c.record != nullptr && c.record->is_object() ? *c.record
                                                                        : nlohmann::json::object();
    line["completion"] = c.text;
    line["completion_tokens"] = c.tokens;
    // Invalid UTF-8 in a completion is replaced, so every line is JSON.
    input += line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    input += '\n';
  }
  std::vector<double> rewards;
  rewards.reserve(batch.size());
  size_t written = 0;
  const double deadline = NowSeconds() + timeout_;
  while (rewards.size() < batch.size()) {
    // Complete lines already read.
    size_t newline;
    while (rewards.size() < batch.size() && (newline = pending_.find('\n')) != std::string::npos) {
      std::string_view line = TrimAscii(std::string_view(pending_).substr(0, newline));
      double value = 0;
      if (!absl::SimpleAtod(absl::string_view(line.data(), line.size()), &value) || !std::isfinite(value)) {
        return Fail(absl::InvalidArgumentError(
            absl::StrCat("line ", rewards.size() + 1, " of its answer to this batch is \"",
                         std::string(line.substr(0, 80)),
                         "\", not a finite number (expected one reward per line)")));
      }
      rewards.push_back(value);
      pending_.erase(0, newline + 1);
    }
    if (rewards.size() == batch.size()) break;
    const double left = deadline - NowSeconds();
    if (left <= 0) {
      return Fail(absl::DeadlineExceededError(
          absl::StrCat("answered ", rewards.size(), " of ", batch.size(), " completions within ",
                       timeout_, " s; killed")));
    }
    pollfd fds[2] = {{out_fd_, POLLIN, 0}, {in_fd_, POLLOUT, 0}};
    const int nfds = written < input.size() ? 2 : 1;
    const int ready = poll(fds, nfds, int(std::ceil(std::min(left, 1.0) * 1000)));
    if (ready < 0 && errno != EINTR) return Fail(ErrnoToStatus(errno, "poll"));
    if (ready <= 0) continue;
    if (nfds == 2 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t n = write(in_fd_, input.data() + written, input.size() - written);
      if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return Fail(absl::AbortedError(absl::StrCat(
            "stopped reading its input after ", rewards.size(), " answers: ", ExitDescription())));
      }
      if (n > 0) written += size_t(n);
    }
    if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
      char buf[4096];
      const ssize_t n = read(out_fd_, buf, sizeof buf);
      if (n == 0) {
        return Fail(absl::AbortedError(absl::StrCat("answered ", rewards.size(), " of ",
                                                    batch.size(), " completions, then ",
                                                    ExitDescription())));
      }
      if (n < 0 && errno != EAGAIN && errno != EINTR) return Fail(ErrnoToStatus(errno, "read"));
      if (n > 0) pending_.append(buf, size_t(n));
    }
  }
  if (!TrimAscii(pending_).empty()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "wrote more than the ", batch.size(), " expected lines: \"", pending_.substr(0, 80), "\"")));
  }
  pending_.clear();
  return rewards;
}

}  // namespace hs::rl
