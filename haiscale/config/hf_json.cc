// File: haiscale/config/hf_json.cc
//
// Hugging Face DeepSeek-V2 config.json <-> hs.config.ModelConfig (declared in
// config.h). ModelConfig's field names are the config.json keys, so both
// directions walk the proto descriptor: a key added to config.proto is read
// and written with no change here. nlohmann::json exceptions are caught at
// this boundary and become absl::Status.
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "haiscale/config/config.h"
#include "haiscale/logging.h"
#include "haiscale/status.h"

namespace hs::config {
namespace {

namespace pb = google::protobuf;
using Json = nlohmann::json;

constexpr char kArchitecture[] = "DeepseekV2ForCausalLM";
constexpr char kModelType[] = "deepseek_v2";

// Keys whose HF `null` is stored as 0 (proto3 scalars without presence, plus
// q_lora_rank whose absence is the null).
bool ZeroMeansNull(const std::string& name) {
  static const std::set<std::string>* names = new std::set<std::string>{
      "q_lora_rank", "n_shared_experts",   "n_routed_experts",
      "n_group",     "topk_group",         "num_experts_per_tok"};
  return names->count(name) > 0;
}

// True when HF allows `null` for this key (read as "absent").
bool Nullable(const pb::FieldDescriptor* field) {
  return ZeroMeansNull(field->name()) || field->name() == "pad_token_id" ||
         field->name() == "rope_scaling";
}

// "expected an integer, got string \"x\"".
std::string Mismatch(const std::string& where, const char* expected,
                     const Json& value) {
  std::string shown = value.dump();
  if (shown.size() > 40) shown = shown.substr(0, 37) + "...";
  return absl::StrCat(where, ": expected ", expected, ", got ",
                      value.type_name(), " ", shown);
}

absl::Status ReadMessage(const Json& object, pb::Message* message,
                         const std::string& prefix, const std::string& source,
                         std::vector<std::string>* ignored);

// Sets `field` of `message` from JSON `value`; `key` is the dotted key for
// errors.
absl::Status ReadField(const Json& value, pb::Message* message,
                       const pb::FieldDescriptor* field, const std::string& key,
                       const std::string& source,
                       std::vector<std::string>* ignored) {
  const pb::Reflection* reflection = message->GetReflection();
  const std::string where = absl::StrCat(source, ": ", key);
  if (value.is_null()) {
    if (!Nullable(field)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": null is not allowed for this key"));
    }
    reflection->ClearField(message, field);
    return absl::OkStatus();
  }
  switch (field->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT64: {
      int64_t v = 0;
      if (value.is_number_unsigned()) {
        const uint64_t u = value.get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": ", u, " does not fit in int64"));
        }
        v = static_cast<int64_t>(u);
      } else if (value.is_number_integer()) {
        v = value.get<int64_t>();
      } else {
        return absl::InvalidArgumentError(
            Mismatch(where, "an integer", value));
      }
      // HF's null for these keys is written as 0 here; an explicit 0 means
      // the same thing.
      if (v == 0 && ZeroMeansNull(field->name())) {
        reflection->ClearField(message, field);
      } else {
        reflection->SetInt64(message, field, v);
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      if (!value.is_number()) {
        return absl::InvalidArgumentError(Mismatch(where, "a number", value));
      }
      reflection->SetDouble(message, field, value.get<double>());
      return absl::OkStatus();
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      if (!value.is_boolean()) {
        return absl::InvalidArgumentError(
            Mismatch(where, "true or false", value));
      }
      reflection->SetBool(message, field, value.get<bool>());
      return absl::OkStatus();
    case pb::FieldDescriptor::CPPTYPE_STRING:
      if (!value.is_string()) {
        return absl::InvalidArgumentError(Mismatch(where, "a string", value));
      }
      reflection->SetString(message, field, value.get<std::string>());
      return absl::OkStatus();
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      if (!value.is_object()) {
        return absl::InvalidArgumentError(Mismatch(where, "an object", value));
      }
      return ReadMessage(value, reflection->MutableMessage(message, field),
                         absl::StrCat(key, "."), source, ignored);
    default:
      break;
  }
  return absl::InternalError(
      absl::StrCat(where, ": field type not handled by the HF reader"));
}

