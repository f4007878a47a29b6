// File: haiscale/checkpoint/reader.cc — see reader.h.
#include "haiscale/checkpoint/reader.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "haiscale/checkpoint/safetensors_stream.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/logging.h"
#include "haiscale/status.h"

namespace hs::checkpoint {
namespace {

namespace fs = std::filesystem;

std::string ShapeStr(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// The manifest of `dir` plus the size of every shard, without reading them.
absl::StatusOr<Manifest> ReadManifestChecked(const std::string& dir) {
  const std::string path = dir + "/" + kManifestFile;
  if (!io::IsDirectory(dir)) {
    return absl::NotFoundError(absl::StrCat(dir, ": no such checkpoint directory"));
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(
        path, ": missing (an incomplete checkpoint, e.g. a crash before rank 0 committed it, ",
        "or not a checkpoint directory)"));
  }
  HS_ASSIGN_OR_RETURN(std::string text, io::ReadFileToString(path));
  HS_ASSIGN_OR_RETURN(Manifest m, ParseManifest(text, path));
  const std::string base = fs::path(dir).lexically_normal().filename().string();
  if (auto s = ParseStepDirName(base); s && *s != m.step) {
    return absl::DataLossError(
        absl::StrCat(path, ": step ", m.step, " does not match the directory name ", base));
  }
  for (const ShardEntry& shard : m.shards) {
    const std::string shard_path = dir + "/" + shard.file;
    if (::stat(shard_path.c_str(), &st) != 0) {
      return absl::NotFoundError(
          absl::StrCat(shard_path, ": missing (the manifest lists it for rank ", shard.rank, ")"));
    }
    if (int64_t(st.st_size) != shard.bytes) {
      return absl::DataLossError(absl::StrCat(shard_path, ": ", st.st_size,
                                              " bytes, the manifest says ", shard.bytes,
                                              " (truncated or overwritten)"));
    }
  }
  return m;
}

int64_t GetInt(const std::map<std::string, std::string>& meta, const std::string& key,
               const std::string& path, absl::Status* status) {
  auto it = meta.find(key);
  int64_t v = 0;
  if (it == meta.end() || !absl::SimpleAtoi(it->second, &v)) {
    if (status->ok()) {
      *status = absl::DataLossError(
          absl::StrCat(path, ": __metadata__.", key, " is missing or not an integer"));
    }
  }
  return v;
}

}  // namespace

absl::Status CheckComplete(const std::string& dir) { return ReadManifestChecked(dir).status(); }

absl::Status VerifyCheckpoint(const std::string& dir) {
  HS_ASSIGN_OR_RETURN(std::unique_ptr<CheckpointReader> reader, CheckpointReader::Open(dir));
  return reader->VerifyAll();
}

absl::StatusOr<std::optional<std::string>> FindLatest(const std::string& output_dir) {
  const std::string ckpt_dir = CheckpointsDir(output_dir);
  if (!io::IsDirectory(ckpt_dir)) return std::optional<std::string>();
  const std::string latest_path = ckpt_dir + "/" + kLatestFile;
  // Candidates, best first: the one `latest` names, then every step_*
  // directory newest first. The first intact one wins; every candidate
  // passed over is reported.
  std::vector<std::string> order;
  std::vector<std::string> skipped;
  struct stat st;
  if (::stat(latest_path.c_str(), &st) == 0) {
    absl::StatusOr<std::string> text = io::ReadFileToString(latest_path);
    if (!text.ok()) {
      skipped.push_back(std::string(text.status().message()));
    } else {
      const std::string name(absl::StripAsciiWhitespace(*text));
      if (ParseStepDirName(name)) {
        order.push_back(name);
      } else {
        skipped.push_back(
            absl::StrCat(latest_path, " holds '", name, "', not a step_* directory name"));
      }
    }
  } else {
    skipped.push_back(absl::StrCat(latest_path, " is missing"));
  }
  std::vector<std::pair<int64_t, std::string>> steps;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(ckpt_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory()) continue;
    if (auto s = ParseStepDirName(name)) steps.push_back({*s, name});
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", ckpt_dir, ": ", ec.message()));
  std::sort(steps.rbegin(), steps.rend());
  for (const auto& [step, name] : steps) {
    if (order.empty() || name != order.front()) order.push_back(name);
  }
  for (const std::string& name : order) {
    const std::string dir = ckpt_dir + "/" + name;
    if (!io::IsDirectory(dir)) {
      skipped.push_back(absl::StrCat(latest_path, " names ", name, ", which does not exist"));
      continue;
    }
    absl::Status ok = VerifyCheckpoint(dir);
    if (ok.ok()) {
      if (!skipped.empty()) {
        HS_LOG(WARN) << "DAMAGED OR INCOMPLETE CHECKPOINTS SKIPPED, resuming from " << dir
                     << " instead:\n  " << absl::StrJoin(skipped, "\n  ");
      }
      return std::optional<std::string>(dir);
    }
    skipped.push_back(absl::StrCat("skipped ", name, ": ", ok.message()));
  }
  if (steps.empty()) return std::optional<std::string>();
  return absl::DataLossError(absl::StrCat(ckpt_dir, " has ", steps.size(),
                                          " checkpoint directories but none is intact:\n  ",
                                          absl::StrJoin(skipped, "\n  ")));
}

absl::StatusOr<std::unique_ptr<CheckpointReader>> CheckpointReader::Open(const std::string& dir) {
  HS_ASSIGN_OR_RETURN(Manifest m, ReadManifestChecked(dir));
  std::unique_ptr<CheckpointReader> r(new CheckpointReader());
  r->dir_ = dir;
  r->shards_.resize(m.shards.size());
  r->manifest_ = std::move(m);
  return r;
}

absl::Status CheckpointReader::CheckTopology(const Topology& now) const {
  const Topology& was = manifest_.topology;
  if (was == now || !manifest_.has_optimizer_state()) return absl::OkStatus();
  if (was.pp != now.pp || was.ep != now.ep) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir_, " was written with ", was.ToString(), ", this run has ", now.ToString(),
        ": optimizer state is sharded per pipeline stage and expert-parallel rank, so it "
        "cannot be re-sharded onto a different pp/ep. Resume with pp=",
        was.pp, " ep=", was.ep,
        ", or start a fresh optimizer from the weights (hai convert --from ", dir_,
        " --to HF_DIR, then hai train --init-from HF_DIR)"));
  }
  HS_LOG(INFO) << dir_ << ": re-sharding optimizer state from dp=" << was.dp << " to dp="
               << now.dp;
  return absl::OkStatus();
}

