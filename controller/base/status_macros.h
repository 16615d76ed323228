// Small local versions of Abseil's status macros, which Debian's abseil (20220623) lacks.
// Same names and meaning as upstream, so that an abseil upgrade replaces them mechanically.
#ifndef WISP_CONTROLLER_BASE_STATUS_MACROS_H_
#define WISP_CONTROLLER_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define WISP_STATUS_CONCAT_INNER_(a, b) a##b
#define WISP_STATUS_CONCAT_(a, b) WISP_STATUS_CONCAT_INNER_(a, b)

// Returns from the calling function if `expr` (an absl::Status) is not OK.
#ifndef ABSL_RETURN_IF_ERROR
#define ABSL_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    ::absl::Status wisp_status_ = (expr);           \
    if (!wisp_status_.ok()) return wisp_status_;   \
  } while (0)
#endif

// `ASSIGN_OR_RETURN(auto x, StatusOrExpr())`: declares x from the value or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  WISP_ASSIGN_OR_RETURN_IMPL_(WISP_STATUS_CONCAT_(wisp_statusor_, __LINE__), lhs, expr)
#define WISP_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

#endif  // WISP_CONTROLLER_BASE_STATUS_MACROS_H_
