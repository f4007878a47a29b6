// File: haiscale/train/trainer_checkpoint.cc
//
// The trainer's side of checkpointing (haiscale/checkpoint/): what each rank
// saves and how a run resumes exactly.
//
// Each rank writes one shard per checkpoint:
//   * parameters: the first data-parallel rank of each pipeline stage saves
//     its stage's parameters by HF name (every name is saved exactly once);
//   * optimizer state without ZeRO: the same rank saves the whole arena
//     range (replicas are identical); resuming onto a different DP size
//     simply reads it on every rank;
//   * optimizer state with ZeRO-1: every rank saves the concatenation of its
//     owned bucket parts as "zero1.rank<r>.<state>"; resuming needs the same
//     DP size and owned parts (a digest of them is in the metadata; refused
//     clearly otherwise);
//   * optimizer state with node-shared parameters: each node's first rank
//     gathers its node's parts and the stage's first DP rank saves the
//     whole arena range as without ZeRO, so it resumes in any layout;
//   * the sampler position and step: the data order and the LR schedule are
//     pure functions of the step, so nothing else is needed for an exact
//     resume (the RNG is counter-based).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "haiscale/checkpoint/reader.h"
#include "haiscale/config/config.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"
#include "haiscale/train/trainer.h"

namespace hs::train {

namespace fs = std::filesystem;

namespace {

// The value of "key" in the trainer's flat metadata JSON (a number, or a
// string without its quotes); "" when absent.
std::string TrainerJsonField(const std::string& json, const std::string& key) {
  const std::string tag = absl::StrCat("\"", key, "\": ");
  const auto at = json.find(tag);
  if (at == std::string::npos) return "";
  size_t begin = at + tag.size(), end;
  if (begin < json.size() && json[begin] == '"') {
    end = json.find('"', ++begin);
  } else {
    end = json.find_first_of(",}", begin);
  }
  return json.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

}  // namespace

bool Trainer::ZeroOneState() const {
  return sharded() && !(grad_sync_ && grad_sync_->node_shared_params());
}

std::string Trainer::OwnedRangesDigest() const {
  // FNV-1a over the [begin, end) pairs.
  uint64_t h = 1469598103934665603ull;
  for (const auto& [b, e] : grad_sync_->OwnedRanges()) {
    for (int64_t v : {b, e}) {
      for (int i = 0; i < 8; ++i) h = (h ^ ((uint64_t(v) >> (8 * i)) & 0xff)) * 1099511628211ull;
    }
  }
  return absl::StrFormat("%016x", h);
}

checkpoint::Topology Trainer::CheckpointTopology() const {
  checkpoint::Topology t;
  t.world = ctx_->world_size();
  t.dp = ctx_->dp_size();
  t.pp = ctx_->pp_size();
  t.ep = ctx_->ep_size();
  return t;
}

absl::Status Trainer::SaveCheckpoint(int64_t steps_done) {
  if (!checkpointer_) return absl::OkStatus();
  HS_RETURN_IF_ERROR(SyncHostModel());  // device parameters and AdamW state
  const models::ParamArena& arena = model_->arena();
  checkpoint::ShardState st;
  st.step = steps_done;
  st.rank = ctx_->world_rank();
  st.topology = CheckpointTopology();
  st.pp_rank = ctx_->stage();
  st.dp_rank = ctx_->dp_rank();
  st.ep_rank = ctx_->ep_rank();
  st.arena_size = arena.size();
  st.sampler_position = steps_done;
  // ZeRO-1's state is saved by position: the digest of this rank's parts
  // lets a resume check it owns the same ones.
  const bool zero1 = ZeroOneState();
  st.trainer_json = absl::StrCat(
      "{\"step\": ", steps_done, ", \"zero_stage\": ", zero1 ? 1 : 0,
      zero1 ? absl::StrCat(", \"owned_ranges\": \"", OwnedRangesDigest(), "\"") : "", "}");
  // Dense parameters: the stage's first DP rank. Routed experts: the first
  // EP group (each of its ranks holds different experts).
  for (const models::ParamSpec& s : arena.specs()) {
    if (WritesParam(s)) st.params.push_back({s.name, s.shape, arena.params() + s.offset, nullptr});
  }
  // Node-shared parameters: the node's whole optimizer state per state name,
  // gathered on the node's first rank (Save copies or writes it before it
  // returns).
  std::vector<std::vector<float>> node_state;
  // Without ZeRO the optimizer state is replicated over the expert replicas:
  // the first EP group saves it (one arena per (stage, ep_rank)).
  if (!sharded() && ctx_->ep_group() == 0) {
    st.optim_begin = optimizers_[0]->begin();
    st.optim_end = optimizers_[0]->end();
    for (const optim::StateSpan& span : optimizers_[0]->StateSpans()) {
      st.optim_states.push_back({span.name, {span.size}, span.data, nullptr});
    }
  } else if (sharded() && !zero1) {
    // Node-shared parameters: the node's ranks each hold their parts; the
    // node's first rank gathers the whole state and the stage's first DP
    // rank (a node's first) saves it as without ZeRO, so the checkpoint
    // resumes in any layout.
    const std::vector<optim::StateSpan> spans = optimizers_[0]->StateSpans();
    node_state.resize(spans.size());
    for (size_t k = 0; k < spans.size(); ++k) {
      std::vector<float> packed;
      for (const auto& o : optimizers_) {
        const optim::StateSpan span = o->StateSpans()[k];
        packed.insert(packed.end(), span.data, span.data + span.size);
      }
      HS_RETURN_IF_ERROR(Annotate(grad_sync_->GatherNodeState(packed, &node_state[k]),
                                  "gathering the node's optimizer state"));
    }
    if (ctx_->dp_rank() == 0) {
      st.optim_begin = 0;
      st.optim_end = arena.size();
      for (size_t k = 0; k < spans.size(); ++k) {
        st.optim_states.push_back(
            {spans[k].name, {arena.size()}, node_state[k].data(), nullptr});
      }
    }
  } else if (zero1) {
    // One tensor per state: this rank's owned parts, concatenated in order.
    std::vector<std::string> names;
    int64_t total = 0;
    for (const auto& span : optimizers_[0]->StateSpans()) names.push_back(span.name);
    for (const auto& o : optimizers_) total += o->end() - o->begin();
    for (size_t k = 0; k < names.size(); ++k) {
      checkpoint::NamedSpan ns;
      ns.name = absl::StrCat(checkpoint::kZero1Prefix, "rank", st.rank, ".", names[k]);
      ns.shape = {total};
      ns.fill = [this, k](float* dst) -> absl::Status {
        for (const auto& o : optimizers_) {
          const optim::StateSpan span = o->StateSpans()[k];
          std::memcpy(dst, span.data, span.size * sizeof(float));
          dst += span.size;
        }
        return absl::OkStatus();
      };
      st.params.push_back(std::move(ns));
    }
  }
  checkpoint::ManifestInfo info;
  info.model_config_json = config::ModelConfigToHfJson(config_.model());
  info.config_text = config::ConfigToText(config_);
  HS_RETURN_IF_ERROR(Annotate(checkpointer_->Save(st, info, ctx_->CheckpointBarrier()), "checkpoint at step ",
                              steps_done));
  if (ctx_->is_logger() && !options_.quiet && log_) {
    log_->Note(absl::StrFormat("checkpoint step %d: %s, stall %.1f ms%s", steps_done,
                               checkpointer_->options().async
                                   ? "writing in the background"
                                   : checkpointer_->last_committed_dir(),
                               checkpointer_->last_stall_seconds() * 1e3,
                               checkpointer_->options().async ? "" : " (synchronous)"));
  }
  return absl::OkStatus();
}

absl::Status Trainer::RestoreCheckpoint(const std::string& dir) {
  HS_ASSIGN_OR_RETURN(auto reader, checkpoint::CheckpointReader::Open(dir));
  HS_RETURN_IF_ERROR(reader->CheckTopology(CheckpointTopology()));
  // Only ZeRO-1's state is split in a checkpoint: node-shared parameters
  // save theirs whole, as without ZeRO, and read back their parts of it.
  const bool zero1 = ZeroOneState();
  HS_ASSIGN_OR_RETURN(checkpoint::ShardMetadata meta0, reader->Metadata(0));
  const bool was_zero1 = TrainerJsonField(meta0.trainer_json, "zero_stage") == "1";
  if ((zero1 || was_zero1) && reader->manifest().topology != CheckpointTopology()) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, " was written with ", reader->manifest().topology.ToString(), " and ZeRO-",
        was_zero1 ? 1 : 0, "; this run has ", CheckpointTopology().ToString(), " and ZeRO-",
        zero1 ? 1 : 0,
        ": ZeRO-1 optimizer shards can only be resumed with the same layout. Resume with that "
        "layout, or start a fresh optimizer from the weights (hai convert --from ",
        dir, " --to HF_DIR; hai train --init-from HF_DIR)"));
  }
  // (ZeRO-1's state is not in the manifest's optimizer entries: it is saved
  // as named tensors per rank.)
  if (zero1 != was_zero1 && (reader->manifest().has_optimizer_state() || was_zero1)) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, ": written with ZeRO-", was_zero1 ? 1 : 0, ", this run uses ZeRO-", zero1 ? 1 : 0,
        "; resume with parallel.zero_stage=", was_zero1 ? 1 : 0));
  }
  // ZeRO-1's state is read back by position: the parts this rank owns must
  // be the ones it saved (they follow the buckets).
  if (zero1) {
    HS_ASSIGN_OR_RETURN(checkpoint::ShardMetadata own, reader->Metadata(ctx_->world_rank()));
    const std::string saved = TrainerJsonField(own.trainer_json, "owned_ranges");
    if (!saved.empty() && saved != OwnedRangesDigest()) {  // (absent in older checkpoints)
      return absl::FailedPreconditionError(absl::StrCat(
          dir, ": rank ", ctx_->world_rank(), " owned other parts of the parameters when it was "
          "written (ZeRO-1); resume with the same parallel.bucket_mb, or start a fresh optimizer "
          "from the weights (hai convert --from ", dir, " --to HF_DIR; hai train --init-from "
          "HF_DIR)"));
    }
  }
  models::ParamArena& arena = model_->arena();
  for (const models::ParamSpec& s : arena.specs()) {
    HS_RETURN_IF_ERROR(reader->ReadParam(s.name, s.shape, arena.params() + s.offset));
  }
  if (reader->manifest().has_optimizer_state() || was_zero1) {
    if (!zero1) {  // each optimizer's range of the whole state
      for (auto& o : optimizers_) {
        for (const optim::StateSpan& span : o->StateSpans()) {
          HS_RETURN_IF_ERROR(reader->ReadOptimizerState(ctx_->stage(), ctx_->ep_rank(), span.name, arena.size(),
                                                        o->begin(), o->end(), span.data));
        }
      }
    } else {
      const int rank = ctx_->world_rank();
      const auto names = optimizers_[0]->StateSpans();
      int64_t total = 0;
      for (const auto& o : optimizers_) total += o->end() - o->begin();
      std::vector<float> buf(total);
      for (size_t k = 0; k < names.size(); ++k) {
        HS_RETURN_IF_ERROR(reader->ReadParam(
            absl::StrCat(checkpoint::kZero1Prefix, "rank", rank, ".", names[k].name), {total},
            buf.data()));
        const float* src = buf.data();
        for (auto& o : optimizers_) {
          const optim::StateSpan span = o->StateSpans()[k];
          std::memcpy(span.data, src, span.size * sizeof(float));
          src += span.size;
        }
      }
    }
  }
  // Node-shared parameters: every rank of the node wrote the same values
  // into the node's copy; none reads them before all have.
  if (grad_sync_) HS_RETURN_IF_ERROR(grad_sync_->WaitForSharedParams());
  start_step_ = reader->step();
  resumed_from_ = dir;
  return absl::OkStatus();
}

absl::Status Trainer::TrimMetrics(const std::string& path, int64_t keep_steps) {
  std::ifstream in(path);
  if (!in) return absl::OkStatus();
  std::ostringstream kept;
  std::string line;
  while (std::getline(in, line)) {
    auto pos = line.find("\"step\": ");
    if (pos == std::string::npos) continue;
    if (std::stoll(line.substr(pos + 8)) <= keep_steps) kept << line << "\n";
  }
  return io::WriteFileAtomically(path, kept.str());
}

}  // namespace hs::train
