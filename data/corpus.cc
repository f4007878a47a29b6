// File: data/corpus.cc — token file writers and the quickstart corpus, see corpus.h.
#include "data/corpus.h"

#include <algorithm>
#include <array>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/text_to_tokens.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/rng.h"
#include "haiscale/status.h"

namespace hs::data {
namespace {

constexpr int64_t kChunkTokens = 1 << 16;

// AppendTokens: ids as little-endian bytes (the host is little-endian, see
// token_file.cc's static_assert).
absl::Status AppendTokens(io::AtomicFileWriter* writer, const uint32_t* ids,
                          int64_t n) {
  return writer->Append(absl::string_view(reinterpret_cast<const char*>(ids),
                                          size_t(n) * sizeof(uint32_t)));
}

// The quickstart corpus's source text: original sentences written for
// HaiScale, grouped by topic. Paragraphs take consecutive runs of one
// topic, so each list reads in order.
struct Topic {
  const char* name;
  std::vector<const char*> sentences;
};

const std::vector<Topic>& Topics() {
  static const auto* topics = new std::vector<Topic>{
      {"training",
       {"The cluster starts the job at night, when the queue is short.",
        "Each rank reads its own slice of the batch from the shared disk.",
        "The model runs the forward pass and computes the loss for every token.",
        "The backward pass walks the layers in reverse and fills the gradients.",
        "As soon as a bucket of gradients is ready, the ranks add it together.",
        "The optimizer takes a small step, and the loss goes down a little.",
        "Every hundred steps the trainer writes a checkpoint to the disk.",
        "If a node fails, the job restarts from the last good checkpoint.",
        "The learning rate rises during warmup and then slowly decays.",
        "When the loss stops falling, the team looks at the data again."}},
      {"weather",
       {"In the morning the sky was grey and the wind came from the west.",
        "By noon the clouds broke up and the sun warmed the stone streets.",
        "The forecast said rain in the evening, so we took our coats.",
        "A cold front moves fast and brings short, heavy showers.",
        "In summer the air is still and the nights stay warm.",
        "In winter the lake freezes at the edges and the hills turn white.",
        "After the storm the air smelled of wet earth and cut grass.",
        "The wind turned to the north, and the temperature fell by ten degrees.",
        "Fog sat in the valley until the sun climbed over the ridge.",
        "The rain stopped, and a thin rainbow stood over the harbour."}},
      {"cooking",
       {"First wash the rice until the water runs clear.",
        "Chop one onion and two cloves of garlic into small pieces.",
        "Warm a spoon of oil in a wide pan over medium heat.",
        "Cook the onion slowly until it turns soft and golden.",
        "Add the garlic, stir for a minute, then add the rice.",
        "Pour in the hot stock, a little at a time, and keep stirring.",
        "Season the soup with salt, pepper and a squeeze of lemon.",
        "Let the bread rest for an hour so the dough can rise.",
        "Bake the loaf until the crust is brown and sounds hollow.",
        "Serve the meal warm, with fresh herbs on top."}},
      {"garden",
       {"In spring we turn the soil and pull out the old roots.",
        "The beans climb the poles and the peas climb the fence.",
        "Water the young plants in the evening, when the sun is low.",
        "The tomatoes need a warm wall and plenty of light.",
        "Snails come out after the rain and eat the lettuce.",
        "In late summer the apples turn red and fall into the grass.",
        "We save the seeds in paper bags and write the year on each one.",
        "In autumn the leaves go on the compost heap behind the shed.",
        "The garden sleeps in winter under a blanket of straw.",
        "Every year the garden teaches us to be patient."}},
      {"station",
       {"The train to the coast leaves from platform four at nine.",
        "The station clock is large, and everyone looks at it twice.",
        "A voice on the speaker says the train is five minutes late.",
        "People wait on the benches with coffee and newspapers.",
        "The train comes in slowly, and the doors open with a hiss.",
        "The guard checks the tickets and wishes everyone a good trip.",
        "Outside the window the fields and towns go past.",
        "At the last stop the passengers step out into the salty air.",
        "The night train is quiet, and most people sleep in their seats.",
        "The timetable changes twice a year, in spring and in autumn."}},
      {"sea",
       {"The boats leave the harbour before dawn to catch the tide.",
        "The sea is calm near the shore and rough beyond the rocks.",
        "Gulls follow the boats and call over the water.",
        "At low tide the children look for crabs between the stones.",
        "The lighthouse turns its light every ten seconds through the night.",
        "The fishermen mend their nets on the quay in the afternoon.",
        "A long swell rolls in from the open ocean after the storm.",
        "The water is cold in June but warm enough in August.",
        "In the evening the boats come home with their catch.",
        "The waves wash the sand smooth, and the beach looks new again."}},
  };
  return *topics;
}

}  // namespace

absl::Status WriteTokenFile(const std::string& path, const uint32_t* ids,
                            int64_t n) {
  HS_ASSIGN_OR_RETURN(std::unique_ptr<io::AtomicFileWriter> writer,
                      io::AtomicFileWriter::Create(path));
  HS_RETURN_IF_ERROR(AppendTokens(writer.get(), ids, n));
  return writer->Commit();
}

absl::Status WriteTokensFromText(absl::string_view text,
                                 const std::string& path) {
  if (text.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token file ", path, ": no text to write (0 tokens)"));
  }
  HS_ASSIGN_OR_RETURN(std::unique_ptr<io::AtomicFileWriter> writer,
                      io::AtomicFileWriter::Create(path));
  std::vector<uint32_t> chunk(size_t(std::min<int64_t>(text.size(), kChunkTokens)));
  for (size_t pos = 0; pos < text.size(); pos += chunk.size()) {
    absl::string_view piece = text.substr(pos, chunk.size());
    TextToTokens(piece, chunk.data());
    HS_RETURN_IF_ERROR(AppendTokens(writer.get(), chunk.data(), piece.size()));
  }
  return writer->Commit();
}

std::string QuickstartCorpus(int64_t bytes, uint64_t seed) {
  const std::vector<Topic>& topics = Topics();
  Philox rng(seed, StreamId("hs.data.quickstart_corpus"));
  uint64_t counter = 0;  // each draw uses the next counter
  std::string out;
  out.reserve(size_t(std::max<int64_t>(bytes, 0)) + 256);
  while (int64_t(out.size()) < bytes) {
    const Topic& topic = topics[rng.Uint64Below(counter++, topics.size())];
    const uint64_t n = topic.sentences.size();
    const uint64_t start = rng.Uint64Below(counter++, n);
    const uint64_t length = 3 + rng.Uint64Below(counter++, 4);  // 3..6
    for (uint64_t k = 0; k < length; ++k) {
      if (k > 0) out += ' ';
      out += topic.sentences[(start + k) % n];
    }
    out += "\n\n";
  }
  out.resize(size_t(std::max<int64_t>(bytes, 0)));
  return out;
}

}  // namespace hs::data
