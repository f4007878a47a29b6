// File: haiscale/logging.h
//
// Minimal leveled logging to stderr, prefixed with time, level and (when
// set) the MPI rank. Level comes from HS_DEBUG=INFO|WARN|ERROR (default
// WARN for library code; the CLI prints its own progress lines).
//
// Usage:
//   HS_LOG(INFO) << "topology: dp=" << dp;
//   HS_CHECK(n > 0) << "programmer error: empty shape";   // aborts
#ifndef HAISCALE_LOGGING_H_
#define HAISCALE_LOGGING_H_

#include <sstream>
#include <string>

namespace hs {

enum class LogLevel { kInfo = 0, kWarn = 1, kError = 2, kFatal = 3 };

// SetLogRank(rank)
//
// Tags every following log line with "[rank N]" (-1 removes the tag).
void SetLogRank(int rank);

// MinLogLevel()
//
// The level below which messages are dropped (from HS_DEBUG, read once).
LogLevel MinLogLevel();

namespace internal {

class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Swallows the stream expression when a message is disabled.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace internal
}  // namespace hs

#define HS_LOG_LEVEL_INFO ::hs::LogLevel::kInfo
#define HS_LOG_LEVEL_WARN ::hs::LogLevel::kWarn
#define HS_LOG_LEVEL_ERROR ::hs::LogLevel::kError
#define HS_LOG_LEVEL_FATAL ::hs::LogLevel::kFatal

// HS_LOG(LEVEL) << ...;  LEVEL is INFO, WARN, ERROR or FATAL (aborts).
#define HS_LOG(level)                                          \
  (HS_LOG_LEVEL_##level < ::hs::MinLogLevel())                 \
      ? (void)0                                                \
      : ::hs::internal::LogVoidify() &                         \
            ::hs::internal::LogMessage(HS_LOG_LEVEL_##level,   \
                                       __FILE__, __LINE__)     \
                .stream()

// HS_CHECK(cond) << ...;  for programmer errors only: aborts when false.
// User-facing errors are absl::Status, never HS_CHECK.
#define HS_CHECK(cond)                                                 \
  (cond) ? (void)0                                                     \
         : ::hs::internal::LogVoidify() &                              \
               ::hs::internal::LogMessage(::hs::LogLevel::kFatal,      \
                                          __FILE__, __LINE__)          \
                       .stream()                                       \
                   << "Check failed: " #cond " "

#endif  // HAISCALE_LOGGING_H_