// Reads every key of `object` into `message` (keys are field names);
// unknown keys are appended to `ignored` as prefix + key.
absl::Status ReadMessage(const Json& object, pb::Message* message,
                         const std::string& prefix, const std::string& source,
                         std::vector<std::string>* ignored) {
  const pb::Descriptor* descriptor = message->GetDescriptor();
  for (auto it = object.begin(); it != object.end(); ++it) {
    std::string name = it.key();
    // Newer transformers write rope_scaling's method as "rope_type".
    if (descriptor->name() == "RopeScaling" && name == "rope_type") {
      if (object.contains("type")) continue;
      name = "type";
    }
    const pb::FieldDescriptor* field = descriptor->FindFieldByName(name);
    if (field == nullptr) {
      ignored->push_back(prefix + it.key());
      continue;
    }
    HS_RETURN_IF_ERROR(ReadField(it.value(), message, field, prefix + name,
                                 source, ignored));
  }
  return absl::OkStatus();
}

// JSON value of a set scalar or message field (defaults already filled).
Json WriteField(const pb::Message& message, const pb::FieldDescriptor* field);

Json WriteMessage(const pb::Message& message) {
  Json object = Json::object();
  const pb::Descriptor* descriptor = message.GetDescriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const pb::FieldDescriptor* field = descriptor->field(i);
    object[field->name()] = WriteField(message, field);
  }
  return object;
}

Json WriteField(const pb::Message& message, const pb::FieldDescriptor* field) {
  const pb::Reflection* reflection = message.GetReflection();
  if (field->has_presence() && !reflection->HasField(message, field)) {
    return nullptr;
  }
  switch (field->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT64: {
      const int64_t v = reflection->GetInt64(message, field);
      if (v == 0 && ZeroMeansNull(field->name())) return nullptr;
      return v;
    }
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      return reflection->GetDouble(message, field);
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return reflection->GetBool(message, field);
    case pb::FieldDescriptor::CPPTYPE_STRING:
      return reflection->GetString(message, field);
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      return WriteMessage(reflection->GetMessage(message, field));
    default:
      break;
  }
  HS_LOG(FATAL) << "ModelConfigToHfJson: unhandled field type for "
                << field->full_name();
  return nullptr;
}

}  // namespace

absl::StatusOr<ModelConfig> ModelConfigFromHfJson(
    const std::string& json_text, const std::string& source_name,
    std::vector<std::string>* ignored_keys) {
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": invalid JSON: ", e.what()));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source_name, ": expected a JSON object, got ", root.type_name()));
  }

  ModelConfig model;
  std::vector<std::string> ignored;
  try {
    if (root.contains("model_type")) {
      const Json& type = root["model_type"];
      if (!type.is_string() || type.get<std::string>() != kModelType) {
        return absl::InvalidArgumentError(
            absl::StrCat(source_name, ": model_type: expected \"", kModelType,
                         "\", got ", type.dump()));
      }
    }
    Json rest = root;
    rest.erase("model_type");
    rest.erase("architectures");
    HS_RETURN_IF_ERROR(ReadMessage(rest, &model, "", source_name, &ignored));
  } catch (const Json::exception& e) {
    // get<>() on a checked type does not throw; this is a safety net so no
    // exception escapes.
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": ", e.what()));
  }
  if (!ignored.empty()) {
    HS_LOG(INFO) << source_name << ": ignoring keys HaiScale does not use: "
                 << absl::StrJoin(ignored, ", ");
  }
  if (ignored_keys != nullptr) *ignored_keys = std::move(ignored);
  FillModelDefaults(&model);
  return model;
}

std::string ModelConfigToHfJson(const ModelConfig& model) {
  ModelConfig filled = model;
  FillModelDefaults(&filled);
  Json root = WriteMessage(filled);
  root["architectures"] = Json::array({kArchitecture});
  root["model_type"] = kModelType;
  return root.dump(2) + "\n";
}

}  // namespace hs::config
