// File: haiscale/train/served_peer.cc — see served_peer.h.
#include "haiscale/train/served_peer.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace hs::train {

absl::StatusOr<std::unique_ptr<ServedPeer>> ServedPeer::Start(const std::string& command) {
  // A peer that dies must give an error on our next write, not a SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  int to_child[2], from_child[2];
  if (pipe(to_child) != 0) return absl::InternalError("pipe() for the peer's stdin failed");
  if (pipe(from_child) != 0) {
    close(to_child[0]);
    close(to_child[1]);
    return absl::InternalError("pipe() for the peer's stdout failed");
  }
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) close(fd);
    return absl::InternalError(absl::StrCat("fork() for the peer failed: ", command));
  }
  if (pid == 0) {
    dup2(to_child[0], STDIN_FILENO);
    dup2(from_child[1], STDOUT_FILENO);
    for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) close(fd);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  FILE* to = fdopen(to_child[1], "w");
  FILE* from = fdopen(from_child[0], "r");
  if (to == nullptr || from == nullptr) {
    if (to != nullptr) fclose(to); else close(to_child[1]);
    if (from != nullptr) fclose(from); else close(from_child[0]);
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    return absl::InternalError("fdopen() of the peer's pipes failed");
  }
  return std::unique_ptr<ServedPeer>(new ServedPeer(command, pid, to, from));
}

ServedPeer::~ServedPeer() {
  fclose(to_);  // EOF on its stdin: the peer ends
  fclose(from_);
  waitpid(pid_, nullptr, 0);
}

absl::StatusOr<std::vector<double>> ServedPeer::Steps(int64_t k) {
  if (std::fprintf(to_, "steps %lld\n", static_cast<long long>(k)) < 0 || std::fflush(to_) != 0) {
    return absl::UnavailableError(absl::StrCat("the peer stopped reading commands: ", command_));
  }
  std::string line;
  char buf[4096];
  while (std::fgets(buf, sizeof(buf), from_) != nullptr) {
    line += buf;
    if (!line.empty() && line.back() == '\n') break;
  }
  if (line.empty()) {
    return absl::UnavailableError(absl::StrCat("the peer exited before answering: ", command_));
  }
  std::vector<double> ms;
  if (!ParseStepMs(line, &ms) || int64_t(ms.size()) != k) {
    return absl::InternalError(absl::StrCat("the peer answered \"",
                                            absl::StripTrailingAsciiWhitespace(line),
                                            "\" to 'steps ", k, "': ", command_));
  }
  return ms;
}

bool ParseStepMs(const std::string& line, std::vector<double>* ms) {
  const size_t key = line.find("\"step_ms\"");
  if (key == std::string::npos) return false;
  const size_t open = line.find('[', key), close = line.find(']', key);
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  ms->clear();
  const absl::string_view list(line.data() + open + 1, close - open - 1);
  if (absl::StripAsciiWhitespace(list).empty()) return true;
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    double v = 0;
    if (!absl::SimpleAtod(absl::StripAsciiWhitespace(item), &v)) return false;
    ms->push_back(v);
  }
  return true;
}

}  // namespace hs::train
