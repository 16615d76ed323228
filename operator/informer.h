// A cache of one kind of object kept current by list + watch, as client-go's informers do:
// list, then watch from the list's resourceVersion with bookmarks; on 410 Gone relist (and
// report what changed meanwhile); on errors back off (100 ms doubling to 5 s) and relist.
// Handlers get the object's key ("namespace/name") after every change, including deletes.
// Thread-safe; handlers run on the informer's thread and must not block.
#ifndef WISP_OPERATOR_INFORMER_H_
#define WISP_OPERATOR_INFORMER_H_

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "operator/kube/client.h"

namespace wisp::op {

std::string ObjectKey(const nlohmann::json& object);  // "ns/name"

class Informer {
 public:
  Informer(kube::KubeClient* client, kube::Resource resource, std::string ns,
           kube::ListOptions options = {}, int watch_timeout_seconds = 300);
  ~Informer();

  // `handler(key, object or nullptr when deleted)`. Add before Start().
  void AddHandler(std::function<void(const std::string&, const nlohmann::json*)> handler);
  void Start();
  void Stop();
  // True once the first list has filled the cache.
  bool HasSynced();
  bool WaitForSync(absl::Duration timeout);

  std::optional<nlohmann::json> Get(const std::string& key);
  std::vector<nlohmann::json> List();
  // Counters for tests and metrics.
  int relists() const { return relists_.load(); }

 private:
  void Run();
  bool ListAndReplace(std::string* resource_version);
  void Notify(const std::string& key, const nlohmann::json* object);

  kube::KubeClient* client_;
  const kube::Resource resource_;
  const std::string ns_;
  const kube::ListOptions options_;
  const int watch_timeout_seconds_;
  std::vector<std::function<void(const std::string&, const nlohmann::json*)>> handlers_;
  absl::Mutex mu_;
  std::map<std::string, nlohmann::json> cache_ ABSL_GUARDED_BY(mu_);
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> stop_{false};
  std::atomic<int> relists_{0};
  std::thread thread_;
};

}  // namespace wisp::op

#endif  // WISP_OPERATOR_INFORMER_H_
