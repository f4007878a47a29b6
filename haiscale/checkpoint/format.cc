// File: haiscale/checkpoint/format.cc — see format.h.
#include "haiscale/checkpoint/format.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"

namespace hs::checkpoint {
namespace {

using Json = nlohmann::json;

std::optional<int64_t> ParseDigits(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  int64_t v = 0;
  if (!absl::SimpleAtoi(s, &v)) return std::nullopt;
  return v;
}

// Field readers that turn a missing or mistyped field into a clear error.
// They throw std::runtime_error with the message; the public parsers catch
// it (and nlohmann's exceptions) and wrap it into a Status.
struct FieldError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const Json& Field(const Json& obj, const char* key, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key)) {
    throw FieldError(absl::StrCat(where, ": missing field \"", key, "\""));
  }
  return obj.at(key);
}

int64_t IntField(const Json& obj, const char* key, const std::string& where) {
  const Json& v = Field(obj, key, where);
  if (!v.is_number_integer()) {
    throw FieldError(absl::StrCat(where, ".", key, ": expected an integer, got ", v.type_name()));
  }
  return v.get<int64_t>();
}

std::string StringField(const Json& obj, const char* key, const std::string& where) {
  const Json& v = Field(obj, key, where);
  if (!v.is_string()) {
    throw FieldError(absl::StrCat(where, ".", key, ": expected a string, got ", v.type_name()));
  }
  return v.get<std::string>();
}

// A shard file named by a manifest: a plain file inside the checkpoint
// directory, so a damaged or hostile manifest cannot point a reader
// elsewhere.
std::string ShardFileField(const Json& obj, const char* key, const std::string& where) {
  std::string file = StringField(obj, key, where);
  if (!io::IsConfinedRelativePath(file) || file.find('/') != std::string::npos) {
    throw FieldError(absl::StrCat(where, ".", key, ": '", file,
                                  "' must be a file name inside the checkpoint directory "
                                  "(no '/', no '..')"));
  }
  return file;
}

std::vector<int64_t> ShapeField(const Json& obj, const char* key, const std::string& where) {
  const Json& v = Field(obj, key, where);
  if (!v.is_array()) {
    throw FieldError(absl::StrCat(where, ".", key, ": expected an array, got ", v.type_name()));
  }
  std::vector<int64_t> shape;
  for (const Json& d : v) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) {
      throw FieldError(absl::StrCat(where, ".", key, ": dimensions must be integers >= 0"));
    }
    shape.push_back(d.get<int64_t>());
  }
  return shape;
}

Json TopologyJson(const Topology& t) {
  return Json{{"world", t.world}, {"dp", t.dp}, {"pp", t.pp}, {"ep", t.ep}};
}

Topology TopologyFrom(const Json& obj, const std::string& where) {
  const Json& t = Field(obj, "topology", where);
  const std::string w = where + ".topology";
  Topology topo;
  topo.world = int(IntField(t, "world", w));
  topo.dp = int(IntField(t, "dp", w));
  topo.pp = int(IntField(t, "pp", w));
  topo.ep = int(IntField(t, "ep", w));
  if (topo.world < 1 || topo.dp < 1 || topo.pp < 1 || topo.ep < 1) {
    throw FieldError(absl::StrCat(w, ": every degree must be >= 1 (", topo.ToString(), ")"));
  }
  return topo;
}

Json TensorJson(const TensorEntry& t, bool with_shard) {
  Json j{{"dtype", io::SafetensorsDTypeName(t.dtype)}, {"shape", t.shape}};
  if (with_shard) j["shard"] = t.shard;
  return j;
}

TensorEntry TensorFrom(const std::string& name, const Json& j, const std::string& shard,
                       const std::string& where) {
  TensorEntry t;
  t.name = name;
  t.shard = shard.empty() ? ShardFileField(j, "shard", where) : shard;
  auto dtype = io::ParseSafetensorsDType(StringField(j, "dtype", where));
  if (!dtype.ok()) throw FieldError(absl::StrCat(where, ".dtype: ", dtype.status().message()));
  t.dtype = *dtype;
  t.shape = ShapeField(j, "shape", where);
  return t;
}

