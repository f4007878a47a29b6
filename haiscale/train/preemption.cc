// File: haiscale/train/preemption.cc — see preemption.h.
#include "haiscale/train/preemption.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace hs::train {
namespace {

std::atomic<int> g_signals{0};

void OnSignal(int sig) {
  if (g_signals.fetch_add(1) >= 1) {
    // Second signal: the user (or scheduler) insists. Async-signal-safe exit.
    static const char kMsg[] = "\nhai: second signal, exiting without saving\n";
    (void)!write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
    _exit(128 + sig);
  }
  // Only a request: the checkpoint needs every rank to reach the step
  // boundary. When the signal is mpirun tearing the job down because a rank
  // died, no checkpoint follows; "checkpoint saved" is printed only after
  // one is committed.
  static const char kTerm[] =
      "\nhai: SIGTERM received: checkpoint requested at the end of this step (\"checkpoint "
      "saved\" confirms it; if the job is being torn down, e.g. a rank died, none is written)\n";
  static const char kUsr1[] =
      "\nhai: SIGUSR1 received: checkpoint requested at the end of this step (\"checkpoint "
      "saved\" confirms it; if the job is being torn down, e.g. a rank died, none is written)\n";
  if (sig == SIGTERM) {
    (void)!write(STDERR_FILENO, kTerm, sizeof(kTerm) - 1);
  } else {
    (void)!write(STDERR_FILENO, kUsr1, sizeof(kUsr1) - 1);
  }
}

}  // namespace

void InstallPreemptionHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
}

bool PreemptionRequested() { return g_signals.load() > 0; }

void RequestPreemptionForTest() { g_signals.store(1); }

}  // namespace hs::train
