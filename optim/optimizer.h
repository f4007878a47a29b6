// File: optim/optimizer.h
//
// The optimizer interface the trainer steps, and the arena layout it needs.
//
// Parameters, gradients and optimizer state live in flat fp32 arenas: one
// contiguous float span each, with every parameter a named range inside it
// (see models/ and the "Arenas" section of the style anchors). An Optimizer
// owns the state for one contiguous range [begin, end) of the arena: the
// whole arena for plain DDP, or this rank's shard under ZeRO-1. Step() may
// be called on any sub-range of the owned range, so DDP buckets and ZeRO-1
// shards are stepped independently as soon as their gradients are final;
// stepping every element of the owned range once per step is the caller's
// job.
//
// Steps are 0-based everywhere in optim/: the trainer passes the same
// `step` to LrSchedule::LrAt() and to Optimizer::Step(). Optimizers that
// count steps (AdamW's bias correction) use t = step + 1, so a resumed run
// that passes the checkpoint's step reproduces the uninterrupted run.
//
// Usage:
//   std::vector<ParamRange> layout = {
//       {"model.embed_tokens.weight", 0, V * C, DecaysByDefault({V, C}, false)},
//       {"model.norm.weight", V * C, C, DecaysByDefault({C}, false)}};
//   HS_ASSIGN_OR_RETURN(auto opt, MakeOptimizer(options, layout, 0, arena_size));
//   for (int64_t step = start; step < steps; ++step) {
//     ...forward/backward, allreduce, clip...
//     HS_RETURN_IF_ERROR(opt->Step(params, grads, 0, arena_size, step,
//                                  schedule.LrAt(step)));
//   }
//   for (const StateSpan& s : opt->StateSpans()) save(s.name, s.data, s.size);
#ifndef OPTIM_OPTIMIZER_H_
#define OPTIM_OPTIMIZER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hs::optim {

// ParamRange: one named parameter inside the flat arena, in elements.
struct ParamRange {
  std::string name;    // e.g. the Hugging Face tensor name
  int64_t offset = 0;  // first element in the arena
  int64_t numel = 0;   // number of elements
  bool decay = true;   // weight decay applies to this parameter
};

// DecaysByDefault(shape, decay_norms_and_biases)
//
// HaiScale's default weight-decay rule: matrices and embeddings (rank >= 2)
// decay; 1-D tensors (RMSNorm weights, biases) decay only when
// `decay_norms_and_biases` is true. The default of that flag is false, as
// in Megatron-LM, nanoGPT and llm.c; DeepSeek's papers state a weight decay
// of 0.1 without naming exclusions, and `decay_norms_and_biases = true`
// reproduces "decay everything" (torch.optim.AdamW on model.parameters()).
bool DecaysByDefault(const std::vector<int64_t>& shape,
                     bool decay_norms_and_biases);

// DecayMask: which arena elements receive weight decay, as sorted disjoint
// [begin, end) intervals. Elements outside every ParamRange (alignment
// padding) never decay.
class DecayMask {
 public:
  // DecayMask::Create(layout, arena_size)
  //
  // Validates the layout (non-negative, inside [0, arena_size), ranges not
  // overlapping) and returns an error naming the offending parameter.
  static absl::StatusOr<DecayMask> Create(const std::vector<ParamRange>& layout,
                                          int64_t arena_size);

  // DecayMask::AllDecay(arena_size): every element decays.
  static DecayMask AllDecay(int64_t arena_size);

  // Segment: a maximal run of elements with one decay flag.
  struct Segment {
    int64_t begin;
    int64_t end;
    bool decay;
  };

  // DecayMask::Segments(begin, end)
  //
  // Splits arena range [begin, end) into runs of equal decay flag, in order.
  std::vector<Segment> Segments(int64_t begin, int64_t end) const;

  int64_t arena_size() const { return arena_size_; }

 private:
  int64_t arena_size_ = 0;
  std::vector<std::pair<int64_t, int64_t>> decayed_;  // sorted, merged
};

// StateSpan: one named fp32 state buffer (e.g. "exp_avg") covering the
// optimizer's owned range: data[i] belongs to arena element begin() + i.
// Checkpointers read it to save and write into it to restore.
struct StateSpan {
  std::string name;
  float* data = nullptr;
  int64_t size = 0;
};

// Optimizer: the interface the trainer steps (AdamW or SGD from config).
class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // Optimizer::name(): "adamw" or "sgd".
  virtual const char* name() const = 0;

  // Optimizer::Step(params, grads, offset, n, step, lr, grad_scale)
  //
  // Updates arena elements [offset, offset + n) in place. `params` and
  // `grads` point at element `offset` of their arenas (n floats each);
  // [offset, offset + n) must lie inside [begin(), end()). `step` is the
  // 0-based global step, `lr` this step's learning rate (LrSchedule::LrAt).
  // Each gradient is multiplied by grad_scale (in float) as it is read:
  // gradient clipping's factor, applied in the update's own pass over the
  // gradients instead of a pass that rewrites them first (the same bits as
  // optim::ScaleGradients then Step; `grads` is left as it was).
  // Element-wise and OpenMP-parallel; the result does not depend on the
  // thread count or on how the owned range is split into calls.
  virtual absl::Status Step(float* params, const float* grads, int64_t offset,
                            int64_t n, int64_t step, double lr, float grad_scale) = 0;
  // Step without a gradient scale (grad_scale 1).
  absl::Status Step(float* params, const float* grads, int64_t offset, int64_t n,
                    int64_t step, double lr) {
    return Step(params, grads, offset, n, step, lr, 1.0f);
  }

  // Optimizer::StateSpans(): the state buffers to checkpoint (may be empty,
  // e.g. SGD without momentum). Stable pointers for the optimizer's life.
  virtual std::vector<StateSpan> StateSpans() = 0;

  // Optimizer::begin() / end(): the owned arena range.
  int64_t begin() const { return begin_; }
  int64_t end() const { return end_; }

 protected:
  Optimizer(DecayMask mask, int64_t begin, int64_t end)
      : mask_(std::move(mask)), begin_(begin), end_(end) {}

  // CheckRange(offset, n): InvalidArgument unless inside the owned range.
  absl::Status CheckRange(int64_t offset, int64_t n) const;

  DecayMask mask_;
  int64_t begin_;
  int64_t end_;
};

}  // namespace hs::optim

#endif  // OPTIM_OPTIMIZER_H_
