// File: haiscale/cli/args.h
//
// Flag parsing for `hai` subcommands: `--name value`, `--name=value`,
// boolean `--name`, repeated flags (`--set a=1 --set b=2`). Unknown flags
// are errors naming the flag, so a typo never silently runs the default.
//
// Usage:
//   ArgParser p("hai eval");
//   p.AddString("weights", "", "folder with model.safetensors + config.json");
//   p.AddInt("seq", 256, "sequence length S");
//   p.AddBool("csv", "print CSV");
//   HS_RETURN_IF_ERROR(p.Parse(argc, argv));
//   int64_t seq = p.GetInt("seq");
#ifndef HAISCALE_CLI_ARGS_H_
#define HAISCALE_CLI_ARGS_H_

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace hs::cli {

class ArgParser {
 public:
  explicit ArgParser(std::string program) : program_(std::move(program)) {}

  void AddString(const std::string& name, const std::string& def,
                 const std::string& help);
  void AddInt(const std::string& name, int64_t def, const std::string& help);
  void AddDouble(const std::string& name, double def, const std::string& help);
  void AddBool(const std::string& name, const std::string& help);
  // AddList: a flag that may repeat; values kept in order.
  void AddList(const std::string& name, const std::string& help);

  // Parse(argc, argv): argv[0] is the subcommand name. Positional
  // arguments are rejected unless AllowPositional() was called.
  absl::Status Parse(int argc, char** argv);

  // ParseOrExitCode(argc, argv): the usual subcommand prologue. Returns -1
  // when the command should run; otherwise the exit code after printing
  // the usage (0 for --help) or the error and the usage (2).
  int ParseOrExitCode(int argc, char** argv);
  void AllowPositional() { allow_positional_ = true; }

  bool help_requested() const { return help_; }
  std::string Usage() const;

  std::string GetString(const std::string& name) const;
  int64_t GetInt(const std::string& name) const;
  double GetDouble(const std::string& name) const;
  bool GetBool(const std::string& name) const;
  const std::vector<std::string>& GetList(const std::string& name) const;
  // IsSet(name): given on the command line (not just defaulted).
  bool IsSet(const std::string& name) const;
  // RequireStrings({a, b, ...}): InvalidArgument "--a is required" for the
  // first of these string flags left empty, OK when all are given.
  absl::Status RequireStrings(std::initializer_list<const char*> names) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  enum class Kind { kString, kInt, kDouble, kBool, kList };
  struct Flag {
    Kind kind;
    std::string value;
    std::vector<std::string> values;
    std::string help;
    bool set = false;
  };
  std::string program_;
  std::map<std::string, Flag> flags_;
  std::vector<std::string> order_;
  std::vector<std::string> positional_;
  bool allow_positional_ = false;
  bool help_ = false;
};

}  // namespace hs::cli

#endif  // HAISCALE_CLI_ARGS_H_
