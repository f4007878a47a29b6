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
  static const char kMsg[] =
      "\nhai: preemption signal: saving a checkpoint at the end of this step\n";
  (void)!write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
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
