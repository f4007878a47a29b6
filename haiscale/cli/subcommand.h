// File: haiscale/cli/subcommand.h
//
// The `hai` binary's subcommand registry. Each subcommand lives in the
// library that owns it and registers itself, as torchtitan's train specs do:
//
//   int RunTrain(int argc, char** argv);   // argv[0] is "train"
//   HS_REGISTER_SUBCOMMAND("train", "train a model from a .pbtxt config", RunTrain);
//   HS_REGISTER_SUBCOMMAND("bench allreduce", "HFReduce vs MPI_Allreduce", RunBench);
//
// Names may have two words ("bench train"); `hai bench train ...` finds
// the longest registered prefix. Libraries holding registrations must be
// `alwayslink = 1` so the static registrar is kept.
#ifndef HAISCALE_CLI_SUBCOMMAND_H_
#define HAISCALE_CLI_SUBCOMMAND_H_

#include <string>
#include <vector>

namespace hs::cli {

// A subcommand's entry point: argv[0] is the subcommand name, the rest are
// its arguments. Returns the process exit code.
using SubcommandFn = int (*)(int argc, char** argv);

struct Subcommand {
  std::string name;
  std::string summary;
  SubcommandFn fn;
};

// RegisterSubcommand: called by HS_REGISTER_SUBCOMMAND at static init.
bool RegisterSubcommand(const char* name, const char* summary, SubcommandFn fn);

// Subcommands(): every registration, sorted by name.
std::vector<Subcommand> Subcommands();

// RunMain(argc, argv): dispatches `hai <name...> args`; prints usage for
// `hai`, `hai help` or an unknown name (exit 2).
int RunMain(int argc, char** argv);

}  // namespace hs::cli

#define HS_CLI_CONCAT_INNER_(a, b) a##b
#define HS_CLI_CONCAT_(a, b) HS_CLI_CONCAT_INNER_(a, b)
#define HS_REGISTER_SUBCOMMAND(name, summary, fn)                     \
  static const bool HS_CLI_CONCAT_(hs_subcommand_registered_, __LINE__) = \
      ::hs::cli::RegisterSubcommand(name, summary, fn)

#endif  // HAISCALE_CLI_SUBCOMMAND_H_
