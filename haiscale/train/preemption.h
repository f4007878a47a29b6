// File: haiscale/train/preemption.h
//
// Preemption: cluster schedulers send SIGTERM (or SIGUSR1) before killing
// a job. The first signal only sets a flag; the trainer checks it at every
// step boundary (all ranks agree through one tiny allreduce), saves a
// checkpoint and exits with kExitPreempted. A second signal exits at once.
#ifndef HAISCALE_TRAIN_PREEMPTION_H_
#define HAISCALE_TRAIN_PREEMPTION_H_

namespace hs::train {

// Exit code of a run stopped by a preemption signal after saving its
// checkpoint (75 = EX_TEMPFAIL: "try again"; rerun the same command).
inline constexpr int kExitPreempted = 75;

// InstallPreemptionHandlers(): SIGTERM and SIGUSR1 set the flag; a second
// one _exit()s with 128 + signal.
void InstallPreemptionHandlers();

// PreemptionRequested(): a signal arrived on this process.
bool PreemptionRequested();

// RequestPreemptionForTest(): sets the flag as a signal would.
void RequestPreemptionForTest();

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_PREEMPTION_H_
