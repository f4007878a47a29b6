// File: haiscale/checkpoint/checkpointer.cc — see checkpointer.h.
#include "haiscale/checkpoint/checkpointer.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "haiscale/checkpoint/internal/fs_util.h"
#include "haiscale/checkpoint/safetensors_stream.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/logging.h"
#include "haiscale/status.h"

namespace hs::checkpoint {
namespace {

namespace fs = std::filesystem;
using internal::PublishDirectory;
using internal::RemoveAll;
using internal::SyncDir;

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

const std::set<std::string>& ReservedMetadataKeys() {
  static const auto* keys = new std::set<std::string>{
      "format",   "format_version", "step",       "rank",        "world",     "dp",
      "pp",       "ep",             "pp_rank",    "dp_rank",     "ep_rank",   "arena_size",
      "optim_begin", "optim_end",   "sampler_position", "trainer"};
  return *keys;
}

int64_t NumElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::Status ValidateSpan(const NamedSpan& s, const char* what) {
  if (s.name.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " with an empty name"));
  for (int64_t d : s.shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " '", s.name, "': negative dimension in its shape"));
    }
  }
  if (s.data == nullptr && !s.fill && NumElements(s.shape) > 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, " '", s.name, "': no data"));
  }
  return absl::OkStatus();
}

