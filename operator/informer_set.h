// Informers for one kind across the watched namespaces (all namespaces = one informer with
// namespace ""). Lookups go to the informer of the key's namespace. Thread-safe.
#ifndef WISP_OPERATOR_INFORMER_SET_H_
#define WISP_OPERATOR_INFORMER_SET_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "operator/informer.h"

namespace wisp::op {

class InformerSet {
 public:
  InformerSet(kube::KubeClient* client, const kube::Resource& resource,
              const std::vector<std::string>& namespaces, kube::ListOptions options = {});
  void AddHandler(std::function<void(const std::string&, const nlohmann::json*)> handler);
  void Start();
  void Stop();
  bool WaitForSync(absl::Duration timeout);
  std::optional<nlohmann::json> Get(const std::string& key);
  std::vector<nlohmann::json> List();

 private:
  std::vector<std::unique_ptr<Informer>> informers_;
  std::vector<std::string> namespaces_;
};

}  // namespace wisp::op

#endif  // WISP_OPERATOR_INFORMER_SET_H_
