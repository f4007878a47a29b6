// File: haiscale/config/config.cc
//
// Text-format loading, defaults and `--set` overrides for hs.config.RunConfig
// (see config.h). Validation lives in validate.cc, HF config.json conversion
// in hf_json.cc.
#include "haiscale/config/config.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/message.h"
#include "google/protobuf/text_format.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"

namespace hs::config {
namespace {

namespace pb = google::protobuf;

// The dotted field path ("model.hidden_size") at 0-based (line, column) of
// text-format `text`, found by a light scan that tracks `name {` sections
// and `name:` fields (strings and # comments skipped). Protobuf's own
// messages name the problem but not always the field; this adds it. Columns
// follow protobuf's tokenizer: a tab advances to the next multiple of 8.
std::string FieldPathAt(const std::string& text, int line, int column) {
  std::vector<std::string> sections;
  std::string current;  // the last field name read in the current section
  char last_symbol = 0;  // ':' right after a field name; values follow it
  int bracket_depth = 0;  // inside a [a, b] list only values appear
  int l = 0, c = 0;
  size_t i = 0;
  auto advance = [&](size_t n) {
    for (size_t k = 0; k < n && i < text.size(); ++k, ++i) {
      if (text[i] == '\n') {
        ++l;
        c = 0;
      } else if (text[i] == '\t') {
        c += 8 - c % 8;
      } else {
        ++c;
      }
    }
  };
  auto word_end = [&](size_t from) {
    while (from < text.size() &&
           (absl::ascii_isalnum(text[from]) || text[from] == '_' ||
            text[from] == '.' || text[from] == '+' || text[from] == '-')) {
      ++from;
    }
    return from;
  };
  // Protobuf reports an error at the token after the offending one, so the
  // scan stops just before (line, column).
  while (i < text.size() && (l < line || (l == line && c < column))) {
    const char ch = text[i];
    if (ch == '#') {
      while (i < text.size() && text[i] != '\n') advance(1);
    } else if (ch == '"' || ch == '\'') {
      advance(1);
      while (i < text.size() && text[i] != ch && text[i] != '\n') {
        advance(text[i] == '\\' ? 2 : 1);
      }
      advance(1);
      last_symbol = 'v';
    } else if (absl::ascii_isalpha(ch) || ch == '_') {
      const size_t end = word_end(i);
      if (last_symbol != ':' && bracket_depth == 0) {
        current = text.substr(i, end - i);
      }
      advance(end - i);
      last_symbol = 'w';
    } else if (absl::ascii_isdigit(ch) || ch == '-' || ch == '.') {
      advance(word_end(i) - i);  // a number such as -1.5e-3
      last_symbol = 'v';
    } else {
      if (ch == '[') ++bracket_depth;
      if (ch == ']' && bracket_depth > 0) --bracket_depth;
      if (ch == '{' || ch == '<') {
        sections.push_back(current);
        current.clear();
      }
      if ((ch == '}' || ch == '>') && !sections.empty()) {
        current = sections.back();
        sections.pop_back();
      }
      if (!absl::ascii_isspace(ch)) last_symbol = ch;
      advance(1);
    }
  }
  if (!current.empty()) sections.push_back(current);
  return absl::StrJoin(sections, ".");
}

// Collects text-format parse errors as
// "source:line:column: field.path: message" lines (protobuf reports 0-based
// lines and columns; people count from 1).
class CollectingErrorCollector : public pb::io::ErrorCollector {
 public:
  CollectingErrorCollector(std::string source, const std::string* text)
      : source_(std::move(source)), text_(text) {}

  void AddError(int line, pb::io::ColumnNumber column,
                const std::string& message) override {
    std::string field =
        text_ == nullptr ? "" : FieldPathAt(*text_, line, column);
    errors_.push_back(absl::StrCat(source_, ":", line + 1, ":", column + 1,
                                   ": ", field.empty() ? "" : field + ": ",
                                   message));
  }