absl::Status ValidateState(const ShardState& s) {
  const Topology& t = s.topology;
  if (t.world < 1 || t.dp < 1 || t.pp < 1 || t.ep < 1) {
    return absl::InvalidArgumentError("checkpoint topology: every degree must be >= 1 (" +
                                      t.ToString() + ")");
  }
  if (s.rank < 0 || s.rank >= t.world) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint: rank ", s.rank, " is outside world size ", t.world));
  }
  if (s.step < 0) return absl::InvalidArgumentError(absl::StrCat("checkpoint: step ", s.step));
  std::set<std::string> names;
  for (const NamedSpan& p : s.params) {
    HS_RETURN_IF_ERROR(ValidateSpan(p, "parameter"));
    if (p.name.rfind(kOptimPrefix, 0) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter '", p.name, "': names starting with \"", kOptimPrefix, "\" are reserved"));
    }
    if (!names.insert(p.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("parameter '", p.name, "' given twice"));
    }
  }
  if (s.optim_begin < 0 || s.optim_end < s.optim_begin || s.optim_end > s.arena_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer range [", s.optim_begin, ", ", s.optim_end,
                     ") is not inside the arena [0, ", s.arena_size, ")"));
  }
  const int64_t n = s.optim_end - s.optim_begin;
  for (const NamedSpan& o : s.optim_states) {
    HS_RETURN_IF_ERROR(ValidateSpan(o, "optimizer state"));
    if (NumElements(o.shape) != n || o.shape.size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("optimizer state '", o.name, "' must have shape [", n,
                       "] (its owned range [", s.optim_begin, ", ", s.optim_end, "))"));
    }
    if (!names.insert(kOptimPrefix + o.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("optimizer state '", o.name, "' given twice"));
    }
  }
  for (const auto& [key, value] : s.metadata) {
    if (ReservedMetadataKeys().count(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata key '", key, "' is reserved by the checkpoint format"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteShard(const std::string& output_dir, const ShardState& state) {
  HS_RETURN_IF_ERROR(ValidateState(state));
  const std::string tmp_dir =
      CheckpointsDir(output_dir) + "/" + StepDirName(state.step) + ".tmp";
  HS_RETURN_IF_ERROR(io::CreateDirectories(tmp_dir));

  ShardEntry entry;
  entry.file = ShardFileName(state.rank);
  entry.rank = state.rank;
  entry.pp_rank = state.pp_rank;
  entry.dp_rank = state.dp_rank;
  entry.ep_rank = state.ep_rank;
  entry.arena_size = state.arena_size;
  entry.optim_begin = state.optim_begin;
  entry.optim_end = state.optim_end;

  std::vector<StreamTensor> tensors;
  auto add = [&](const std::string& name, const NamedSpan& span) {
    const int64_t n = NumElements(span.shape);
    const float* data = span.data;
    auto fill = span.fill;
    tensors.push_back({name, io::SafetensorsDType::kF32, span.shape,
                       [data, n, fill](const EmitFn& emit) -> absl::Status {
                         if (data != nullptr || n == 0) return emit(F32Bytes(data, n));
                         // Produced on demand, one tensor in memory at a time.
                         std::vector<float> buffer(static_cast<size_t>(n));
                         HS_RETURN_IF_ERROR(fill(buffer.data()));
                         return emit(F32Bytes(buffer.data(), n));
                       }});
    entry.tensors.push_back({name, entry.file, io::SafetensorsDType::kF32, span.shape});
  };
  for (const NamedSpan& p : state.params) add(p.name, p);
  for (const NamedSpan& o : state.optim_states) {
    add(kOptimPrefix + o.name, o);
    entry.optim_states.push_back(o.name);
  }
  std::sort(entry.tensors.begin(), entry.tensors.end(),
            [](const TensorEntry& a, const TensorEntry& b) { return a.name < b.name; });

  std::map<std::string, std::string> meta = state.metadata;
  const Topology& t = state.topology;
  meta["format"] = "haiscale-shard";
  meta["format_version"] = absl::StrCat(kFormatVersion);
  meta["step"] = absl::StrCat(state.step);
  meta["rank"] = absl::StrCat(state.rank);
  meta["world"] = absl::StrCat(t.world);
  meta["dp"] = absl::StrCat(t.dp);
  meta["pp"] = absl::StrCat(t.pp);
  meta["ep"] = absl::StrCat(t.ep);
  meta["pp_rank"] = absl::StrCat(state.pp_rank);
  meta["dp_rank"] = absl::StrCat(state.dp_rank);
  meta["ep_rank"] = absl::StrCat(state.ep_rank);
  meta["arena_size"] = absl::StrCat(state.arena_size);
  meta["optim_begin"] = absl::StrCat(state.optim_begin);
  meta["optim_end"] = absl::StrCat(state.optim_end);
  meta["sampler_position"] = absl::StrCat(state.sampler_position);
  meta["trainer"] = state.trainer_json;

  const std::string path = tmp_dir + "/" + entry.file;
  HS_ASSIGN_OR_RETURN(WrittenFile written, WriteSafetensorsStreaming(path, std::move(tensors), meta));
  entry.bytes = written.bytes;
  entry.crc32 = written.crc32;
  return io::WriteFileAtomically(tmp_dir + "/" + ShardInfoFileName(state.rank),
                                 ShardEntryToJson(entry, state.step, t));
}

absl::StatusOr<std::string> CommitCheckpoint(const std::string& output_dir, int64_t step,
                                             int world, const ManifestInfo& info,
                                             const CommitOptions& options) {
  const std::string ckpt_dir = CheckpointsDir(output_dir);
  const std::string name = StepDirName(step);
  const std::string tmp_dir = ckpt_dir + "/" + name + ".tmp";
  const std::string final_dir = ckpt_dir + "/" + name;
  if (!io::IsDirectory(tmp_dir)) {
    return absl::FailedPreconditionError(
        absl::StrCat(tmp_dir, ": missing; no rank wrote a shard for step ", step));
  }

  // 1. Every rank's description, consistent with each other and the files.
  Manifest m;
  m.step = step;
  m.model_config_json = info.model_config_json;
  m.config_text = info.config_text;
  m.extras = info.extras;
  std::map<std::string, int> owner;  // parameter -> rank
  for (int r = 0; r < world; ++r) {
    const std::string info_path = tmp_dir + "/" + ShardInfoFileName(r);
    absl::StatusOr<std::string> text = io::ReadFileToString(info_path);
    if (!text.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "rank ", r, " did not finish its shard for step ", step, " (", info_path,
          " is missing): ", text.status().message()));
    }
    ShardEntry shard;
    int64_t shard_step = -1;
    Topology topo;
    HS_RETURN_IF_ERROR(ParseShardEntry(*text, info_path, &shard, &shard_step, &topo));
    if (shard_step != step || shard.rank != r || topo.world != world) {
      return absl::FailedPreconditionError(absl::StrCat(
          info_path, ": describes rank ", shard.rank, " of step ", shard_step, " (world ",
          topo.world, "), expected rank ", r, " of step ", step, " (world ", world, ")"));
    }
    if (r == 0) {
      m.topology = topo;
    } else if (topo != m.topology) {
      return absl::FailedPreconditionError(absl::StrCat("rank ", r, " saved with topology ",
                                                        topo.ToString(), ", rank 0 with ",
                                                        m.topology.ToString()));
    }
    struct stat st;
    const std::string shard_path = tmp_dir + "/" + shard.file;
    if (::stat(shard_path.c_str(), &st) != 0 || int64_t(st.st_size) != shard.bytes) {
      return absl::DataLossError(absl::StrCat(shard_path, ": missing or not the ", shard.bytes,
                                              " bytes rank ", r, " reported"));
    }
    for (const TensorEntry& t : shard.tensors) {
      if (t.name.rfind(kOptimPrefix, 0) == 0) continue;
      auto [it, inserted] = owner.emplace(t.name, r);
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat(
            "parameter '", t.name, "' was saved by rank ", it->second, " and rank ", r,
            "; save each parameter on exactly one rank"));
      }
      m.tensors[t.name] = t;
    }
    m.shards.push_back(std::move(shard));
  }

  // 2. The manifest; then only manifest + shards stay in the directory.
  HS_RETURN_IF_ERROR(io::WriteFileAtomically(tmp_dir + "/" + kManifestFile, ManifestToJson(m)));
  std::set<std::string> keep = {kManifestFile};
  for (const ShardEntry& s : m.shards) keep.insert(s.file);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(tmp_dir, ec)) {
    if (!keep.count(e.path().filename().string())) HS_RETURN_IF_ERROR(RemoveAll(e.path().string()));
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", tmp_dir, ": ", ec.message()));
  HS_RETURN_IF_ERROR(SyncDir(tmp_dir));

  // 3. Publish, then point `latest` at it.
  HS_RETURN_IF_ERROR(PublishDirectory(tmp_dir, final_dir));
  HS_RETURN_IF_ERROR(SyncDir(ckpt_dir));
  HS_RETURN_IF_ERROR(
      io::WriteFileAtomically(ckpt_dir + "/" + kLatestFile, name + "\n"));

  // 4. Retention: the newest keep_last complete checkpoints (always this
  // one); .tmp directories of earlier steps (crashed attempts; later steps
  // may be in progress on other ranks) and leftovers of deletions.
  std::vector<std::pair<int64_t, std::string>> complete;
  std::vector<std::string> remove;
  for (const auto& e : fs::directory_iterator(ckpt_dir, ec)) {
    const std::string fname = e.path().filename().string();
    if (!e.is_directory()) {
      if (fname.rfind(std::string(kLatestFile) + ".tmp.", 0) == 0) remove.push_back(fname);
      continue;
    }
    if (auto s = ParseStepDirName(fname)) {
      complete.push_back({*s, fname});
    } else if (auto t = ParseTmpStepDirName(fname); t && *t < step) {
      remove.push_back(fname);
    } else if (fname.size() > 9 && fname.compare(fname.size() - 9, 9, ".deleting") == 0) {
      remove.push_back(fname);
    }
  }
  std::sort(complete.rbegin(), complete.rend());
  const int keep_last = std::max(1, options.keep_last);
  int kept = 0;
  for (const auto& [s, fname] : complete) {
    if (s == step || kept < keep_last) {
      ++kept;
      continue;
    }
    // Rename first so a crash mid-delete never leaves a half-deleted step_*.
    const std::string doomed = ckpt_dir + "/" + fname + ".deleting";
    if (::rename((ckpt_dir + "/" + fname).c_str(), doomed.c_str()) == 0) {
      remove.push_back(fname + ".deleting");
    }
  }
  for (const std::string& fname : remove) {
    absl::Status st = RemoveAll(ckpt_dir + "/" + fname);
    if (!st.ok()) HS_LOG(WARN) << "checkpoint cleanup: " << st.message();
  }
  return final_dir;
}

