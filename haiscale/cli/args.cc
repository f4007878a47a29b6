// File: haiscale/cli/args.cc — see args.h.
#include "haiscale/cli/args.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "haiscale/logging.h"

namespace hs::cli {

void ArgParser::AddString(const std::string& name, const std::string& def,
                          const std::string& help) {
  flags_[name] = Flag{Kind::kString, def, {}, help};
  order_.push_back(name);
}
void ArgParser::AddInt(const std::string& name, int64_t def,
                       const std::string& help) {
  flags_[name] = Flag{Kind::kInt, absl::StrCat(def), {}, help};
  order_.push_back(name);
}
void ArgParser::AddDouble(const std::string& name, double def,
                          const std::string& help) {
  flags_[name] = Flag{Kind::kDouble, absl::StrCat(def), {}, help};
  order_.push_back(name);
}
void ArgParser::AddBool(const std::string& name, const std::string& help) {
  flags_[name] = Flag{Kind::kBool, "false", {}, help};
  order_.push_back(name);
}
void ArgParser::AddList(const std::string& name, const std::string& help) {
  flags_[name] = Flag{Kind::kList, "", {}, help};
  order_.push_back(name);
}

absl::Status ArgParser::Parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_ = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      if (!allow_positional_) {
        return absl::InvalidArgumentError(
            absl::StrCat(program_, ": unexpected argument '", arg, "'"));
      }
      positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto it = flags_.find(name);
    if (it == flags_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(program_, ": unknown flag --", name, " (see --help)"));
    }
    Flag& flag = it->second;
    if (flag.kind == Kind::kBool) {
      if (!has_value) value = "true";
      if (value != "true" && value != "false" && value != "1" && value != "0") {
        return absl::InvalidArgumentError(absl::StrCat(
            program_, ": --", name, " expects true|false, got '", value, "'"));
      }
      flag.value = (value == "true" || value == "1") ? "true" : "false";
      flag.set = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(
            absl::StrCat(program_, ": --", name, " needs a value"));
      }
      value = argv[++i];
    }
    if (flag.kind == Kind::kInt) {
      int64_t v;
      if (!absl::SimpleAtoi(value, &v)) {
        return absl::InvalidArgumentError(absl::StrCat(
            program_, ": --", name, " expects an integer, got '", value, "'"));
      }
    } else if (flag.kind == Kind::kDouble) {
      double v;
      if (!absl::SimpleAtod(value, &v)) {
        return absl::InvalidArgumentError(absl::StrCat(
            program_, ": --", name, " expects a number, got '", value, "'"));
      }
    }
    if (flag.kind == Kind::kList) {
      flag.values.push_back(value);
    } else {
      flag.value = value;
    }
    flag.set = true;
  }
  return absl::OkStatus();
}

int ArgParser::ParseOrExitCode(int argc, char** argv) {
  absl::Status parsed = Parse(argc, argv);
  if (help_requested()) {
    std::printf("%s", Usage().c_str());
    return 0;
  }
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n\n%s", std::string(parsed.message()).c_str(), Usage().c_str());
    return 2;
  }
  return -1;
}

std::string ArgParser::Usage() const {
  std::string out = absl::StrCat("usage: ", program_, " [flags]\n");
  for (const auto& name : order_) {
    const Flag& f = flags_.at(name);
    std::string shown = f.kind == Kind::kBool   ? ""
                        : f.kind == Kind::kList ? " VALUE (repeatable)"
                                                : " VALUE";
    absl::StrAppend(&out, "  --", name, shown, "\n      ", f.help);
    if (f.kind != Kind::kBool && f.kind != Kind::kList && !f.value.empty()) {
      absl::StrAppend(&out, " (default: ", f.value, ")");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

std::string ArgParser::GetString(const std::string& name) const {
  auto it = flags_.find(name);
  HS_CHECK(it != flags_.end()) << "undeclared flag " << name;
  return it->second.value;
}
int64_t ArgParser::GetInt(const std::string& name) const {
  int64_t v = 0;
  HS_CHECK(absl::SimpleAtoi(GetString(name), &v)) << name;
  return v;
}
double ArgParser::GetDouble(const std::string& name) const {
  double v = 0;
  HS_CHECK(absl::SimpleAtod(GetString(name), &v)) << name;
  return v;
}
bool ArgParser::GetBool(const std::string& name) const {
  return GetString(name) == "true";
}
const std::vector<std::string>& ArgParser::GetList(
    const std::string& name) const {
  auto it = flags_.find(name);
  HS_CHECK(it != flags_.end()) << "undeclared flag " << name;
  return it->second.values;
}
bool ArgParser::IsSet(const std::string& name) const {
  auto it = flags_.find(name);
  return it != flags_.end() && it->second.set;
}

absl::Status ArgParser::RequireStrings(std::initializer_list<const char*> names) const {
  for (const char* name : names) {
    if (GetString(name).empty()) {
      return absl::InvalidArgumentError(std::string("--") + name + " is required");
    }
  }
  return absl::OkStatus();
}

}  // namespace hs::cli