  void AddWarning(int line, pb::io::ColumnNumber column,
                  const std::string& message) override {
    // Warnings (e.g. deprecated fields) are not fatal; keep them out of the
    // error message.
    (void)line;
    (void)column;
    (void)message;
  }

  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::string source_;
  const std::string* text_;
  std::vector<std::string> errors_;
};

// Lists the field names of `descriptor`, for "unknown field" hints.
std::string FieldNames(const pb::Descriptor* descriptor) {
  std::vector<std::string> names;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    names.push_back(descriptor->field(i)->name());
  }
  return absl::StrJoin(names, ", ");
}

// Parses one scalar `text` as `field`'s type and sets it (or, when
// `repeated`, appends it) on `message`.
absl::Status SetScalar(pb::Message* message, const pb::FieldDescriptor* field,
                       const std::string& path, absl::string_view text) {
  const pb::Reflection* reflection = message->GetReflection();
  const bool repeated = field->is_repeated();
  text = absl::StripAsciiWhitespace(text);
  switch (field->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
    case pb::FieldDescriptor::CPPTYPE_INT64: {
      int64_t value = 0;
      if (!absl::SimpleAtoi(text, &value)) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": expected an integer, got '", text, "'"));
      }
      if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT32) {
        if (value < INT32_MIN || value > INT32_MAX) {
          return absl::InvalidArgumentError(
              absl::StrCat(path, ": ", value, " does not fit in int32"));
        }
        if (repeated) {
          reflection->AddInt32(message, field, static_cast<int32_t>(value));
        } else {
          reflection->SetInt32(message, field, static_cast<int32_t>(value));
        }
      } else if (repeated) {
        reflection->AddInt64(message, field, value);
      } else {
        reflection->SetInt64(message, field, value);
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_UINT32:
    case pb::FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t value = 0;
      if (!absl::SimpleAtoi(text, &value)) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": expected a non-negative integer, got '", text, "'"));
      }
      if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_UINT32) {
        if (value > UINT32_MAX) {
          return absl::InvalidArgumentError(
              absl::StrCat(path, ": ", value, " does not fit in uint32"));
        }
        if (repeated) {
          reflection->AddUInt32(message, field, static_cast<uint32_t>(value));
        } else {
          reflection->SetUInt32(message, field, static_cast<uint32_t>(value));
        }
      } else if (repeated) {
        reflection->AddUInt64(message, field, value);
      } else {
        reflection->SetUInt64(message, field, value);
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
    case pb::FieldDescriptor::CPPTYPE_FLOAT: {
      double value = 0;
      if (!absl::SimpleAtod(text, &value)) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": expected a number, got '", text, "'"));
      }
      if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_FLOAT) {
        if (repeated) {
          reflection->AddFloat(message, field, static_cast<float>(value));
        } else {
          reflection->SetFloat(message, field, static_cast<float>(value));
        }
      } else if (repeated) {
        reflection->AddDouble(message, field, value);
      } else {
        reflection->SetDouble(message, field, value);
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_BOOL: {
      bool value = false;
      if (!absl::SimpleAtob(text, &value)) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": expected true or false, got '", text, "'"));
      }
      if (repeated) {
        reflection->AddBool(message, field, value);
      } else {
        reflection->SetBool(message, field, value);
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      const pb::EnumDescriptor* type = field->enum_type();
      const pb::EnumValueDescriptor* value =
          type->FindValueByName(std::string(text));
      if (value == nullptr) {
        std::vector<std::string> names;
        for (int i = 0; i < type->value_count(); ++i) {
          names.push_back(type->value(i)->name());
        }
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": expected one of ", absl::StrJoin(names, ", "),
                         ", got '", text, "'"));
      }
      if (repeated) {
        reflection->AddEnum(message, field, value);
      } else {
        reflection->SetEnum(message, field, value);
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_STRING: {
      std::string value(text);
      // Quotes are optional: train.output_dir=runs/x or ="runs/x".
      if (value.size() >= 2 &&
          ((value.front() == '"' && value.back() == '"') ||
           (value.front() == '\'' && value.back() == '\''))) {
        value = value.substr(1, value.size() - 2);
      }
      if (repeated) {
        reflection->AddString(message, field, value);
      } else {
        reflection->SetString(message, field, value);
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return absl::InternalError(
      absl::StrCat(path, ": unsupported field type for --set"));
}

}  // namespace

void FillModelDefaults(ModelConfig* m) {
  // DeepseekV2Config's constructor defaults (deepseek-ai's
  // configuration_deepseek.py); see config.proto for each field.
  if (!m->has_vocab_size()) m->set_vocab_size(102400);
  if (!m->has_hidden_size()) m->set_hidden_size(4096);
  if (!m->has_intermediate_size()) m->set_intermediate_size(11008);
  if (!m->has_moe_intermediate_size()) m->set_moe_intermediate_size(1407);
  if (!m->has_num_hidden_layers()) m->set_num_hidden_layers(30);
  if (!m->has_num_attention_heads()) m->set_num_attention_heads(32);
  if (!m->has_num_key_value_heads()) {
    m->set_num_key_value_heads(m->num_attention_heads());
  }
  if (!m->has_ep_size()) m->set_ep_size(1);
  if (!m->has_routed_scaling_factor()) m->set_routed_scaling_factor(1.0);
  if (!m->has_kv_lora_rank()) m->set_kv_lora_rank(512);
  // q_lora_rank: absent means null (plain q_proj); no default filled.
  if (!m->has_qk_rope_head_dim()) m->set_qk_rope_head_dim(64);
  if (!m->has_v_head_dim()) m->set_v_head_dim(128);
  if (!m->has_qk_nope_head_dim()) m->set_qk_nope_head_dim(128);
  if (!m->has_topk_method() || m->topk_method() == "gready") {
    m->set_topk_method("greedy");
  }
  if (!m->has_moe_layer_freq()) m->set_moe_layer_freq(1);
  if (!m->has_first_k_dense_replace()) m->set_first_k_dense_replace(0);
  if (!m->has_norm_topk_prob()) m->set_norm_topk_prob(false);
  if (!m->has_scoring_func()) m->set_scoring_func("softmax");
  if (!m->has_aux_loss_alpha()) m->set_aux_loss_alpha(0.001);
  if (!m->has_seq_aux()) m->set_seq_aux(true);
  if (!m->has_hidden_act()) m->set_hidden_act("silu");
  if (!m->has_max_position_embeddings()) m->set_max_position_embeddings(2048);
  if (!m->has_initializer_range()) m->set_initializer_range(0.02);
  if (!m->has_rms_norm_eps()) m->set_rms_norm_eps(1e-6);
  if (!m->has_use_cache()) m->set_use_cache(true);
  if (!m->has_bos_token_id()) m->set_bos_token_id(100000);
  if (!m->has_eos_token_id()) m->set_eos_token_id(100001);
  if (!m->has_pretraining_tp()) m->set_pretraining_tp(1);
  if (!m->has_tie_word_embeddings()) m->set_tie_word_embeddings(false);
  if (!m->has_rope_theta()) m->set_rope_theta(10000.0);
  if (!m->has_attention_bias()) m->set_attention_bias(false);
  if (!m->has_attention_dropout()) m->set_attention_dropout(0.0);
  if (m->has_rope_scaling()) {
    RopeScaling* r = m->mutable_rope_scaling();
    if (!r->has_beta_fast()) r->set_beta_fast(32.0);
    if (!r->has_beta_slow()) r->set_beta_slow(1.0);
    if (!r->has_mscale()) r->set_mscale(1.0);
    if (!r->has_mscale_all_dim()) r->set_mscale_all_dim(0.0);
  }
}

void FillDefaults(RunConfig* config) {
  FillModelDefaults(config->mutable_model());

  TrainConfig* train = config->mutable_train();
  if (train->output_dir().empty()) train->set_output_dir("runs/default");
  if (!train->has_log_every()) train->set_log_every(1);
  if (!train->has_eval_batches()) train->set_eval_batches(8);

  OptimizerConfig* opt = config->mutable_optimizer();
  if (!opt->has_lr()) opt->set_lr(3e-4);
  if (!opt->has_beta1()) opt->set_beta1(0.9);
  if (!opt->has_beta2()) opt->set_beta2(0.95);
  if (!opt->has_eps()) opt->set_eps(1e-8);
  if (!opt->has_weight_decay()) opt->set_weight_decay(0.1);
  if (!opt->has_grad_clip()) opt->set_grad_clip(1.0);

  ScheduleConfig* schedule = config->mutable_schedule();
  if (!schedule->has_min_lr_ratio()) schedule->set_min_lr_ratio(0.1);
  if (schedule->milestones_size() == 0 && schedule->factors_size() == 0) {
    // DeepSeek LLM's multi-step schedule: x0.316 at 80%, x0.1 at 90%.
    schedule->add_milestones(0.8);
    schedule->add_milestones(0.9);
    schedule->add_factors(0.316);
    schedule->add_factors(0.1);
  }

  ParallelConfig* parallel = config->mutable_parallel();
  if (!parallel->has_bucket_mb()) parallel->set_bucket_mb(25.0);
  if (!parallel->has_comm_priority()) parallel->set_comm_priority(10);
  if (!parallel->has_comm_slice_us()) parallel->set_comm_slice_us(100);
  // HFReduce tuning: hfreduce::Options' defaults.
  if (!parallel->has_hfreduce_chunk_kb()) parallel->set_hfreduce_chunk_kb(1024);
  if (!parallel->has_hfreduce_min_chunk_kb()) parallel->set_hfreduce_min_chunk_kb(512);
  if (!parallel->has_hfreduce_pipeline_depth()) parallel->set_hfreduce_pipeline_depth(2);
  if (!parallel->has_hfreduce_tree_chunk_kb()) parallel->set_hfreduce_tree_chunk_kb(128);
  if (!parallel->has_hfreduce_tree_window()) parallel->set_hfreduce_tree_window(4);
  if (!parallel->has_hfreduce_pair_exchange_kb()) parallel->set_hfreduce_pair_exchange_kb(1024);

  ObjectiveConfig* objective = config->mutable_objective();
  if (!objective->has_dpo_beta()) objective->set_dpo_beta(0.1);
}

absl::Status ParseTextMessage(const std::string& text, const std::string& source_name,
                              pb::Message* message) {
  CollectingErrorCollector collector(source_name, &text);
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&collector);
  parser.AllowUnknownField(false);
  parser.AllowUnknownExtension(false);
  if (!parser.ParseFromString(text, message)) {
    if (collector.errors().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source_name, ": not a valid ", message->GetDescriptor()->name(), " text proto"));
    }
    return absl::InvalidArgumentError(absl::StrJoin(collector.errors(), "\n"));
  }
  return absl::OkStatus();
}

