// File: models/deepseek_v2.h
//
// DeepseekV2Model: the decoder-only DeepSeek-V2 language model with
// Hugging Face semantics (DeepseekV2ForCausalLM): token embedding,
// num_hidden_layers DecoderBlocks (dense MLP for the first
// first_k_dense_replace layers and off the moe_layer_freq grid, DeepSeekMoE
// elsewhere), final RMSNorm, untied lm_head, next-token cross-entropy.
// Parameters use HF tensor names; their arena order is embed, layers, norm,
// lm_head, so each block's parameters are one contiguous range (DDP buckets
// follow block boundaries in reverse during backward).
//
// Usage:
//   HS_ASSIGN_OR_RETURN(auto model, DeepseekV2Model::Create(config, {.seed = 1}));
//   HS_ASSIGN_OR_RETURN(ForwardResult r, model->Forward(tokens, targets, B, T));
//   HS_RETURN_IF_ERROR(model->Backward(1.0f / r.valid_tokens, 1.0f));
//
// Inference (hai eval, hai generate, the frozen reference model of DPO and
// GRPO): a model that only runs forwards holds its parameters and nothing
// else, and weights that come from a file are never randomly initialised:
//   HS_ASSIGN_OR_RETURN(auto model, DeepseekV2Model::CreateForInference(
//                                       config, {.params_from_file = true}));
//   HS_RETURN_IF_ERROR(train::LoadHfWeights(dir, model.get()));  // or LoadHfModel
// Its Forward/StageForward/ForwardLogits give the same values bit for bit as
// a training model's; Backward and StageBackward return FailedPrecondition.
#ifndef MODELS_DEEPSEEK_V2_H_
#define MODELS_DEEPSEEK_V2_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "haiscale/tensor.h"
#include "models/layers/decoder_block.h"
#include "models/layers/linear.h"
#include "models/layers/rms_norm.h"
#include "models/model_config.h"
#include "models/moe/expert_dispatcher.h"
#include "models/param_arena.h"

namespace hs::models {

// The token embedding's tensor name (its gradient is row-sparse: only the
// batch's tokens have nonzero rows).
inline constexpr char kEmbeddingName[] = "model.embed_tokens.weight";

struct ModelOptions {
  uint64_t seed = 0;              // parameter init (counter-based RNG)
  // Pipeline stage: decoder blocks [first_layer, end_layer) (end -1: all).
  // The first stage holds the embedding, the last the final norm, lm_head
  // and loss. Parameters keep their global HF names on every stage.
  int64_t first_layer = 0;
  int64_t end_layer = -1;
  int64_t max_seq_len = 0;        // RoPE table size (0: max_position_embeddings)
  bool recompute_all = false;     // activation recomputation for every block
  std::vector<int64_t> recompute_layers;  // or for these blocks only
  // Expert placement; nullptr = all experts local (LocalExpertDispatcher).
  ExpertDispatcher* dispatcher = nullptr;
  // for_inference: forwards only. No gradient arena (arena().has_grads()
  // is false), and a forward keeps no activations beyond the layer it is
  // computing: two residual buffers [B*T, C] ping-pong between the blocks,
  // each block frees its intermediates before the next starts (as in
  // recompute mode), and the last stage keeps only the logits. Optimizer
  // state is the trainer's, so an inference model never has any.
  bool for_inference = false;
  // params_from_file: the caller writes every parameter right after Create
  // (LoadHfWeights, a checkpoint), so Create neither zeroes nor randomly
  // initialises them and `seed` is unused. Reading a parameter before it is
  // written is a bug.
  bool params_from_file = false;
  // count_correct_tokens: the last stage's forward also counts targets the
  // logits' argmax predicts (ForwardResult::correct_tokens, the token
  // accuracy fine-tuning logs) — one more pass over the logits, so off
  // unless asked for.
  bool count_correct_tokens = false;
};

struct ForwardResult {
  double ce_sum = 0;         // sum of token losses over non-ignored targets
  int64_t valid_tokens = 0;  // targets >= 0
  int64_t correct_tokens = 0;  // targets >= 0 that are the logits' argmax
                               // (only with ModelOptions::count_correct_tokens)
  double aux_loss = 0;       // sum of the MoE layers' balance losses
  // Each sequence's summed token losses ([B], the head's stage only), added
  // in token order as ce_sum is: with B = 1 it equals ce_sum.
  std::vector<double> row_ce_sum;
  double ce_mean() const { return valid_tokens ? ce_sum / valid_tokens : 0.0; }
};

// Activations: what one micro-batch's forward keeps for its backward. The
// pipeline holds several at once (one per micro-batch in flight).
class Activations {
 public:
  // Output hidden states [B*T, C] of a stage without the head.
  const Tensor& output() const { return residual_.back(); }
  // Gradient w.r.t. the stage's input hidden states [B*T, C], after
  // StageBackward on a stage without the embedding.
  const Tensor& input_grad() const { return dinput_; }
  int64_t B() const { return B_; }
  int64_t T() const { return T_; }

