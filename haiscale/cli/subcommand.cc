// File: haiscale/cli/subcommand.cc — see subcommand.h.
#include "haiscale/cli/subcommand.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>

namespace hs::cli {
namespace {

std::map<std::string, Subcommand>& Registry() {
  static auto* registry = new std::map<std::string, Subcommand>();
  return *registry;
}

void PrintUsage(FILE* out) {
  std::fprintf(out,
               "hai — HaiScale: DeepSeek-V2 training with HFReduce\n\n"
               "usage: hai <command> [args]   (hai <command> --help for more)\n\n"
               "commands:\n");
  for (const auto& [name, sub] : Registry()) {
    std::fprintf(out, "  %-18s %s\n", name.c_str(), sub.summary.c_str());
  }
}

}  // namespace

bool RegisterSubcommand(const char* name, const char* summary,
                        SubcommandFn fn) {
  Registry()[name] = Subcommand{name, summary, fn};
  return true;
}

std::vector<Subcommand> Subcommands() {
  std::vector<Subcommand> out;
  for (const auto& [name, sub] : Registry()) out.push_back(sub);
  return out;
}

int RunMain(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "help") == 0 ||
      std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    PrintUsage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  // Longest match first: "bench train" before "bench".
  if (argc >= 3) {
    std::string two = std::string(argv[1]) + " " + argv[2];
    auto it = Registry().find(two);
    if (it != Registry().end()) {
      return it->second.fn(argc - 2, argv + 2);
    }
  }
  auto it = Registry().find(argv[1]);
  if (it != Registry().end()) return it->second.fn(argc - 1, argv + 1);
  std::fprintf(stderr, "hai: unknown command '%s'%s\n\n", argv[1],
               argc >= 3 ? (std::string(" '") + argv[2] + "'").c_str() : "");
  PrintUsage(stderr);
  return 2;
}

}  // namespace hs::cli