bool CheckpointReader::HasParam(const std::string& name) const {
  return manifest_.tensors.count(name) > 0;
}

absl::StatusOr<const io::SafetensorsFile*> CheckpointReader::OpenShardLocked(int rank) {
  if (rank < 0 || rank >= int(manifest_.shards.size())) {
    return absl::InvalidArgumentError(absl::StrCat(dir_, ": no shard for rank ", rank,
                                                   " (world size ", manifest_.shards.size(), ")"));
  }
  if (shards_[rank]) return shards_[rank].get();
  const ShardEntry& entry = manifest_.shards[rank];
  const std::string path = dir_ + "/" + entry.file;
  int64_t size = 0;
  HS_ASSIGN_OR_RETURN(uint32_t crc, FileCrc32(path, &size));
  if (size != entry.bytes) {
    return absl::DataLossError(absl::StrCat(path, ": ", size, " bytes, the manifest says ",
                                            entry.bytes, " (truncated or overwritten)"));
  }
  if (crc != entry.crc32) {
    return absl::DataLossError(absl::StrFormat(
        "%s: CRC32 mismatch: the file has 0x%08x, the manifest says 0x%08x (the file is "
        "corrupt)",
        path, crc, entry.crc32));
  }
  absl::StatusOr<std::unique_ptr<io::SafetensorsFile>> file = io::SafetensorsFile::Open(path);
  if (!file.ok()) return absl::DataLossError(file.status().message());
  // The file's tensors must be exactly the manifest's.
  for (const TensorEntry& t : entry.tensors) {
    if (!(*file)->Contains(t.name)) {
      return absl::DataLossError(absl::StrCat(path, ": tensor '", t.name,
                                              "' is listed in the manifest but missing from "
                                              "the file"));
    }
    HS_ASSIGN_OR_RETURN(io::TensorInfo info, (*file)->Info(t.name));
    if (info.shape != t.shape || info.dtype != t.dtype) {
      return absl::DataLossError(absl::StrCat(
          path, ": tensor '", t.name, "' is ", io::SafetensorsDTypeName(info.dtype),
          ShapeStr(info.shape), " in the file but ", io::SafetensorsDTypeName(t.dtype),
          ShapeStr(t.shape), " in the manifest"));
    }
  }
  if ((*file)->names().size() != entry.tensors.size()) {
    return absl::DataLossError(absl::StrCat(path, ": holds ", (*file)->names().size(),
                                            " tensors, the manifest lists ",
                                            entry.tensors.size()));
  }
  shards_[rank] = std::move(*file);
  return shards_[rank].get();
}