Json ShardJson(const ShardEntry& s) {
  Json tensors = Json::object();
  for (const TensorEntry& t : s.tensors) tensors[t.name] = TensorJson(t, false);
  return Json{{"file", s.file},
              {"rank", s.rank},
              {"pp_rank", s.pp_rank},
              {"dp_rank", s.dp_rank},
              {"ep_rank", s.ep_rank},
              {"bytes", s.bytes},
              {"crc32", s.crc32},
              {"arena_size", s.arena_size},
              {"optim_begin", s.optim_begin},
              {"optim_end", s.optim_end},
              {"optim_states", s.optim_states},
              {"tensors", tensors}};
}

ShardEntry ShardFrom(const Json& j, const std::string& where) {
  ShardEntry s;
  s.file = ShardFileField(j, "file", where);
  s.rank = int(IntField(j, "rank", where));
  s.pp_rank = int(IntField(j, "pp_rank", where));
  s.dp_rank = int(IntField(j, "dp_rank", where));
  s.ep_rank = int(IntField(j, "ep_rank", where));
  s.bytes = IntField(j, "bytes", where);
  const int64_t crc = IntField(j, "crc32", where);
  if (crc < 0 || crc > 0xffffffffLL) {
    throw FieldError(absl::StrCat(where, ".crc32: not a 32-bit value"));
  }
  s.crc32 = uint32_t(crc);
  s.arena_size = IntField(j, "arena_size", where);
  s.optim_begin = IntField(j, "optim_begin", where);
  s.optim_end = IntField(j, "optim_end", where);
  if (s.optim_begin < 0 || s.optim_end < s.optim_begin || s.optim_end > s.arena_size) {
    throw FieldError(absl::StrCat(where, ": optimizer range [", s.optim_begin, ", ", s.optim_end,
                                  ") is not inside the arena [0, ", s.arena_size, ")"));
  }
  const Json& states = Field(j, "optim_states", where);
  if (!states.is_array()) throw FieldError(absl::StrCat(where, ".optim_states: expected an array"));
  for (const Json& st : states) {
    if (!st.is_string()) throw FieldError(absl::StrCat(where, ".optim_states: expected strings"));
    s.optim_states.push_back(st.get<std::string>());
  }
  const Json& tensors = Field(j, "tensors", where);
  if (!tensors.is_object()) throw FieldError(absl::StrCat(where, ".tensors: expected an object"));
  for (auto it = tensors.begin(); it != tensors.end(); ++it) {
    s.tensors.push_back(TensorFrom(it.key(), it.value(), s.file,
                                   absl::StrCat(where, ".tensors[\"", it.key(), "\"]")));
  }
  return s;
}

}  // namespace

std::string Topology::ToString() const {
  return absl::StrCat("world=", world, " dp=", dp, " pp=", pp, " ep=", ep);
}

std::string StepDirName(int64_t step) { return absl::StrFormat("step_%08d", step); }

std::optional<int64_t> ParseStepDirName(const std::string& name) {
  if (name.rfind("step_", 0) != 0) return std::nullopt;
  return ParseDigits(name.substr(5));
}

std::optional<int64_t> ParseTmpStepDirName(const std::string& name) {
  const std::string suffix = ".tmp";
  if (name.size() <= suffix.size() ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return std::nullopt;
  }
  return ParseStepDirName(name.substr(0, name.size() - suffix.size()));
}

std::string ShardFileName(int rank) { return absl::StrFormat("rank_%05d.safetensors", rank); }
std::string ShardInfoFileName(int rank) { return absl::StrFormat("rank_%05d.json", rank); }
std::string CheckpointsDir(const std::string& output_dir) {
  return output_dir + "/" + kCheckpointsDir;
}

bool Manifest::has_optimizer_state() const {
  for (const ShardEntry& s : shards) {
    if (!s.optim_states.empty() && s.optim_end > s.optim_begin) return true;
  }
  return false;
}

