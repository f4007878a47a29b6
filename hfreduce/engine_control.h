// File: hfreduce/engine_control.h
//
// The per-node control block of the Engine in shared memory (internal to
// collective.cc and scatter_gather.cc): the abort flag and, per local rank,
// the chunk counters the node pipeline synchronises on.
#ifndef HFREDUCE_ENGINE_CONTROL_H_
#define HFREDUCE_ENGINE_CONTROL_H_

#include <atomic>
#include <cstdint>

#include "hfreduce/collective.h"
#include "hfreduce/op_desc.h"

namespace hs::hfreduce {

// Shared-memory layout of the node segment's caller area.
struct Engine::Control {
  std::atomic<uint32_t> abort;  // 0, or 1 once a rank raised abort
  int32_t abort_rank;
  char abort_msg[248];
};
struct alignas(128) Engine::RankControl {
  std::atomic<uint64_t> in;   // chunks copied into this rank's slot
  std::atomic<uint64_t> red;  // chunks whose slice this rank finalised
  std::atomic<uint64_t> out;  // chunks this rank copied out
  OpDesc desc;                // the call this rank is in (set before `in`)
  int32_t global_rank;        // this rank in the communicator
  int64_t shared_off;         // AllReduce: buffer's offset in my registered
                              // region, or -1 (set before `in`)
  int64_t rows_found;         // AllReduceRows: nonzero rows in my range
                              // (set before `red`)
};

static_assert(std::atomic<uint64_t>::is_always_lock_free,
              "shared-memory counters must be lock free");

}  // namespace hs::hfreduce

#endif  // HFREDUCE_ENGINE_CONTROL_H_