absl::StatusOr<const io::SafetensorsFile*> CheckpointReader::Shard(int rank) {
  std::lock_guard<std::mutex> lock(mu_);
  return OpenShardLocked(rank);
}

absl::Status CheckpointReader::VerifyAll() {
  for (int r = 0; r < int(manifest_.shards.size()); ++r) HS_RETURN_IF_ERROR(Shard(r).status());
  return absl::OkStatus();
}

absl::Status CheckpointReader::ReadParam(const std::string& name,
                                         const std::vector<int64_t>& shape, float* dst) {
  auto it = manifest_.tensors.find(name);
  if (it == manifest_.tensors.end()) {
    return absl::NotFoundError(absl::StrCat(dir_, ": the checkpoint has no tensor '", name,
                                            "' (the model expects it)"));
  }
  const TensorEntry& t = it->second;
  if (t.shape != shape) {
    return absl::InvalidArgumentError(absl::StrCat(dir_, "/", t.shard, ": tensor '", name,
                                                   "' has shape ", ShapeStr(t.shape),
                                                   ", the model expects ", ShapeStr(shape)));
  }
  int rank = -1;
  for (const ShardEntry& s : manifest_.shards) {
    if (s.file == t.shard) rank = s.rank;
  }
  if (rank < 0) {
    return absl::DataLossError(absl::StrCat(dir_, "/", kManifestFile, ": tensor '", name,
                                            "' is in ", t.shard, ", which is not a shard"));
  }
  HS_ASSIGN_OR_RETURN(const io::SafetensorsFile* file, Shard(rank));
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return file->ReadAsF32(name, dst, n);
}