 private:
  friend class DeepseekV2Model;
  int64_t B_ = 0, T_ = 0;
  Tensor tokens_, targets_;       // [N] i32 (first / last stage)
  Tensor positions_;              // [N] i32 packed-document positions (or none)
  std::vector<Tensor> residual_;  // blocks+1 tensors [N,C]: block inputs + output
  std::vector<BlockSaved> saved_;
  Tensor hN_, rstdN_;             // final norm output, rstd (last stage)
  Tensor logits_;                 // [N,V] (last stage): the logits, or their gradient
  Tensor ce_stats_;               // [N,2] kernels::cpu::SoftmaxRowStats (last stage)
  // Set when the forward already wrote the cross-entropy's gradient at this
  // scale over logits_ (StageForward's backward_ce_scale).
  std::optional<float> ce_grad_scale_;
  Tensor dinput_;                 // [N,C] (stages without the embedding)
};

// Called during Backward as soon as the gradients of an arena range
// [begin, end) (floats) are final for this micro-batch.
using GradReadyHook = std::function<void(int64_t begin, int64_t end)>;

class DeepseekV2Model {
 public:
  static absl::StatusOr<std::unique_ptr<DeepseekV2Model>> Create(
      const DeepseekV2Config& config, const ModelOptions& options);

  // CreateForInference(config, options): Create with
  // options.for_inference = true (see ModelOptions::for_inference).
  static absl::StatusOr<std::unique_ptr<DeepseekV2Model>> CreateForInference(
      const DeepseekV2Config& config, ModelOptions options);

  // ParameterSpecs(config, options): the parameters Create would register
  // for this stage (names, shapes, offsets, expert index), without
  // allocating them. The memory plan sizes a run from it.
  static absl::StatusOr<std::vector<ParamSpec>> ParameterSpecs(
      const DeepseekV2Config& config, const ModelOptions& options);

  // Forward: tokens/targets [B,T] i32 (targets < 0 ignored). Keeps the
  // activations for Backward. Token ids must be in [0, vocab_size).
  // `positions` [B,T] (optional): packed documents, each token's offset in
  // its document (0 at a document start, positions[b,t] <= t): RoPE uses
  // them and attention stays within each document. nullptr = one causal
  // sequence per row (positions 0..T-1).
  // backward_ce_scale (optional): the ce_scale the Backward will be called
  // with, no token_weights: the forward then writes the cross-entropy's
  // gradient over the logits in the same pass as the loss (one trip of the
  // N x V logits through memory instead of two, the same bits), and
  // logits() holds that gradient afterwards.
  absl::StatusOr<ForwardResult> Forward(const int32_t* tokens,
                                        const int32_t* targets, int64_t B,
                                        int64_t T, const int32_t* positions = nullptr,
                                        std::optional<float> backward_ce_scale = std::nullopt);

  // Backward of  ce_scale * ce_sum + aux_scale * aux_loss  into the
  // gradient arena (+=). The trainer passes ce_scale = 1/tokens of the
  // global batch and aux_scale = this micro-batch's share of sequences.
  // token_weights [B*T] (optional, signed): token i's cross-entropy is
  // weighted by ce_scale * token_weights[i] (policy-gradient objectives).
  absl::Status Backward(float ce_scale, float aux_scale,
                        const GradReadyHook& on_ready = nullptr,
                        const float* token_weights = nullptr);

