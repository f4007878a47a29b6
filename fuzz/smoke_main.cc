// File: fuzz/smoke_main.cc
//
// A libFuzzer-compatible driver for the test suite: runs a fuzz target's
// LLVMFuzzerTestOneInput on every file of the seed directories given, then
// on deterministic mutations of them (byte flips, truncations, insertions,
// chunk copies; fixed seed) until --iterations inputs ran. Built with the
// project's compiler by Bazel, so the suite checks every target still
// builds and survives its seeds and a few thousand variations in seconds;
// tools/fuzz.sh does the real, coverage-guided, sanitized runs.
//
// usage: <target>_smoke [--iterations=N] SEED_DIR...
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// xorshift64*: a fixed, portable sequence.
struct Rng {
  uint64_t s = 0x9E3779B97F4A7C15ull;
  uint64_t Next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  size_t Below(size_t n) { return n == 0 ? 0 : size_t(Next() % n); }
};

std::string Mutate(std::string in, Rng& rng) {
  const int edits = 1 + int(rng.Below(4));
  static const char* kInteresting[] = {"0", "-1", "null", "1e309", "4294967296",
                                       "9223372036854775807", "\"\"", "[]", "{}", ".."};
  for (int e = 0; e < edits; ++e) {
    switch (rng.Below(6)) {
      case 0:  // flip a byte
        if (!in.empty()) in[rng.Below(in.size())] ^= char(1u << rng.Below(8));
        break;
      case 1:  // truncate
        in.resize(rng.Below(in.size() + 1));
        break;
      case 2:  // insert a random byte
        in.insert(in.begin() + rng.Below(in.size() + 1), char(rng.Next()));
        break;
      case 3: {  // copy a chunk elsewhere
        if (in.empty()) break;
        const size_t from = rng.Below(in.size()), len = 1 + rng.Below(std::min<size_t>(64, in.size() - from));
        in.insert(rng.Below(in.size() + 1), in.substr(from, len));
        break;
      }
      case 4:  // overwrite with a value parsers find interesting
        if (!in.empty()) {
          const char* v = kInteresting[rng.Below(std::size(kInteresting))];
          in.replace(rng.Below(in.size()), std::strlen(v), v);
        }
        break;
      default:  // set a byte to 0x00 / 0xff
        if (!in.empty()) in[rng.Below(in.size())] = rng.Below(2) ? '\0' : '\xff';
        break;
    }
  }
  return in;
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 2000;
  std::vector<std::string> seeds;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--iterations=", 13) == 0) {
      iterations = std::strtol(argv[i] + 13, nullptr, 10);
      continue;
    }
    for (const auto& e : std::filesystem::directory_iterator(argv[i])) {
      if (!e.is_regular_file()) continue;
      std::ifstream f(e.path(), std::ios::binary);
      seeds.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
  }
  if (seeds.empty()) {
    std::fprintf(stderr, "no seed files in the directories given\n");
    return 2;
  }
  long runs = 0;
  for (const std::string& s : seeds) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    ++runs;
  }
  Rng rng;
  while (runs < iterations) {
    const std::string input = Mutate(seeds[rng.Below(seeds.size())], rng);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
    ++runs;
  }
  std::printf("%ld inputs (%zu seeds), no crash\n", runs, seeds.size());
  return 0;
}
