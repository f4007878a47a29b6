// File: haiscale/rl/rollout_file.h
//
// A generation batch (GrpoRollouts) as bytes, so that a run with
// grpo.num_iterations > 1 stopped between two updates of the same batch
// resumes on exactly the rollouts, advantages and π_old log-probs it had:
// the weights that generated them are gone after the first update.
// Everything numeric is kept bit for bit (doubles as doubles); the
// completion texts are not kept.
//
// Layout: "HSGRPO1\n", then int64 B, T, the four BatchCounts, and the
// statistics' integers; then length-prefixed (int64) arrays: tokens and
// targets (int32), advantages, logp_old, logp_ref, reward function means
// and the statistics' doubles (float64), all little-endian; last the
// CRC-32C (uint32) of everything before it, so a damaged file is an error
// instead of a resume on wrong numbers.
#ifndef HAISCALE_RL_ROLLOUT_FILE_H_
#define HAISCALE_RL_ROLLOUT_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "haiscale/rl/grpo_step.h"

namespace hs::rl {

std::string SerializeRollouts(const GrpoRollouts& rollouts);

// ParseRollouts(bytes, where): errors name `where` (the file).
absl::StatusOr<GrpoRollouts> ParseRollouts(const std::string& bytes, const std::string& where);

}  // namespace hs::rl

#endif  // HAISCALE_RL_ROLLOUT_FILE_H_