std::string ManifestToJson(const Manifest& m) {
  Json j;
  j["format"] = "haiscale-checkpoint";
  j["format_version"] = m.format_version;
  j["step"] = m.step;
  j["topology"] = TopologyJson(m.topology);
  if (m.model_config_json.empty()) {
    j["model_config"] = nullptr;
  } else {
    // Stored as an object so the manifest stays readable; invalid JSON text
    // is kept as a string rather than lost.
    Json parsed = Json::parse(m.model_config_json, nullptr, /*allow_exceptions=*/false);
    j["model_config"] = parsed.is_discarded() ? Json(m.model_config_json) : parsed;
  }
  j["config_text"] = m.config_text;
  j["extras"] = m.extras;
  Json shards = Json::array();
  for (const ShardEntry& s : m.shards) shards.push_back(ShardJson(s));
  j["shards"] = shards;
  Json tensors = Json::object();
  for (const auto& [name, t] : m.tensors) tensors[name] = TensorJson(t, true);
  j["tensors"] = tensors;
  return j.dump(1) + "\n";
}

absl::StatusOr<Manifest> ParseManifest(const std::string& text, const std::string& source) {
  Manifest m;
  try {
    const Json j = Json::parse(text);
    if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(source, ": not a JSON object"));
    if (StringField(j, "format", source) != "haiscale-checkpoint") {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": \"format\" is not \"haiscale-checkpoint\""));
    }
    m.format_version = int(IntField(j, "format_version", source));
    if (m.format_version != kFormatVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat(source, ": format_version ", m.format_version, " is not supported (this ",
                       "HaiScale reads version ", kFormatVersion, ")"));
    }
    m.step = IntField(j, "step", source);
    m.topology = TopologyFrom(j, source);
    const Json& mc = Field(j, "model_config", source);
    if (mc.is_string()) {
      m.model_config_json = mc.get<std::string>();
    } else if (!mc.is_null()) {
      m.model_config_json = mc.dump(2) + "\n";
    }
    m.config_text = StringField(j, "config_text", source);
    const Json& extras = Field(j, "extras", source);
    for (auto it = extras.begin(); it != extras.end(); ++it) {
      if (!it.value().is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": extras.", it.key(), ": expected a string"));
      }
      m.extras[it.key()] = it.value().get<std::string>();
    }
    const Json& shards = Field(j, "shards", source);
    if (!shards.is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": \"shards\" must be an array"));
    }
    for (size_t i = 0; i < shards.size(); ++i) {
      m.shards.push_back(ShardFrom(shards[i], absl::StrCat(source, ": shards[", i, "]")));
      if (m.shards.back().rank != int(i)) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": shards[", i, "] has rank ",
                                                       m.shards.back().rank));
      }
    }
    if (int(m.shards.size()) != m.topology.world) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": ", m.shards.size(),
                                                     " shards for world size ", m.topology.world));
    }
    const Json& tensors = Field(j, "tensors", source);
    if (!tensors.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": \"tensors\" must be an object"));
    }
    for (auto it = tensors.begin(); it != tensors.end(); ++it) {
      m.tensors[it.key()] =
          TensorFrom(it.key(), it.value(), "", absl::StrCat(source, ": tensors[\"", it.key(), "\"]"));
    }
  } catch (const FieldError& e) {
    return absl::InvalidArgumentError(e.what());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid JSON: ", e.what()));
  }
  return m;
}

std::string ShardEntryToJson(const ShardEntry& shard, int64_t step, const Topology& topology) {
  Json j = ShardJson(shard);
  j["step"] = step;
  j["topology"] = TopologyJson(topology);
  return j.dump(1) + "\n";
}

absl::Status ParseShardEntry(const std::string& text, const std::string& source,
                             ShardEntry* shard, int64_t* step, Topology* topology) {
  try {
    const Json j = Json::parse(text);
    *shard = ShardFrom(j, source);
    *step = IntField(j, "step", source);
    *topology = TopologyFrom(j, source);
  } catch (const FieldError& e) {
    return absl::InvalidArgumentError(e.what());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid JSON: ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace hs::checkpoint