absl::StatusOr<RunConfig> ParseConfigText(const std::string& text,
                                          const std::string& source_name) {
  RunConfig config;
  HS_RETURN_IF_ERROR(ParseTextMessage(text, source_name, &config));
  FillDefaults(&config);
  return config;
}

absl::StatusOr<RunConfig> LoadConfig(const std::string& path) {
  HS_ASSIGN_OR_RETURN(std::string text, hs::io::ReadFileToString(path));
  return ParseConfigText(text, path);
}

absl::Status ApplyOverride(RunConfig* config, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "override '", assignment, "': expected section.field=value"));
  }
  const std::string path(
      absl::StripAsciiWhitespace(absl::string_view(assignment).substr(0, eq)));
  const std::string value(
      absl::StripAsciiWhitespace(absl::string_view(assignment).substr(eq + 1)));
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("override '", assignment, "': empty field path"));
  }

  // Walk the dotted path through singular message fields.
  pb::Message* message = config;
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    const pb::Descriptor* descriptor = message->GetDescriptor();
    const pb::FieldDescriptor* field = descriptor->FindFieldByName(parts[i]);
    if (field == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown field '", path, "' (", descriptor->name(), " has: ",
          FieldNames(descriptor), ")"));
    }
    const pb::Reflection* reflection = message->GetReflection();
    const bool last = i + 1 == parts.size();
    if (!last) {
      if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE ||
          field->is_repeated()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "unknown field '", path, "' ('", parts[i],
            "' is not a message section)"));
      }
      message = reflection->MutableMessage(message, field);
      continue;
    }

    if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": repeated messages cannot be set with --set"));
      }
      // A whole message in text format, braces optional:
      // model.rope_scaling={type: "yarn" factor: 40}.
      std::string body = value;
      if (body.size() >= 2 && body.front() == '{' && body.back() == '}') {
        body = body.substr(1, body.size() - 2);
      }
      pb::Message* sub = reflection->MutableMessage(message, field);
      CollectingErrorCollector collector(path, &body);
      pb::TextFormat::Parser parser;
      parser.RecordErrorsTo(&collector);
      if (!parser.MergeFromString(body, sub)) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": cannot parse '", value, "' as ",
            field->message_type()->name(), ": ",
            absl::StrJoin(collector.errors(), "; ")));
      }
      FillDefaults(config);
      return absl::OkStatus();
    }

    if (field->is_repeated()) {
      if (value.size() < 2 || value.front() != '[' || value.back() != ']') {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": repeated field expects a list like [1,2], got '", value,
            "'"));
      }
      absl::string_view inner =
          absl::StripAsciiWhitespace(absl::string_view(value).substr(
              1, value.size() - 2));
      // Parse every element into a scratch message first, so a bad element
      // leaves the config unchanged; then replace the field's contents.
      std::unique_ptr<pb::Message> scratch(message->New());
      std::vector<absl::string_view> items;
      if (!inner.empty()) items = absl::StrSplit(inner, ',');
      for (absl::string_view item : items) {
        HS_RETURN_IF_ERROR(SetScalar(scratch.get(), field, path, item));
      }
      reflection->ClearField(message, field);
      for (absl::string_view item : items) {
        HS_RETURN_IF_ERROR(SetScalar(message, field, path, item));
      }
      return absl::OkStatus();
    }
    return SetScalar(message, field, path, value);
  }
  return absl::OkStatus();
}

