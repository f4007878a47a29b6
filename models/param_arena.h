// File: models/param_arena.h
//
// ParamArena: every parameter of a model in one fp32 allocation, its
// gradients in a second one with the same layout (llm.c's
// ParameterTensors). A DDP bucket or a ZeRO-1 shard is then a contiguous
// range of both. Each parameter is registered with its Hugging Face tensor
// name and shape, which is also how checkpoints and safetensors name it.
//
// Usage:
//   ParamArena arena;
//   ParamId w = arena.Add("model.norm.weight", {C}, ParamInit::Ones());
//   HS_RETURN_IF_ERROR(arena.Allocate());
//   arena.Initialize(seed);
//   float* p = arena.param(w); float* g = arena.grad(w);
//
// A model that never computes gradients (inference, a frozen reference
// model) allocates without them: Allocate({.grads = false}).
#ifndef MODELS_PARAM_ARENA_H_
#define MODELS_PARAM_ARENA_H_

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "haiscale/status.h"
#include "haiscale/tensor.h"

namespace hs::models {

// How a parameter is initialised. Normal draws come from the counter-based
// RNG keyed by (seed, hash(name)), so every rank reproduces every tensor.
struct ParamInit {
  enum Kind { kNormal, kOnes, kZeros } kind = kNormal;
  float std = 0.02f;
  static ParamInit Normal(float std) { return {kNormal, std}; }
  static ParamInit Ones() { return {kOnes, 0.0f}; }
  static ParamInit Zeros() { return {kZeros, 0.0f}; }
};

struct ParamSpec {
  std::string name;      // Hugging Face tensor name
  Shape shape;
  ParamInit init;
  int64_t offset = 0;    // in floats, into the arena
  int64_t numel = 0;
  bool weight_decay = true;   // false for norm weights
  int64_t expert = -1;        // routed expert index, -1 otherwise (EP shards these)
};

using ParamId = int32_t;

// What ParamArena::Allocate reserves besides the parameter block.
struct ArenaAllocation {
  // grads: the gradient block (same layout as the parameters). Without it
  // grad()/grads() are nullptr.
  bool grads = true;
  // zero_params: zero the parameter block. Off when every parameter is
  // about to be written (Initialize or a weight file): skips a pass over
  // memory as large as the model. The alignment padding is zeroed always.
  bool zero_params = true;
};

class ParamArena {
 public:
  ParamArena() = default;
  ParamArena(const ParamArena&) = delete;
  ParamArena& operator=(const ParamArena&) = delete;

  // Add: registers a parameter; offsets follow registration order, so
  // parameters registered back to back are adjacent (the MLP relies on
  // gate_proj then up_proj forming one [2I, C] matrix).
  ParamId Add(const std::string& name, const Shape& shape, ParamInit init,
              bool weight_decay = true, int64_t expert = -1);

  // Allocate: one 64-byte aligned block each for params and (unless
  // options.grads is false) grads. Errors name the block and its size.
  absl::Status Allocate(const ArenaAllocation& options = {});

  // Initialize(seed): fills every parameter from its ParamInit. Large
  // normal fills use all OpenMP threads; the values do not depend on the
  // thread count (counter-based RNG).
  void Initialize(uint64_t seed);

  // RandomInitCount(): process-wide number of Initialize calls so far.
  // Loading weights from a file must not initialise first; tests count.
  static int64_t RandomInitCount();

  float* param(ParamId id) const { return params_ + specs_[id].offset; }
  float* grad(ParamId id) const {
    return grads_ == nullptr ? nullptr : grads_ + specs_[id].offset;
  }
  // has_grads(): false for an arena allocated without gradients.
  bool has_grads() const { return grads_ != nullptr; }
  Tensor ParamTensor(ParamId id) const;
  Tensor GradTensor(ParamId id) const;
  const ParamSpec& spec(ParamId id) const { return specs_[id]; }
  const std::vector<ParamSpec>& specs() const { return specs_; }
  absl::StatusOr<ParamId> Find(const std::string& name) const;

  // RebindGrads(grads): moves the gradients to `grads` (padded_size()
  // floats, owned by the caller and outliving the arena's use), copying the
  // current values; the arena's own block is freed. DDP uses it to put the
  // gradients in HFReduce's registered shared memory.
  void RebindGrads(float* grads);
  // RebindParams(params): points the parameters at `params` (padded_size()
  // floats the caller has filled: DDP's node-shared copy, which one rank of
  // the node copies in for all); the arena's own block is freed. Layers look
  // their parameters up through param() on every call, so nothing else moves.
  void RebindParams(float* params);
  // padded_size(): floats in the param and grad blocks (>= size()).
  int64_t padded_size() const;

  float* params() const { return params_; }
  float* grads() const { return grads_; }
  int64_t size() const { return total_; }   // floats
  void ZeroGrads();

 private:
  std::vector<ParamSpec> specs_;
  std::unordered_map<std::string, ParamId> by_name_;
  int64_t total_ = 0;
  std::shared_ptr<Storage> param_block_;
  std::shared_ptr<Storage> grad_block_;
  float* params_ = nullptr;
  float* grads_ = nullptr;
};

}  // namespace hs::models

#endif  // MODELS_PARAM_ARENA_H_