// ---------------------------------------------------------------- Checkpointer

absl::StatusOr<std::unique_ptr<Checkpointer>> Checkpointer::Create(const Options& options) {
  if (options.output_dir.empty()) {
    return absl::InvalidArgumentError("checkpointer: output_dir is empty");
  }
  if (options.keep_last < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpointer: keep_last must be >= 1, got ", options.keep_last));
  }
  HS_RETURN_IF_ERROR(io::CreateDirectories(CheckpointsDir(options.output_dir)));
  return std::unique_ptr<Checkpointer>(new Checkpointer(options));
}

Checkpointer::~Checkpointer() {
  absl::Status st = Wait();
  if (!st.ok()) HS_LOG(ERROR) << "checkpoint failed: " << st.message();
}

absl::Status Checkpointer::Wait() {
  if (!pending_) return absl::OkStatus();
  worker_.join();
  pending_ = false;
  absl::Status st = pending_status_;
  pending_status_ = absl::OkStatus();
  return st;
}

absl::Status Checkpointer::RunSave(const ShardState& state, const ManifestInfo& info,
                                   const Barrier& barrier) {
  const auto t0 = std::chrono::steady_clock::now();
  absl::Status written = Annotate(WriteShard(options_.output_dir, state),
                                  "checkpoint step ", state.step, " rank ", state.rank);
  // Always enter the barrier, even after a failed write, so the other ranks
  // do not wait forever; rank 0 then reports the missing shard.
  absl::Status met = barrier ? barrier() : absl::OkStatus();
  HS_RETURN_IF_ERROR(written);
  HS_RETURN_IF_ERROR(Annotate(met, "checkpoint step ", state.step, " barrier"));
  std::string dir;
  if (state.rank == 0) {
    absl::StatusOr<std::string> committed =
        CommitCheckpoint(options_.output_dir, state.step, state.topology.world, info,
                         CommitOptions{options_.keep_last});
    if (!committed.ok()) {
      return Annotate(committed.status(), "checkpoint step ", state.step, " commit");
    }
    dir = *committed;
  }
  std::lock_guard<std::mutex> lock(mu_);
  last_write_s_ = SecondsSince(t0);
  if (!dir.empty()) last_dir_ = dir;
  return absl::OkStatus();
}

