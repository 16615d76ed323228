#include "gateway/catalog.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "controller/base/log.h"
#include "nlohmann/json.hpp"

namespace wisp::gateway {
namespace {

using nlohmann::json;

absl::Status FieldError(absl::string_view fn, absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("function \"", fn, "\": ", field, " ", what));
}

// Reads obj[key] into `out` when present: an integer in lo..hi, else an error naming it.
absl::Status GetInt(const json& obj, absl::string_view fn, const char* key, int lo, int hi,
                    int& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return absl::OkStatus();
  if (!it->is_number_integer() || it->get<int64_t>() < lo || it->get<int64_t>() > hi) {
    return FieldError(fn, key, absl::StrCat("must be an integer in ", lo, "..", hi));
  }
  out = it->get<int>();
  return absl::OkStatus();
}

}  // namespace

const FunctionInfo* Snapshot::Find(absl::string_view name) const {
  auto it = functions.find(std::string(name));
  return it == functions.end() ? nullptr : &it->second;
}

absl::StatusOr<Snapshot> ParseCatalogJson(absl::string_view text) {
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError("catalog is not a JSON object");
  }
  Snapshot snap;
  auto fns = doc.find("functions");
  if (fns == doc.end()) return snap;
  if (!fns->is_array()) return absl::InvalidArgumentError("catalog: functions must be a list");
  for (const json& f : *fns) {
    if (!f.is_object()) return absl::InvalidArgumentError("catalog: each function is an object");
    FunctionInfo info;
    auto name = f.find("name");
    if (name == f.end() || !name->is_string() || name->get<std::string>().empty()) {
      return absl::InvalidArgumentError("catalog: a function without a name");
    }
    info.name = name->get<std::string>();
    auto get_int = [&](const char* key, int lo, int hi, int& out) {
      return GetInt(f, info.name, key, lo, hi, out);
    };
    if (auto ns = f.find("namespace"); ns != f.end() && ns->is_string()) info.namespace_ = *ns;
    if (auto s = get_int("timeoutSeconds", 1, 900, info.timeout_seconds); !s.ok()) return s;
    if (auto s = get_int("memoryMB", 128, 10240, info.memory_mb); !s.ok()) return s;
    int reserved = -1;
    if (auto s = get_int("reservedConcurrency", 0, 1000000, reserved); !s.ok()) return s;
    if (reserved >= 0) info.reserved_concurrency = reserved;
    if (auto routes = f.find("routes"); routes != f.end()) {
      if (!routes->is_array()) return FieldError(info.name, "routes", "must be a list");
      for (const json& r : *routes) {
        HttpRoute route;
        auto path = r.find("path");
        if (path == r.end() || !path->is_string() || path->get<std::string>().empty() ||
            path->get<std::string>()[0] != '/') {
          return FieldError(info.name, "routes[].path", "must start with /");
        }
        route.path = *path;
        if (auto async = r.find("async"); async != r.end()) {
          if (!async->is_boolean()) return FieldError(info.name, "routes[].async", "must be true or false");
          route.async = async->get<bool>();
        }
        if (auto methods = r.find("methods"); methods != r.end()) {
          if (!methods->is_array()) return FieldError(info.name, "routes[].methods", "must be a list");
          for (const json& m : *methods) {
            if (!m.is_string()) return FieldError(info.name, "routes[].methods", "must be strings");
            std::string up = absl::AsciiStrToUpper(m.get<std::string>());
            if (up != "ANY") route.methods.push_back(up);
          }
        }
        info.routes.push_back(std::move(route));
      }
    }
    if (auto eps = f.find("endpoints"); eps != f.end()) {
      if (!eps->is_array()) return FieldError(info.name, "endpoints", "must be a list");
      for (const json& e : *eps) {
        Endpoint ep;
        auto addr = e.find("address");
        if (addr == e.end() || !addr->is_string() || addr->get<std::string>().empty()) {
          return FieldError(info.name, "endpoints[].address", "is required (host:port)");
        }
        ep.address = *addr;
        if (auto cap = e.find("capacity"); cap != e.end()) {
          if (!cap->is_number_integer() || cap->get<int>() < 1) {
            return FieldError(info.name, "endpoints[].capacity", "must be a positive integer");
          }
          ep.capacity = cap->get<int>();
        }
        info.endpoints.push_back(std::move(ep));
      }
    }
    if (auto async = f.find("async"); async != f.end()) {
      if (!async->is_object()) return FieldError(info.name, "async", "must be an object");
      if (auto s = GetInt(*async, info.name, "maxRetries", 0, 2, info.async.max_retries); !s.ok()) return s;
      if (auto s = GetInt(*async, info.name, "maxEventAgeSeconds", 60, 21600, info.async.max_event_age_seconds);
          !s.ok()) {
        return s;
      }
      for (auto [key, out] : {std::pair{"onFailure", &info.async.on_failure},
                              std::pair{"onSuccess", &info.async.on_success}}) {
        auto d = async->find(key);
        if (d == async->end()) continue;
        if (!d->is_object()) return FieldError(info.name, key, "must be {stream} or {function}");
        out->stream = d->value("stream", "");
        out->function = d->value("function", "");
        if (out->stream.empty() == out->function.empty()) {
          return FieldError(info.name, key, "sets exactly one of stream and function");
        }
      }
    }
    if (auto queues = f.find("queues"); queues != f.end()) {
      if (!queues->is_array()) return FieldError(info.name, "queues", "must be a list");
      for (const json& q : *queues) {
        events::QueueTrigger trigger;
        if (!q.is_object() || !q.contains("stream") || !q["stream"].is_string() ||
            q["stream"].get<std::string>().empty()) {
          return FieldError(info.name, "queues[].stream", "is required");
        }
        trigger.stream = q["stream"];
        if (auto s = GetInt(q, info.name, "batchSize", 1, 10000, trigger.batch_size); !s.ok()) {
          return s;
        }
        if (auto s = GetInt(q, info.name, "batchWindowSeconds", 0, 300,
                                trigger.batch_window_seconds);
            !s.ok()) {
          return s;
        }
        if (auto s = GetInt(q, info.name, "maxReceiveCount", 1, 1000,
                                trigger.max_receive_count);
            !s.ok()) {
          return s;
        }
        trigger.dead_letter_stream = events::DeadLetterStream(trigger.stream);
        info.queues.push_back(std::move(trigger));
      }
    }
    std::string key = info.name;
    if (!snap.functions.emplace(key, std::move(info)).second) {
      return absl::InvalidArgumentError(absl::StrCat("catalog: function \"", key, "\" twice"));
    }
  }
  return snap;
}

