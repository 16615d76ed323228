// A rate-limited work queue keyed by object, with client-go's semantics: a key is queued at
// most once; a key being processed is not handed to another worker, and if it is added again
// meanwhile it is processed again after Done(); failures come back after a per-key exponential
// backoff (5 ms doubling to 60 s) until Forget(). Thread-safe.
#ifndef WISP_OPERATOR_WORKQUEUE_H_
#define WISP_OPERATOR_WORKQUEUE_H_

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace wisp::op {

class WorkQueue {
 public:
  void Add(const std::string& key);
  void AddAfter(const std::string& key, absl::Duration delay);
  void AddRateLimited(const std::string& key);
  void Forget(const std::string& key);
  // Blocks until a key is ready or the queue shuts down (nullopt).
  std::optional<std::string> Get();
  void Done(const std::string& key);
  void ShutDown();
  int Len();
  int Failures(const std::string& key);

 private:
  void PromoteDueLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddLocked(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> dirty_ ABSL_GUARDED_BY(mu_);       // queued or to requeue
  std::set<std::string> processing_ ABSL_GUARDED_BY(mu_);
  std::multimap<absl::Time, std::string> delayed_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> failures_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace wisp::op

#endif  // WISP_OPERATOR_WORKQUEUE_H_
