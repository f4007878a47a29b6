// File: data/post/post_data.cc — see post_data.h.
#include "data/post/post_data.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "haiscale/status.h"
#include "nlohmann/json.hpp"

namespace hs::data::post {
namespace {

void Append(const TemplateContext& ctx, std::string_view text, bool trained,
            TokenizedExample* ex) {
  for (uint32_t id : ctx.tokenizer->Encode(text)) {
    ex->ids.push_back(int32_t(id));
    ex->trained.push_back(trained);
  }
}

// Render(messages, gen): the chat text, checked to extend `prefix`.
absl::StatusOr<std::string> RenderExtending(const std::vector<ChatMessage>& messages,
                                            const TemplateContext& ctx, bool gen,
                                            const std::string& prefix) {
  HS_ASSIGN_OR_RETURN(std::string text, RenderChat(messages, ctx.format, ctx.special, gen));
  if (text.compare(0, prefix.size(), prefix) != 0) {
    return absl::InternalError("the chat template's rendering is not incremental");
  }
  return text;
}

// One row's worth of an example: inputs/targets/positions from ids[0..n).
void Place(const TokenizedExample& ex, int64_t n, int64_t at, int32_t* tok, int32_t* tgt,
           int32_t* pos) {
  for (int64_t i = 0; i + 1 < n; ++i) {
    tok[at + i] = ex.ids[i];
    tgt[at + i] = ex.trained[i + 1] ? ex.ids[i + 1] : -1;
    pos[at + i] = int32_t(i);
  }
}

// Padding positions: token 0, not trained, a document of their own.
void Pad(int64_t from, int64_t seq_len, int32_t* tok, int32_t* tgt, int32_t* pos) {
  for (int64_t i = from; i < seq_len; ++i) {
    tok[i] = 0;
    tgt[i] = -1;
    pos[i] = int32_t(i - from);
  }
}

bool AnyTrained(const TokenizedExample& ex, int64_t n) {
  for (int64_t i = 1; i < n; ++i) {
    if (ex.trained[i]) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<TokenizedExample> TokenizeConversation(const std::vector<ChatMessage>& messages,
                                                      const TemplateContext& ctx,
                                                      bool train_on_prompt) {
  TokenizedExample ex;
  std::string done;  // text tokenized so far
  bool any_assistant = false;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role != "assistant") continue;
    any_assistant = true;
    std::vector<ChatMessage> upto(messages.begin(), messages.begin() + i);
    HS_ASSIGN_OR_RETURN(std::string prompt, RenderExtending(upto, ctx, true, done));
    Append(ctx, std::string_view(prompt).substr(done.size()), train_on_prompt, &ex);
    upto.push_back(messages[i]);
    HS_ASSIGN_OR_RETURN(std::string reply, RenderExtending(upto, ctx, false, prompt));
    Append(ctx, std::string_view(reply).substr(prompt.size()), true, &ex);
    done = std::move(reply);
  }
  if (!any_assistant) return absl::InvalidArgumentError("no assistant message to train on");
  HS_ASSIGN_OR_RETURN(std::string all, RenderExtending(messages, ctx, false, done));
  Append(ctx, std::string_view(all).substr(done.size()), train_on_prompt, &ex);
  return ex;
}

PostRows PackBestFitDecreasing(const std::vector<TokenizedExample>& examples, int64_t seq_len,
                               int64_t vocab, bool drop_long, PackStats* stats) {
  *stats = PackStats();
  // Lengths in positions (n - 1), longest first; ties in input order.
  std::vector<int64_t> order;
  std::vector<int64_t> len(examples.size());
  for (size_t e = 0; e < examples.size(); ++e) {
    int64_t n = int64_t(examples[e].ids.size());
    bool cut = false;
    if (n - 1 > seq_len) {
      if (drop_long) {
        ++stats->dropped;
        continue;
      }
      cut = true;
      n = seq_len + 1;
    }
    if (n < 2 || !AnyTrained(examples[e], n)) {  // (also: truncated to its prompt)
      ++stats->dropped;
      continue;
    }
    stats->truncated += cut;
    len[e] = n;
    order.push_back(int64_t(e));
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return len[a] > len[b]; });
  // Best fit: the row with the least free space that still fits.
  std::multimap<int64_t, int64_t> free_rows;  // free positions -> row
  std::vector<std::vector<int64_t>> row_examples;
  for (int64_t e : order) {
    const int64_t need = len[e] - 1;
    auto it = free_rows.lower_bound(need);
    int64_t row;
    int64_t free;
    if (it == free_rows.end()) {
      row = int64_t(row_examples.size());
      row_examples.emplace_back();
      free = seq_len;
    } else {
      row = it->second;
      free = it->first;
      free_rows.erase(it);
    }
    row_examples[row].push_back(e);
    if (free - need > 0) free_rows.emplace(free - need, row);
  }
  PostRows rows;
  rows.kind = RowsKind::kSft;
  rows.seq_len = seq_len;
  rows.vocab_size = vocab;
  std::vector<int32_t> tok(seq_len), tgt(seq_len), pos(seq_len);
  for (const std::vector<int64_t>& members : row_examples) {
    int64_t at = 0;
    for (int64_t e : members) {
      Place(examples[e], len[e], at, tok.data(), tgt.data(), pos.data());
      at += len[e] - 1;
    }
    stats->padding += seq_len - at;
    Pad(at, seq_len, tok.data(), tgt.data(), pos.data());
    rows.AddRow(tok.data(), tgt.data(), pos.data());
  }
  stats->examples = int64_t(order.size());
  rows.num_examples = stats->examples;
  return rows;
}

absl::StatusOr<TokenizedPair> ParsePreference(std::string_view json_line, std::string_view where_v,
                                              const TemplateContext& ctx) {
  const std::string where(where_v);
  const nlohmann::json j = nlohmann::json::parse(json_line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": not a JSON object"));
  }
  // Messages(field, role): a string as one `role` message, or a list.
  auto messages = [&](const char* field,
                      const char* role) -> absl::StatusOr<std::vector<ChatMessage>> {
    auto it = j.find(field);
    if (it == j.end()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": missing \"", field, "\""));
    }
    if (it->is_string()) return std::vector<ChatMessage>{{role, it->get<std::string>()}};
    if (!it->is_array() || it->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": \"", field, "\" must be a string or a non-empty list of messages"));
    }
    nlohmann::json wrapped = {{"messages", *it}};
    return ParseConversation(wrapped.dump(), absl::StrCat(where, ": \"", field, "\""));
  };
  HS_ASSIGN_OR_RETURN(std::vector<ChatMessage> prompt, messages("prompt", "user"));
  HS_ASSIGN_OR_RETURN(std::vector<ChatMessage> chosen, messages("chosen", "assistant"));
  HS_ASSIGN_OR_RETURN(std::vector<ChatMessage> rejected, messages("rejected", "assistant"));
  auto prompt_text = RenderChat(prompt, ctx.format, ctx.special, true);
  if (!prompt_text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": \"prompt\": ", prompt_text.status().message()));
  }
  TokenizedPair pair;
  for (uint32_t id : ctx.tokenizer->Encode(*prompt_text)) pair.prompt.push_back(int32_t(id));
  for (auto [field, completion, out] :
       {std::make_tuple("chosen", &chosen, &pair.chosen),
        std::make_tuple("rejected", &rejected, &pair.rejected)}) {
    for (const ChatMessage& m : *completion) {
      if (m.role != "assistant") {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": \"", field, "\" may hold assistant messages only, found \"", m.role, "\""));
      }
    }
    std::vector<ChatMessage> all = prompt;
    all.insert(all.end(), completion->begin(), completion->end());
    auto text = RenderChat(all, ctx.format, ctx.special, false);
    if (!text.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": \"", field, "\": ",
                                                     text.status().message()));
    }
    if (text->compare(0, prompt_text->size(), *prompt_text) != 0) {
      return absl::InternalError("the chat template's rendering is not incremental");
    }
    for (uint32_t id : ctx.tokenizer->Encode(std::string_view(*text).substr(prompt_text->size()))) {
      out->push_back(int32_t(id));
    }
    if (out->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": \"", field, "\" is empty"));
    }
  }
  return pair;
}