absl::StatusOr<std::unique_ptr<FileCatalog>> FileCatalog::Open(std::string path, int poll_ms) {
  std::unique_ptr<FileCatalog> c(new FileCatalog());
  c->path_ = std::move(path);
  c->poll_ms_ = poll_ms;
  {
    absl::MutexLock lock(&c->mu_);
    c->current_ = std::make_shared<Snapshot>();
  }
  struct stat st;
  if (::stat(c->path_.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("catalog file ", c->path_, " does not exist"));
  }
  std::ifstream in(c->path_);
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<Snapshot> snap = ParseCatalogJson(ss.str());
  if (!snap.ok()) return snap.status();
  c->mtime_ns_ = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  c->size_ = st.st_size;
  absl::MutexLock lock(&c->mu_);
  c->current_ = std::make_shared<const Snapshot>(std::move(*snap));
  return c;
}

FileCatalog::~FileCatalog() {
  {
    absl::MutexLock lock(&stop_mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const Snapshot> FileCatalog::Current() {
  absl::MutexLock lock(&mu_);
  return current_;
}

void FileCatalog::OnChange(std::function<void(std::shared_ptr<const Snapshot>)> cb) {
  on_change_ = std::move(cb);
}

bool FileCatalog::Reload() {
  struct stat st;
  if (::stat(path_.c_str(), &st) != 0) return false;
  int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (mtime == mtime_ns_ && st.st_size == size_) return false;
  mtime_ns_ = mtime;
  size_ = st.st_size;
  std::ifstream in(path_);
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<Snapshot> snap = ParseCatalogJson(ss.str());
  if (!snap.ok()) {
    log::Warn("catalog not reloaded", {{"path", path_}, {"error", std::string(snap.status().message())}});
    return false;
  }
  auto next = std::make_shared<const Snapshot>(std::move(*snap));
  {
    absl::MutexLock lock(&mu_);
    current_ = next;
  }
  log::Info("catalog reloaded", {{"path", path_}, {"functions", next->functions.size()}});
  if (on_change_) on_change_(next);
  return true;
}

void FileCatalog::Start() {
  if (on_change_) on_change_(Current());
  thread_ = std::thread([this] {
    while (true) {
      {
        absl::MutexLock lock(&stop_mu_);
        if (stop_mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(poll_ms_))) return;
      }
      Reload();
    }
  });
}

}  // namespace wisp::gateway
