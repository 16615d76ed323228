// What the gateway knows about functions: each function's config and routes, and its ready
// worker endpoints with their capacity. A Snapshot is an immutable value; a FunctionCatalog
// hands out the current one and tells subscribers when it changes.
//
// Implementations: FileCatalog (a JSON file, reloaded on change, so the gateway runs standalone
// in front of workers) and StreamCatalog (gateway/stream_catalog.h: the operator's routing stream).
#ifndef WISP_GATEWAY_CATALOG_H_
#define WISP_GATEWAY_CATALOG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "controller/events/async_event.h"

namespace wisp::gateway {

struct HttpRoute {
  std::string path;                  // "/hello/{name}", "/files/{proxy+}"
  std::vector<std::string> methods;  // upper case; empty = any
  bool async = false;                // 202 once stored (needs --redis); runs asynchronously
};

struct Endpoint {
  std::string address;  // host:port of a worker's gRPC server
  int capacity = 1;     // execution environments it runs
  bool operator==(const Endpoint&) const = default;
};

struct FunctionInfo {
  std::string name;
  std::string namespace_ = "default";
  int timeout_seconds = 3;
  int memory_mb = 128;
  std::optional<int> reserved_concurrency;  // cap on concurrent executions
  std::vector<HttpRoute> routes;
  std::vector<Endpoint> endpoints;
  events::AsyncPolicy async;
  std::vector<events::QueueTrigger> queues;
};

struct Snapshot {
  std::map<std::string, FunctionInfo> functions;  // by name
  const FunctionInfo* Find(absl::string_view name) const;
};

// Parses the catalog document:
//   {"functions": [{"name": "hello", "namespace": "default", "timeoutSeconds": 3,
//     "memoryMB": 128, "reservedConcurrency": 10,
//     "routes": [{"path": "/hello/{name}", "methods": ["GET"], "async": false}],
//     "endpoints": [{"address": "127.0.0.1:9000", "capacity": 1}],
//     "async": {"maxRetries": 2, "maxEventAgeSeconds": 21600,
//               "onFailure": {"stream": "failed"}, "onSuccess": {"function": "audit"}},
//     "queues": [{"stream": "orders", "batchSize": 10, "batchWindowSeconds": 0,
//                 "maxReceiveCount": 5}]}]}
// Errors name the function and field. Pure.
absl::StatusOr<Snapshot> ParseCatalogJson(absl::string_view json);

class FunctionCatalog {
 public:
  virtual ~FunctionCatalog() = default;
  // The current snapshot (never null). Thread-safe.
  virtual std::shared_ptr<const Snapshot> Current() = 0;
  // Called with each new snapshot, on the catalog's thread. Set before Start().
  virtual void OnChange(std::function<void(std::shared_ptr<const Snapshot>)> cb) = 0;
};

// Reads a JSON file and re-reads it when its modification time or size changes (polled every
// `poll`). A file that fails to parse keeps the previous snapshot and logs the error.
class FileCatalog : public FunctionCatalog {
 public:
  static absl::StatusOr<std::unique_ptr<FileCatalog>> Open(std::string path, int poll_ms = 500);
  ~FileCatalog() override;
  std::shared_ptr<const Snapshot> Current() override;
  void OnChange(std::function<void(std::shared_ptr<const Snapshot>)> cb) override;
  void Start();

 private:
  FileCatalog() = default;
  bool Reload();  // true when a new snapshot was installed

  std::string path_;
  int poll_ms_ = 500;
  int64_t mtime_ns_ = -1;
  int64_t size_ = -1;
  absl::Mutex mu_;
  std::shared_ptr<const Snapshot> current_ ABSL_GUARDED_BY(mu_);
  std::function<void(std::shared_ptr<const Snapshot>)> on_change_;
  std::thread thread_;
  absl::Mutex stop_mu_;
  bool stop_ ABSL_GUARDED_BY(stop_mu_) = false;
};

}  // namespace wisp::gateway

#endif  // WISP_GATEWAY_CATALOG_H_
