// File: data/tokenizer/tokenizer_json.cc
//
// tokenizer.json -> Tokenizer::Impl. Everything hai can not honour exactly
// is an error naming the field, so a file never silently encodes
// differently from `tokenizers`. Fields that only matter when `tokenizers`
// is asked to add special tokens, truncate or pad (post_processor,
// truncation, padding) are kept for SaveFile but do not affect Encode.
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "data/tokenizer/tokenizer_impl.h"

namespace hs::data {
namespace {

using Json = nlohmann::ordered_json;

// Parser: reads fields, building errors as "<source>: <field>: <message>".
class Parser {
 public:
  explicit Parser(std::string_view source) : source_(source) {}

  absl::Status Error(std::string_view field, std::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", std::string(field), ": ", std::string(message)));
  }

  // Optional fields: absent or null gives the default.
  absl::StatusOr<bool> Bool(const Json& object, std::string_view path,
                            const char* key, bool def) const {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return def;
    if (!it->is_boolean()) return Error(Path(path, key), "expected true or false");
    return it->get<bool>();
  }
  absl::StatusOr<std::optional<std::string>> OptString(const Json& object,
                                                       std::string_view path,
                                                       const char* key) const {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return std::optional<std::string>();
    if (!it->is_string()) return Error(Path(path, key), "expected a string or null");
    return std::optional<std::string>(it->get<std::string>());
  }
  absl::StatusOr<std::string> Type(const Json& object, std::string_view path) const {
    if (!object.is_object()) return Error(path, "expected an object");
    auto it = object.find("type");
    if (it == object.end() || !it->is_string()) {
      return Error(Path(path, "type"), "missing (expected a string)");
    }
    return it->get<std::string>();
  }

  static std::string Path(std::string_view path, std::string_view key) {
    return path.empty() ? std::string(key) : absl::StrCat(std::string(path), ".", std::string(key));
  }