  // StageForward: one micro-batch through this stage. The first stage
  // reads `tokens` [B,T], later stages `hidden_in` [B*T, C]; the last stage
  // computes the loss against `targets` (ignored elsewhere: pass nullptr).
  // `positions` and `backward_ce_scale` as in Forward, the same on every
  // stage.
  absl::StatusOr<ForwardResult> StageForward(Activations* a, const int32_t* tokens,
                                             const float* hidden_in, const int32_t* targets,
                                             int64_t B, int64_t T,
                                             const int32_t* positions = nullptr,
                                             std::optional<float> backward_ce_scale = std::nullopt);
  // StageBackward: the last stage starts from its loss (ce_scale,
  // aux_scale), others from `dhidden_out` [B*T, C]; a stage without the
  // embedding leaves d(hidden_in) in a->input_grad(). Frees a's tensors.
  absl::Status StageBackward(Activations* a, const float* dhidden_out, float ce_scale,
                             float aux_scale, const GradReadyHook& on_ready = nullptr,
                             const float* token_weights = nullptr);
  bool has_embedding() const { return first_layer_ == 0; }
  bool has_head() const { return end_layer_ == config_.num_hidden_layers; }
  int64_t first_layer() const { return first_layer_; }
  int64_t end_layer() const { return end_layer_; }

  // Logits of the last Forward ([B*T, V]; valid until Backward; their
  // gradient after a Forward with backward_ce_scale).
  const Tensor& logits() const { return act_.logits_; }

  // ForwardLogits: inference without targets or saved state for backward.
  absl::StatusOr<Tensor> ForwardLogits(const int32_t* tokens, int64_t B,
                                       int64_t T, const int32_t* positions = nullptr);

  ParamArena& arena() { return arena_; }
  const ParamArena& arena() const { return arena_; }
  const DeepseekV2Config& config() const { return config_; }
  bool for_inference() const { return options_.for_inference; }
  int64_t num_blocks() const { return int64_t(blocks_.size()); }
  DecoderBlock& block(int64_t i) { return *blocks_[i]; }
  // Per-expert token counts of the last forward, summed over MoE layers.
  std::vector<int64_t> ExpertLoad() const { return ExpertLoad(act_); }
  std::vector<int64_t> ExpertLoad(const Activations& a) const;

  // FLOPs per token: forward only, and training (forward + backward = 3x).
  double ForwardFlopsPerToken(int64_t T) const;
  double TrainingFlopsPerToken(int64_t T) const { return 3.0 * ForwardFlopsPerToken(T); }

 private:
  DeepseekV2Model(const DeepseekV2Config& config, const ModelOptions& options);
  // Build: validates and registers the parameters; allocates and
  // initialises them only when `allocate`.
  static absl::StatusOr<std::unique_ptr<DeepseekV2Model>> Build(
      const DeepseekV2Config& config, const ModelOptions& options, bool allocate);
  absl::Status ForwardTrunk(Activations* a, const int32_t* tokens, const float* hidden_in,
                            int64_t B, int64_t T, const int32_t* positions);

  DeepseekV2Config config_;
  ModelOptions options_;
  ParamArena arena_;
  std::unique_ptr<ExpertDispatcher> owned_dispatcher_;
  ParamId embed_ = -1, lm_head_ = -1;
  std::vector<std::unique_ptr<DecoderBlock>> blocks_;
  std::vector<bool> recompute_;
  RmsNorm final_norm_;
  RopeCache rope_;
  int64_t lm_head_begin_ = 0;  // arena range of final norm + lm_head
  int64_t first_layer_ = 0, end_layer_ = 0;
  Activations act_;            // of Forward/Backward (the unsplit API)
};

// TokenCheck: the first token id outside [0, vocab) or OK.
absl::Status CheckTokenIds(const int32_t* tokens, int64_t n, int64_t vocab,
                           const char* what);

}  // namespace hs::models

#endif  // MODELS_DEEPSEEK_V2_H_