absl::Status ApplyOverrides(RunConfig* config,
                            const std::vector<std::string>& assignments) {
  for (const std::string& assignment : assignments) {
    HS_RETURN_IF_ERROR(ApplyOverride(config, assignment));
  }
  return absl::OkStatus();
}

std::string ConfigToText(const RunConfig& config) {
  RunConfig filled = config;
  FillDefaults(&filled);
  pb::TextFormat::Printer printer;
  printer.SetUseShortRepeatedPrimitives(true);
  std::string text;
  printer.PrintToString(filled, &text);
  return absl::StrCat("# HaiScale RunConfig (hs.config.RunConfig), defaults "
                      "filled.\n",
                      text);
}

bool IsMoeLayer(const ModelConfig& model, int64_t layer) {
  const int64_t freq = model.has_moe_layer_freq() ? model.moe_layer_freq() : 1;
  return model.n_routed_experts() > 0 &&
         layer >= model.first_k_dense_replace() && freq > 0 &&
         layer % freq == 0;
}

absl::StatusOr<ModelConfig> LoadModelConfigFile(const std::string& path) {
  auto ends_with = [&](absl::string_view suffix) {
    return absl::EndsWith(path, suffix);
  };
  if (ends_with(".pbtxt") || ends_with(".textproto") || ends_with(".txtpb")) {
    HS_ASSIGN_OR_RETURN(RunConfig config, LoadConfig(path));
    return config.model();
  }
  std::string json_path = path;
  if (!ends_with(".json")) {
    if (!hs::io::IsDirectory(path)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": expected a .pbtxt RunConfig, a HF config.json, or a "
                "folder holding config.json"));
    }
    json_path = absl::StrCat(path, "/config.json");
  }
  HS_ASSIGN_OR_RETURN(std::string text, hs::io::ReadFileToString(json_path));
  return ModelConfigFromHfJson(text, json_path);
}

}  // namespace hs::config