 private:
  std::string source_;
};

absl::StatusOr<std::vector<NormalizationForm>> ParseNormalizer(const Parser& p,
                                                               const Json& doc) {
  std::vector<NormalizationForm> forms;
  auto it = doc.find("normalizer");
  if (it == doc.end() || it->is_null()) return forms;
  absl::StatusOr<std::string> type = p.Type(*it, "normalizer");
  if (!type.ok()) return type.status();
  auto one = [&](const std::string& t, const std::string& field) -> absl::Status {
    absl::StatusOr<NormalizationForm> form = ParseNormalizationForm(t);
    if (!form.ok()) return p.Error(field, std::string(form.status().message()));
    forms.push_back(*form);
    return absl::OkStatus();
  };
  if (*type != "Sequence") {
    if (absl::Status s = one(*type, "normalizer.type"); !s.ok()) return s;
    return forms;
  }
  auto list = it->find("normalizers");
  if (list == it->end() || !list->is_array()) {
    return p.Error("normalizer.normalizers", "expected an array");
  }
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string path = absl::StrCat("normalizer.normalizers[", i, "]");
    absl::StatusOr<std::string> t = p.Type((*list)[i], path);
    if (!t.ok()) return t.status();
    if (absl::Status s = one(*t, path + ".type"); !s.ok()) return s;
  }
  return forms;
}

absl::StatusOr<PreTokenizerStep> ParseStep(const Parser& p, const Json& step,
                                           const std::string& path) {
  absl::StatusOr<std::string> type = p.Type(step, path);
  if (!type.ok()) return type.status();
  PreTokenizerStep out;
  if (*type == "ByteLevel") {
    out.kind = PreTokenizerStep::Kind::kByteLevel;
    absl::StatusOr<bool> prefix = p.Bool(step, path, "add_prefix_space", true);
    if (!prefix.ok()) return prefix.status();
    absl::StatusOr<bool> use_regex = p.Bool(step, path, "use_regex", true);
    if (!use_regex.ok()) return use_regex.status();
    out.add_prefix_space = *prefix;
    out.use_regex = *use_regex;
    return out;
  }
  if (*type == "Split") {
    out.kind = PreTokenizerStep::Kind::kSplit;
    auto pattern = step.find("pattern");
    const std::string pattern_path = Parser::Path(path, "pattern");
    if (pattern == step.end() || !pattern->is_object() || pattern->size() != 1) {
      return p.Error(pattern_path, "expected {\"Regex\": ...} or {\"String\": ...}");
    }
    const std::string& kind = pattern->begin().key();
    const Json& value = pattern->begin().value();
    if ((kind != "Regex" && kind != "String") || !value.is_string()) {
      return p.Error(pattern_path, "expected {\"Regex\": ...} or {\"String\": ...}");
    }
    const std::string text = value.get<std::string>();
    absl::StatusOr<std::unique_ptr<Regex>> regex =
        Regex::Compile(kind == "Regex" ? text : Regex::EscapeLiteral(text));
    if (!regex.ok()) return p.Error(pattern_path + "." + kind, std::string(regex.status().message()));
    out.regex = std::shared_ptr<const Regex>(std::move(*regex));
    auto behavior = step.find("behavior");
    if (behavior == step.end() || !behavior->is_string()) {
      return p.Error(Parser::Path(path, "behavior"), "missing (expected a string)");
    }
    absl::StatusOr<SplitBehavior> b = ParseSplitBehavior(behavior->get<std::string>());
    if (!b.ok()) return p.Error(Parser::Path(path, "behavior"), std::string(b.status().message()));
    out.behavior = *b;
    absl::StatusOr<bool> invert = p.Bool(step, path, "invert", false);
    if (!invert.ok()) return invert.status();
    out.invert = *invert;
    return out;
  }
  if (*type == "Digits") {
    // Each numeric character is a match: isolated one by one, or runs kept
    // together.
    out.kind = PreTokenizerStep::Kind::kSplit;
    absl::StatusOr<bool> individual = p.Bool(step, path, "individual_digits", false);
    if (!individual.ok()) return individual.status();
    absl::StatusOr<std::unique_ptr<Regex>> regex = Regex::Compile("\\p{N}");
    if (!regex.ok()) return regex.status();
    out.regex = std::shared_ptr<const Regex>(std::move(*regex));
    out.behavior = *individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous;
    return out;
  }
  return p.Error(Parser::Path(path, "type"),
                 absl::StrCat("unsupported pre-tokenizer \"", *type,
                              "\" (supported: ByteLevel, Split, Digits, Sequence)"));
}

absl::StatusOr<PreTokenizer> ParsePreTokenizer(const Parser& p, const Json& doc) {
  auto it = doc.find("pre_tokenizer");
  if (it == doc.end() || it->is_null()) {
    return p.Error("pre_tokenizer", "null is not supported: a byte-level BPE needs "
                                    "a ByteLevel pre-tokenizer");
  }
  absl::StatusOr<std::string> type = p.Type(*it, "pre_tokenizer");
  if (!type.ok()) return type.status();
  std::vector<PreTokenizerStep> steps;
  if (*type == "Sequence") {
    auto list = it->find("pretokenizers");
    if (list == it->end() || !list->is_array()) {
      return p.Error("pre_tokenizer.pretokenizers", "expected an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      absl::StatusOr<PreTokenizerStep> step =
          ParseStep(p, (*list)[i], absl::StrCat("pre_tokenizer.pretokenizers[", i, "]"));
      if (!step.ok()) return step.status();
      steps.push_back(std::move(*step));
    }
  } else {
    absl::StatusOr<PreTokenizerStep> step = ParseStep(p, *it, "pre_tokenizer");
    if (!step.ok()) return step.status();
    steps.push_back(std::move(*step));
  }
  absl::StatusOr<PreTokenizer> pre = PreTokenizer::Create(std::move(steps));
  if (!pre.ok()) return p.Error("pre_tokenizer", std::string(pre.status().message()));
  return pre;
}

absl::Status CheckDecoder(const Parser& p, const Json& doc) {
  auto it = doc.find("decoder");
  if (it == doc.end() || it->is_null()) {
    return p.Error("decoder", "null is not supported (expected ByteLevel)");
  }
  absl::StatusOr<std::string> type = p.Type(*it, "decoder");
  if (!type.ok()) return type.status();
  if (*type != "ByteLevel") {
    return p.Error("decoder.type", absl::StrCat("unsupported decoder \"", *type,
                                                "\" (supported: ByteLevel)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<BpeModel> ParseModel(const Parser& p, const Json& doc) {
  auto it = doc.find("model");
  if (it == doc.end() || !it->is_object()) return p.Error("model", "missing (expected an object)");
  const Json& model = *it;
  if (auto type = model.find("type"); type != model.end()) {
    if (!type->is_string() || type->get<std::string>() != "BPE") {
      return p.Error("model.type", absl::StrCat("unsupported model ", type->dump(),
                                                " (supported: \"BPE\")"));
    }
  }
  if (auto dropout = model.find("dropout"); dropout != model.end() && !dropout->is_null()) {
    if (!dropout->is_number() || dropout->get<double>() != 0.0) {
      return p.Error("model.dropout", "BPE dropout is not supported (set it to null)");
    }
  }
  absl::StatusOr<bool> byte_fallback = p.Bool(model, "model", "byte_fallback", false);
  if (!byte_fallback.ok()) return byte_fallback.status();
  if (*byte_fallback) {
    return p.Error("model.byte_fallback",
                   "true is not supported (a byte-level vocab covers every byte)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    absl::StatusOr<std::optional<std::string>> v = p.OptString(model, "model", key);
    if (!v.ok()) return v.status();
    if (*v && !(*v)->empty()) {
      return p.Error(Parser::Path("model", key), "not supported (must be null or \"\")");
    }
  }
  BpeModelOptions options;
  absl::StatusOr<bool> ignore_merges = p.Bool(model, "model", "ignore_merges", false);
  if (!ignore_merges.ok()) return ignore_merges.status();
  options.ignore_merges = *ignore_merges;
  absl::StatusOr<std::optional<std::string>> unk = p.OptString(model, "model", "unk_token");
  if (!unk.ok()) return unk.status();
  options.unk_token = *unk;
  absl::StatusOr<bool> fuse_unk = p.Bool(model, "model", "fuse_unk", false);
  if (!fuse_unk.ok()) return fuse_unk.status();
  options.fuse_unk = *fuse_unk;

  auto vocab_it = model.find("vocab");
  if (vocab_it == model.end() || !vocab_it->is_object()) {
    return p.Error("model.vocab", "missing (expected an object of token: id)");
  }
  std::vector<std::pair<std::string, uint32_t>> vocab;
  vocab.reserve(vocab_it->size());
  for (auto v = vocab_it->begin(); v != vocab_it->end(); ++v) {
    if (!v.value().is_number_integer() || v.value().get<int64_t>() < 0 ||
        v.value().get<int64_t>() > int64_t(UINT32_MAX - 1)) {
      return p.Error(absl::StrCat("model.vocab[\"", v.key(), "\"]"),
                     "expected a non-negative integer id");
    }
    vocab.emplace_back(v.key(), uint32_t(v.value().get<int64_t>()));
  }
  auto merges_it = model.find("merges");
  if (merges_it == model.end() || !merges_it->is_array()) {
    return p.Error("model.merges", "missing (expected an array)");
  }
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(merges_it->size());
  for (size_t i = 0; i < merges_it->size(); ++i) {
    const Json& m = (*merges_it)[i];
    const std::string field = absl::StrCat("model.merges[", i, "]");
    if (m.is_string()) {
      // The pre-0.20 form "left right": byte-level tokens never hold a space.
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        return p.Error(field, absl::StrCat("\"", s, "\" is not two tokens separated by a space"));
      }
      merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      return p.Error(field, "expected \"left right\" or [\"left\", \"right\"]");
    }
  }
  absl::StatusOr<BpeModel> bpe = BpeModel::Create(std::move(vocab), merges, std::move(options));
  if (!bpe.ok()) return p.Error("model", std::string(bpe.status().message()));
  return bpe;
}

absl::StatusOr<std::vector<AddedToken>> ParseAddedTokens(const Parser& p, const Json& doc) {
  std::vector<AddedToken> tokens;
  auto it = doc.find("added_tokens");
  if (it == doc.end() || it->is_null()) return tokens;
  if (!it->is_array()) return p.Error("added_tokens", "expected an array");
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& t = (*it)[i];
    const std::string path = absl::StrCat("added_tokens[", i, "]");
    if (!t.is_object()) return p.Error(path, "expected an object");
    AddedToken token;
    auto id = t.find("id");
    if (id == t.end() || !id->is_number_integer() || id->get<int64_t>() < 0 ||
        id->get<int64_t>() > int64_t(UINT32_MAX - 1)) {
      return p.Error(path + ".id", "expected a non-negative integer");
    }
    token.id = uint32_t(id->get<int64_t>());
    auto content = t.find("content");
    if (content == t.end() || !content->is_string() || content->get<std::string>().empty()) {
      return p.Error(path + ".content", "expected a non-empty string");
    }
    token.content = content->get<std::string>();
    struct Flag {
      const char* key;
      bool* value;
      bool def;
    };
    for (const Flag& f : {Flag{"special", &token.special, false},
                          Flag{"lstrip", &token.lstrip, false},
                          Flag{"rstrip", &token.rstrip, false},
                          Flag{"single_word", &token.single_word, false},
                          Flag{"normalized", &token.normalized, true}}) {
      absl::StatusOr<bool> v = p.Bool(t, path, f.key, f.def);
      if (!v.ok()) return v.status();
      *f.value = *v;
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer::Impl>> BuildImpl(Json document,
                                                           std::string_view source) {
  const Parser p(source);
  if (!document.is_object()) return p.Error("(top level)", "expected a JSON object");
  auto impl = std::make_unique<Tokenizer::Impl>();
  absl::StatusOr<BpeModel> model = ParseModel(p, document);
  if (!model.ok()) return model.status();
  impl->model = std::move(*model);
  absl::StatusOr<PreTokenizer> pre = ParsePreTokenizer(p, document);
  if (!pre.ok()) return pre.status();
  impl->pre_tokenizer = std::move(*pre);
  absl::StatusOr<std::vector<NormalizationForm>> normalizer = ParseNormalizer(p, document);
  if (!normalizer.ok()) return normalizer.status();
  impl->normalizer = std::move(*normalizer);
  if (absl::Status s = CheckDecoder(p, document); !s.ok()) return s;
  absl::StatusOr<std::vector<AddedToken>> added = ParseAddedTokens(p, document);
  if (!added.ok()) return added.status();
  impl->added_tokens = std::move(*added);

  int64_t vocab_size = impl->model.id_limit();
  std::vector<const AddedToken*> raw, normalized;
  for (size_t i = 0; i < impl->added_tokens.size(); ++i) {
    const AddedToken& t = impl->added_tokens[i];
    if (!impl->added_by_id.emplace(t.id, i).second) {
      return p.Error(absl::StrCat("added_tokens[", i, "].id"),
                     absl::StrCat("id ", t.id, " is used by another added token"));
    }
    if (!impl->added_by_content.emplace(t.content, t.id).second) {
      return p.Error(absl::StrCat("added_tokens[", i, "].content"),
                     absl::StrCat("\"", t.content, "\" appears twice"));
    }
    if (int64_t(t.id) > int64_t(impl->model.id_limit()) + int64_t(impl->added_tokens.size()) +
                            (1 << 20)) {
      return p.Error(absl::StrCat("added_tokens[", i, "].id"),
                     absl::StrCat("id ", t.id, " is far beyond the vocabulary (",
                                  impl->model.id_limit(), " ids)"));
    }
    vocab_size = std::max<int64_t>(vocab_size, int64_t(t.id) + 1);
    (t.normalized ? normalized : raw).push_back(&t);
  }
  if (vocab_size > INT32_MAX) return p.Error("model.vocab", "ids too large");
  impl->vocab_size = int(vocab_size);
  impl->raw_matcher = AddedTokenMatcher(std::move(raw));
  impl->normalized_matcher = AddedTokenMatcher(std::move(normalized));
  impl->document = std::move(document);
  return impl;
}

}  // namespace hs::data