absl::Status Checkpointer::Save(const ShardState& state, const ManifestInfo& info,
                                Barrier barrier) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!barrier && state.topology.world > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint: a barrier is required with world size ", state.topology.world));
  }
  const int64_t previous_step = pending_step_;
  absl::Status previous = Wait();
  if (!previous.ok()) {
    return Annotate(previous, "previous checkpoint (step ", previous_step, ")");
  }
  if (!options_.async) {
    absl::Status st = RunSave(state, info, barrier);
    std::lock_guard<std::mutex> lock(mu_);
    last_stall_s_ = SecondsSince(t0);
    return st;
  }
  // Snapshot: the state with every tensor copied into buffers we own.
  HS_RETURN_IF_ERROR(ValidateState(state));
  auto snapshot = std::make_shared<ShardState>(state);
  auto buffers = std::make_shared<std::vector<std::vector<float>>>();
  buffers->reserve(state.params.size() + state.optim_states.size());
  auto copy = [&](NamedSpan* span) -> absl::Status {
    const int64_t n = NumElements(span->shape);
    if (span->data != nullptr) {
      buffers->emplace_back(span->data, span->data + n);
    } else {
      buffers->emplace_back(size_t(n));
      if (n > 0) HS_RETURN_IF_ERROR(span->fill(buffers->back().data()));
    }
    span->data = buffers->back().data();
    span->fill = nullptr;
    return absl::OkStatus();
  };
  for (NamedSpan& p : snapshot->params) HS_RETURN_IF_ERROR(copy(&p));
  for (NamedSpan& o : snapshot->optim_states) HS_RETURN_IF_ERROR(copy(&o));
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_stall_s_ = SecondsSince(t0);
  }
  pending_ = true;
  pending_step_ = state.step;
  worker_ = std::thread([this, snapshot, buffers, info, barrier]() {
    pending_status_ = RunSave(*snapshot, info, barrier);
  });
  return absl::OkStatus();
}

double Checkpointer::last_stall_seconds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_stall_s_;
}

double Checkpointer::last_write_seconds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_write_s_;
}

std::string Checkpointer::last_committed_dir() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_dir_;
}

}  // namespace hs::checkpoint
