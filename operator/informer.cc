#include "operator/informer.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controller/base/log.h"

namespace wisp::op {

using nlohmann::json;

std::string ObjectKey(const json& object) {
  const json& meta = object.contains("metadata") ? object["metadata"] : json::object();
  return absl::StrCat(meta.value("namespace", ""), "/", meta.value("name", ""));
}

Informer::Informer(kube::KubeClient* client, kube::Resource resource, std::string ns,
                   kube::ListOptions options, int watch_timeout_seconds)
    : client_(client), resource_(std::move(resource)), ns_(std::move(ns)),
      options_(std::move(options)), watch_timeout_seconds_(watch_timeout_seconds) {}

Informer::~Informer() { Stop(); }

void Informer::AddHandler(std::function<void(const std::string&, const json*)> handler) {
  handlers_.push_back(std::move(handler));
}

void Informer::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Informer::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

bool Informer::HasSynced() {
  absl::MutexLock lock(&mu_);
  return synced_;
}

bool Informer::WaitForSync(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&synced_), timeout);
}

std::optional<json> Informer::Get(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = cache_.find(key);
  if (it == cache_.end()) return std::nullopt;
  return it->second;
}

std::vector<json> Informer::List() {
  absl::MutexLock lock(&mu_);
  std::vector<json> out;
  for (const auto& [k, v] : cache_) out.push_back(v);
  return out;
}

void Informer::Notify(const std::string& key, const json* object) {
  for (const auto& h : handlers_) h(key, object);
}

bool Informer::ListAndReplace(std::string* resource_version) {
  absl::StatusOr<json> list = client_->List(resource_, ns_, options_);
  if (!list.ok()) {
    log::Warn("list failed", {{"resource", resource_.plural}, {"error", std::string(list.status().message())}});
    return false;
  }
  *resource_version = (*list)["metadata"].value("resourceVersion", "");
  std::map<std::string, json> fresh;
  if ((*list).contains("items") && (*list)["items"].is_array()) {
    for (json& item : (*list)["items"]) {
      // List items lack apiVersion/kind; put them back so cached objects are whole.
      item["apiVersion"] = resource_.ApiVersion();
      item["kind"] = resource_.kind;
      fresh[ObjectKey(item)] = item;
    }
  }
  std::vector<std::string> changed, deleted;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, obj] : cache_) {
      if (fresh.count(key) == 0) deleted.push_back(key);
    }
    for (const auto& [key, obj] : fresh) {
      auto it = cache_.find(key);
      if (it == cache_.end() || it->second != obj) changed.push_back(key);
    }
    cache_ = fresh;
    synced_ = true;
  }
  relists_++;
  for (const auto& key : deleted) Notify(key, nullptr);
  for (const auto& key : changed) Notify(key, &fresh[key]);
  return true;
}

void Informer::Run() {
  absl::Duration backoff = absl::Milliseconds(100);
  std::string rv;
  bool need_list = true;
  while (!stop_) {
    if (need_list) {
      if (!ListAndReplace(&rv)) {
        absl::SleepFor(backoff);
        backoff = std::min(backoff * 2, absl::Seconds(5));
        continue;
      }
      need_list = false;
    }
    // Short watches so that Stop() is honoured promptly; bookmarks keep rv fresh.
    int timeout = std::min(watch_timeout_seconds_, 5);
    absl::Status s = client_->Watch(resource_, ns_, rv, timeout, options_, [&](const json& ev) {
      if (stop_) return false;
      std::string type = ev.value("type", "");
      const json& obj = ev["object"];
      if (!obj.is_object()) return true;
      if (obj.contains("metadata")) {
        std::string next_rv = obj["metadata"].value("resourceVersion", "");
        if (!next_rv.empty()) rv = next_rv;
      }
      if (type == "BOOKMARK") return true;
      std::string key = ObjectKey(obj);
      if (type == "DELETED") {
        {
          absl::MutexLock lock(&mu_);
          cache_.erase(key);
        }
        Notify(key, nullptr);
      } else if (type == "ADDED" || type == "MODIFIED") {
        json copy = obj;
        {
          absl::MutexLock lock(&mu_);
          cache_[key] = copy;
        }
        Notify(key, &copy);
      }
      return true;
    });
    if (s.ok()) {
      backoff = absl::Milliseconds(100);
      continue;
    }
    if (absl::IsOutOfRange(s)) {
      log::Info("watch expired; relisting", {{"resource", resource_.plural}});
    } else {
      log::Warn("watch failed", {{"resource", resource_.plural}, {"error", std::string(s.message())}});
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
    }
    need_list = true;
  }
}

}  // namespace wisp::op