PostRows PairRows(const std::vector<TokenizedPair>& pairs, int64_t seq_len, int64_t vocab,
                  PackStats* stats) {
  *stats = PackStats();
  PostRows rows;
  rows.kind = RowsKind::kDpo;
  rows.seq_len = seq_len;
  rows.vocab_size = vocab;
  std::vector<int32_t> tok(seq_len), tgt(seq_len), pos(seq_len);
  for (const TokenizedPair& p : pairs) {
    // The prompt's last token predicts the first completion token, so at
    // least one completion token needs prompt + 1 <= seq_len + 1.
    if (int64_t(p.prompt.size()) + 1 > seq_len) {
      ++stats->dropped;
      continue;
    }
    bool cut = false;
    for (const std::vector<int32_t>* completion : {&p.chosen, &p.rejected}) {
      TokenizedExample ex;
      ex.ids = p.prompt;
      ex.trained.assign(p.prompt.size(), 0);
      ex.ids.insert(ex.ids.end(), completion->begin(), completion->end());
      ex.trained.resize(ex.ids.size(), 1);
      const int64_t n = std::min<int64_t>(int64_t(ex.ids.size()), seq_len + 1);
      cut |= n < int64_t(ex.ids.size());
      Place(ex, n, 0, tok.data(), tgt.data(), pos.data());
      stats->padding += seq_len - (n - 1);
      Pad(n - 1, seq_len, tok.data(), tgt.data(), pos.data());
      rows.AddRow(tok.data(), tgt.data(), pos.data());
    }
    stats->truncated += cut;
    ++stats->examples;
  }
  rows.num_examples = stats->examples;
  return rows;
}

std::string PackSummary(const PostRows& rows, const PackStats& stats) {
  const int64_t positions = rows.num_rows() * rows.seq_len;
  return absl::StrFormat(
      "%s rows: %d examples in %d rows of %d positions (%.1f%% padding), %d trained tokens; "
      "%d truncated, %d dropped\n",
      RowsKindName(rows.kind), stats.examples, rows.num_rows(), rows.seq_len,
      positions ? 100.0 * double(stats.padding) / double(positions) : 0.0, rows.trained_tokens(),
      stats.truncated, stats.dropped);
}

}  // namespace hs::data::post
