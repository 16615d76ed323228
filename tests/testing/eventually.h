// Small test helpers shared by the test files: polling a condition with a deadline (tests
// never sleep-and-assert), and RFC 3339 times for table tests. Header-only.
#ifndef WISP_TESTS_TESTING_EVENTUALLY_H_
#define WISP_TESTS_TESTING_EVENTUALLY_H_

#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace wisp::testing {

// Polls `done` every `every` until it holds (true) or `timeout` passes (its last answer).
inline bool Eventually(const std::function<bool()>& done,
                       absl::Duration timeout = absl::Seconds(20),
                       absl::Duration every = absl::Milliseconds(20)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(every);
  }
  return done();
}

// An RFC 3339 time ("2024-03-10T03:00:00-04:00"); fails the test if it does not parse.
inline absl::Time T(absl::string_view text) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &error)) {
    ADD_FAILURE() << "bad time in test: " << text << ": " << error;
  }
  return t;
}

}  // namespace wisp::testing

#endif  // WISP_TESTS_TESTING_EVENTUALLY_H_
