#include "operator/informer_set.h"

namespace wisp::op {

InformerSet::InformerSet(kube::KubeClient* client, const kube::Resource& resource,
                         const std::vector<std::string>& namespaces, kube::ListOptions options)
    : namespaces_(namespaces.empty() ? std::vector<std::string>{""} : namespaces) {
  for (const std::string& ns : namespaces_) {
    informers_.push_back(std::make_unique<Informer>(client, resource, ns, options));
  }
}

void InformerSet::AddHandler(std::function<void(const std::string&, const nlohmann::json*)> handler) {
  for (auto& i : informers_) i->AddHandler(handler);
}

void InformerSet::Start() {
  for (auto& i : informers_) i->Start();
}

void InformerSet::Stop() {
  for (auto& i : informers_) i->Stop();
}

bool InformerSet::WaitForSync(absl::Duration timeout) {
  for (auto& i : informers_) {
    if (!i->WaitForSync(timeout)) return false;
  }
  return true;
}

std::optional<nlohmann::json> InformerSet::Get(const std::string& key) {
  std::string ns = key.substr(0, key.find('/'));
  for (size_t i = 0; i < informers_.size(); ++i) {
    if (namespaces_[i].empty() || namespaces_[i] == ns) return informers_[i]->Get(key);
  }
  return std::nullopt;
}

std::vector<nlohmann::json> InformerSet::List() {
  std::vector<nlohmann::json> out;
  for (auto& i : informers_) {
    auto part = i->List();
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

}  // namespace wisp::op
