// Small local replacements for ABSL_RETURN_IF_ERROR / ASSIGN_OR_RETURN, which Abseil 20220623
// does not ship.
#ifndef INFORMER_STATUS_MACROS_H_
#define INFORMER_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define INFORMER_CONCAT_INNER_(a, b) a##b
#define INFORMER_CONCAT_(a, b) INFORMER_CONCAT_INNER_(a, b)

// Returns from the current function when `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                            \
  do {                                                   \
    const ::absl::Status informer_status_ = (expr);      \
    if (!informer_status_.ok()) return informer_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, StatusOrExpr());` declares x or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(INFORMER_CONCAT_(informer_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                           \
  if (!statusor.ok()) return statusor.status();     \
  lhs = std::move(statusor).value()

#endif  // INFORMER_STATUS_MACROS_H_
