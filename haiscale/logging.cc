// File: haiscale/logging.cc — see logging.h.
#include "haiscale/logging.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace hs {
namespace {

std::atomic<int> g_rank{-1};

LogLevel ParseLevel(const char* text) {
  if (text == nullptr) return LogLevel::kWarn;
  if (std::strcmp(text, "INFO") == 0 || std::strcmp(text, "info") == 0)
    return LogLevel::kInfo;
  if (std::strcmp(text, "ERROR") == 0 || std::strcmp(text, "error") == 0)
    return LogLevel::kError;
  return LogLevel::kWarn;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return "I";
    case LogLevel::kWarn:
      return "W";
    case LogLevel::kError:
      return "E";
    case LogLevel::kFatal:
      return "F";
  }
  return "?";
}

}  // namespace

void SetLogRank(int rank) { g_rank.store(rank); }

LogLevel MinLogLevel() {
  static const LogLevel level = ParseLevel(std::getenv("HS_DEBUG"));
  return level;
}

namespace internal {

LogMessage::LogMessage(LogLevel level, const char* file, int line)
    : level_(level) {
  std::time_t now = std::time(nullptr);
  std::tm tm_now;
  localtime_r(&now, &tm_now);
  char when[32];
  std::strftime(when, sizeof(when), "%H:%M:%S", &tm_now);
  const char* base = std::strrchr(file, '/');
  stream_ << LevelName(level) << " " << when << " " << (base ? base + 1 : file)
          << ":" << line << "] ";
  int rank = g_rank.load();
  if (rank >= 0) stream_ << "[rank " << rank << "] ";
}

LogMessage::~LogMessage() {
  stream_ << "\n";
  std::string text = stream_.str();
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
  if (level_ == LogLevel::kFatal) std::abort();
}

}  // namespace internal
}  // namespace hs
