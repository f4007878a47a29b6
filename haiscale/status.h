// File: haiscale/status.h
//
// Error handling for HaiScale: every fallible function returns absl::Status
// or absl::StatusOr<T>. These macros propagate errors with the shape of
// abseil's newer ABSL_RETURN_IF_ERROR / ABSL_ASSIGN_OR_RETURN (not in the
// abseil Debian 12 ships), so moving to them later is a rename.
//
// Usage:
//   absl::Status LoadThing(const std::string& path) {
//     HS_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
//     HS_RETURN_IF_ERROR(Parse(text)) ;
//     return absl::OkStatus();
//   }
//   return Annotate(status, "while loading ", path);   // adds context
#ifndef HAISCALE_STATUS_H_
#define HAISCALE_STATUS_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace hs {

// Annotate(status, parts...)
//
// Returns `status` with "parts...: " prepended to its message (same code).
// An OK status is returned unchanged. Use at module boundaries to add the
// file, field or rank the error concerns.
template <typename... Parts>
absl::Status Annotate(const absl::Status& status, const Parts&... parts) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(parts..., ": ", status.message()));
}

// ErrnoToStatus(err, what)
//
// Converts a POSIX errno value into a Status naming the failed call/file.
absl::Status ErrnoToStatus(int err, const std::string& what);

}  // namespace hs

#define HS_STATUS_CONCAT_INNER_(a, b) a##b
#define HS_STATUS_CONCAT_(a, b) HS_STATUS_CONCAT_INNER_(a, b)

// HS_RETURN_IF_ERROR(expr)
//
// Evaluates `expr` (an absl::Status) and returns it from the enclosing
// function when it is not OK.
#define HS_RETURN_IF_ERROR(expr)                                   \
  do {                                                             \
    ::absl::Status hs_status_ = (expr);                            \
    if (!hs_status_.ok()) return hs_status_;                       \
  } while (0)

// HS_ASSIGN_OR_RETURN(lhs, rexpr)
//
// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status,
// otherwise move-assigns the value to `lhs` (which may be a declaration).
#define HS_ASSIGN_OR_RETURN(lhs, rexpr) \
  HS_ASSIGN_OR_RETURN_IMPL_(HS_STATUS_CONCAT_(hs_statusor_, __LINE__), lhs, rexpr)

#define HS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                              \
  if (!statusor.ok()) return statusor.status();         \
  lhs = std::move(statusor).value()

#endif  // HAISCALE_STATUS_H_