absl::Status CheckpointReader::ReadOptimizerState(int pp_rank, int ep_rank,
                                                  const std::string& state, int64_t arena_size,
                                                  int64_t begin, int64_t end, float* dst) {
  if (begin < 0 || end < begin || end > arena_size) {
    return absl::InvalidArgumentError(absl::StrCat("optimizer range [", begin, ", ", end,
                                                   ") is not inside [0, ", arena_size, ")"));
  }
  if (!manifest_.has_optimizer_state()) {
    return absl::NotFoundError(absl::StrCat(
        dir_, ": the checkpoint holds parameters only, no optimizer state (e.g. made by hai "
              "convert); start the optimizer fresh"));
  }
  std::vector<const ShardEntry*> holders;
  for (const ShardEntry& s : manifest_.shards) {
    if (s.pp_rank != pp_rank || s.ep_rank != ep_rank || s.optim_end <= s.optim_begin) continue;
    if (s.arena_size != arena_size) {
      return absl::FailedPreconditionError(absl::StrCat(
          dir_, "/", s.file, ": the arena of stage pp_rank=", pp_rank, " ep_rank=", ep_rank,
          " has ", s.arena_size, " floats in the checkpoint but ", arena_size,
          " in this run (the model config or the layout differs)"));
    }
    if (std::find(s.optim_states.begin(), s.optim_states.end(), state) == s.optim_states.end()) {
      return absl::NotFoundError(absl::StrCat(dir_, "/", s.file, ": no optimizer state '", state,
                                              "' (it holds: ", absl::StrJoin(s.optim_states, ", "),
                                              ")"));
    }
    holders.push_back(&s);
  }
  std::sort(holders.begin(), holders.end(), [](const ShardEntry* a, const ShardEntry* b) {
    return a->optim_begin < b->optim_begin;
  });
  // Walk [begin, end): each element comes from the first shard (by range
  // start) that holds it; replicated ranges (plain DDP) are read once.
  int64_t pos = begin;
  for (const ShardEntry* s : holders) {
    if (pos >= end) break;
    if (s->optim_end <= pos) continue;
    if (s->optim_begin > pos) break;  // gap
    const int64_t stop = std::min(end, s->optim_end);
    HS_ASSIGN_OR_RETURN(const io::SafetensorsFile* file, Shard(s->rank));
    HS_ASSIGN_OR_RETURN(absl::Span<const uint8_t> raw, file->Raw(kOptimPrefix + state));
    if (int64_t(raw.size()) != (s->optim_end - s->optim_begin) * int64_t(sizeof(float))) {
      return absl::DataLossError(absl::StrCat(file->path(), ": tensor '", kOptimPrefix, state,
                                              "' is ", raw.size(), " bytes, its range [",
                                              s->optim_begin, ", ", s->optim_end,
                                              ") needs that many floats"));
    }
    const int64_t from = pos - s->optim_begin;
    std::memcpy(dst + (pos - begin), raw.data() + from * int64_t(sizeof(float)),
                size_t(stop - pos) * sizeof(float));
    pos = stop;
  }
  if (pos < end) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir_, ": optimizer state '", state, "' of arena elements [", pos, ", ", end,
        ") of stage pp_rank=", pp_rank, " ep_rank=", ep_rank, " is in no shard"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ShardMetadata> CheckpointReader::Metadata(int rank) {
  HS_ASSIGN_OR_RETURN(const io::SafetensorsFile* file, Shard(rank));
  const auto& meta = file->metadata();
  const std::string& path = file->path();
  absl::Status st;
  ShardMetadata m;
  auto it = meta.find("format");
  if (it == meta.end() || it->second != "haiscale-shard") {
    return absl::DataLossError(absl::StrCat(path, ": not a HaiScale shard (__metadata__.format)"));
  }
  m.step = GetInt(meta, "step", path, &st);
  m.rank = int(GetInt(meta, "rank", path, &st));
  m.topology.world = int(GetInt(meta, "world", path, &st));
  m.topology.dp = int(GetInt(meta, "dp", path, &st));
  m.topology.pp = int(GetInt(meta, "pp", path, &st));
  m.topology.ep = int(GetInt(meta, "ep", path, &st));
  m.pp_rank = int(GetInt(meta, "pp_rank", path, &st));
  m.dp_rank = int(GetInt(meta, "dp_rank", path, &st));
  m.ep_rank = int(GetInt(meta, "ep_rank", path, &st));
  m.arena_size = GetInt(meta, "arena_size", path, &st);
  m.optim_begin = GetInt(meta, "optim_begin", path, &st);
  m.optim_end = GetInt(meta, "optim_end", path, &st);
  m.sampler_position = GetInt(meta, "sampler_position", path, &st);
  HS_RETURN_IF_ERROR(st);
  static const char* kReserved[] = {"format",     "format_version", "step",       "rank",
                                    "world",      "dp",             "pp",         "ep",
                                    "pp_rank",    "dp_rank",        "ep_rank",    "arena_size",
                                    "optim_begin", "optim_end",     "sampler_position",
                                    "trainer"};
  for (const auto& [k, v] : meta) {
    if (std::find(std::begin(kReserved), std::end(kReserved), k) == std::end(kReserved)) {
      m.extra[k] = v;
    }
  }
  if (auto t = meta.find("trainer"); t != meta.end()) m.trainer_json = t->second;
  const ShardEntry& e = manifest_.shards[rank];
  if (m.step != manifest_.step || m.rank != rank || m.topology != manifest_.topology ||
      m.optim_begin != e.optim_begin || m.optim_end != e.optim_end) {
    return absl::DataLossError(absl::StrCat(path, ": metadata (step ", m.step, ", rank ", m.rank,
                                            ", ", m.topology.ToString(),
                                            ") disagrees with the manifest"));
  }
  return m;
}

absl::StatusOr<LoadedCheckpoint> Load(const std::string& dir, int rank) {
  HS_ASSIGN_OR_RETURN(std::unique_ptr<CheckpointReader> reader, CheckpointReader::Open(dir));
  LoadedCheckpoint out;
  out.dir = dir;
  HS_ASSIGN_OR_RETURN(out.metadata, reader->Metadata(rank));
  HS_ASSIGN_OR_RETURN(const io::SafetensorsFile* file, reader->Shard(rank));
  for (const std::string& name : file->names()) {
    HS_ASSIGN_OR_RETURN(io::TensorInfo info, file->Info(name));
    std::vector<float>& v = out.tensors[name];
    v.resize(size_t(info.num_elements()));
    HS_RETURN_IF_ERROR(file->ReadAsF32(name, v.data(), info.num_elements()));
  }
  out.manifest = reader->manifest();
  return out;
}

}  // namespace hs::checkpoint
