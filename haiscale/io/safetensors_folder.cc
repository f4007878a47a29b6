// File: haiscale/io/safetensors_folder.cc
//
// SafetensorsFolder (haiscale/io/safetensors.h): a Hugging Face model folder,
// sharded through model.safetensors.index.json ({"weight_map": {tensor:
// shard}}) or a single model.safetensors.
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/io/safetensors.h"
#include "haiscale/status.h"

namespace hs::io {
namespace {

using Json = nlohmann::json;

bool PathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SafetensorsFolder>> SafetensorsFolder::Open(
    const std::string& dir) {
  auto folder = std::make_unique<SafetensorsFolder>();
  folder->dir_ = dir;
  const std::string index_path = dir + "/model.safetensors.index.json";
  const std::string single_path = dir + "/model.safetensors";

  if (!PathExists(index_path)) {
    if (!PathExists(single_path)) {
      return absl::NotFoundError(absl::StrCat(
          dir, ": neither model.safetensors.index.json nor model.safetensors "
               "found"));
    }
    HS_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                        SafetensorsFile::Open(single_path));
    for (const std::string& name : file->names()) {
      folder->by_name_[name] = file.get();
    }
    folder->names_ = file->names();
    folder->files_.push_back(std::move(file));
    return folder;
  }

  HS_ASSIGN_OR_RETURN(std::string text, ReadFileToString(index_path));
  std::map<std::string, std::string> weight_map;
  try {
    const Json index = Json::parse(text);
    if (!index.is_object() || !index.contains("weight_map") ||
        !index["weight_map"].is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(
          index_path, ": expected an object with a \"weight_map\" object"));
    }
    for (auto it = index["weight_map"].begin();
         it != index["weight_map"].end(); ++it) {
      if (!it.value().is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(index_path, ": weight_map.", it.key(),
                         ": expected a shard file name, got ",
                         it.value().type_name()));
      }
      weight_map[it.key()] = it.value().get<std::string>();
    }
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(index_path, ": invalid JSON: ", e.what()));
  }

  std::map<std::string, const SafetensorsFile*> shards;
  for (const auto& [name, shard] : weight_map) {
    if (!IsConfinedRelativePath(shard)) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path, ": weight_map.", name, ": shard '", shard,
                       "' must be a relative path inside the folder"));
    }
    if (shards.count(shard) == 0) {
      HS_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                          SafetensorsFile::Open(dir + "/" + shard));
      shards[shard] = file.get();
      folder->files_.push_back(std::move(file));
    }
    const SafetensorsFile* file = shards[shard];
    if (!file->Contains(name)) {
      return absl::NotFoundError(absl::StrCat(
          index_path, ": weight_map puts tensor '", name, "' in ", shard,
          ", which does not hold it"));
    }
    folder->by_name_[name] = file;
    folder->names_.push_back(name);
  }
  return folder;
}

bool SafetensorsFolder::Contains(const std::string& name) const {
  return by_name_.count(name) > 0;
}

absl::StatusOr<const SafetensorsFile*> SafetensorsFolder::File(
    const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) {
    return absl::NotFoundError(
        absl::StrCat(dir_, ": no tensor named '", name, "'"));
  }
  return it->second;
}

absl::StatusOr<TensorInfo> SafetensorsFolder::Info(
    const std::string& name) const {
  HS_ASSIGN_OR_RETURN(const SafetensorsFile* file, File(name));
  return file->Info(name);
}

absl::StatusOr<absl::Span<const uint8_t>> SafetensorsFolder::Raw(
    const std::string& name) const {
  HS_ASSIGN_OR_RETURN(const SafetensorsFile* file, File(name));
  return file->Raw(name);
}

absl::Status SafetensorsFolder::ReadAsF32(const std::string& name, float* dst,
                                          int64_t n) const {
  HS_ASSIGN_OR_RETURN(const SafetensorsFile* file, File(name));
  return file->ReadAsF32(name, dst, n);
}

}  // namespace hs::io
