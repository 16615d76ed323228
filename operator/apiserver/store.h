// The state of the Kubernetes API test server: objects, resourceVersions, the
// watch event history and the open watches, independent of HTTP.
//
// Objects are JSON values keyed by group/resource/namespace/name (all versions
// of a resource share storage; reads present the requested version by rewriting
// apiVersion, i.e. "None" conversion). Every write takes the next value of one
// global, monotonically increasing resourceVersion, as etcd revisions do, and
// sets uid, creationTimestamp and generation. The semantics an operator relies
// on are kept:
//  - optimistic concurrency: a write carrying metadata.resourceVersion that is
//  not the current one
//    fails with Conflict (ABORTED);
//  - writes that change nothing are no-ops (no new resourceVersion, no watch
//  event);
//  - status subresource: for types that have one, main-resource writes keep
//  .status and status
//    writes change only .status; neither kind of status write bumps
//    metadata.generation, which counts spec changes (for custom resources:
//    changes outside metadata and status);
//  - deletion honours finalizers simply (deletionTimestamp is set, the object
//  goes when its last
//    finalizer is removed) and then deletes dependents whose ownerReferences
//    all point at deleted owners (synchronously, whatever the propagation
//    policy, except Orphan which strips the owner references instead); deleting
//    a Namespace deletes its contents, deleting a CRD deletes its custom
//    resources;
//  - CustomResourceDefinitions register their resources as soon as they are
//  written, and custom
//    resources are defaulted and validated against the CRD schema (see
//    schema.h);
//  - watches see every change after their starting resourceVersion, in order;
//  resuming from a
//    resourceVersion older than the retained history fails with Expired
//    (OUT_OF_RANGE).
//
// Persistence: with a data folder, the whole store is written as one JSON
// snapshot (store.json, replaced atomically: temp file, fsync, rename) after
// every write and read back by Open(), so objects and the resourceVersion
// counter survive restarts. The event history does not: watches resuming from
// before a restart get Expired and re-list, as after a compaction.
//
// Thread safety: Store is thread-safe; one mutex orders all writes. Watch is
// thread-compatible (one reader) while the Store feeds it from any thread. A
// Watch may outlive the Store.
#ifndef WISP_OPERATOR_APISERVER_STORE_H_
#define WISP_OPERATOR_APISERVER_STORE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "operator/apiserver/json_util.h"
#include "operator/apiserver/resources.h"
#include "operator/apiserver/selectors.h"

namespace wisp::apiserver {

enum class Subresource { kMain, kStatus };

struct ListOptions {
  LabelSelector labels;
  FieldSelector fields;
  int64_t limit = 0;           // 0 = all
  std::string continue_token;  // from a previous page
};

struct ListResult {
  std::vector<Json> items;
  int64_t resource_version = 0;
  std::string continue_token;  // "" on the last page
  int64_t remaining = 0;       // items after this page
};

struct WriteOptions {
  bool dry_run = false;  // validate and compute the result, store nothing
};

struct DeleteOptions {
  enum class Propagation { kBackground, kForeground, kOrphan };
  Propagation propagation = Propagation::kBackground;
  std::string precondition_uid;
  std::string precondition_resource_version;
  bool dry_run = false;
};

struct WatchOptions {
  // "" or "0": start with synthetic ADDED events for the current objects;
  // otherwise the events after this resourceVersion.
  std::string resource_version;
  LabelSelector labels;
  FieldSelector fields;
  // After the synthetic ADDED events, a BOOKMARK annotated
  // k8s.io/initial-events-end=true (the sendInitialEvents protocol).
  bool initial_events_end_bookmark = false;
};

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
  Json object;
};

namespace internal {
struct WatchState;
}

// One open watch. Events are queued by the Store as writes happen; Next() hands
// them out.
class Watch {
 public:
  enum class Result { kEvents, kTimeout, kClosed };

  explicit Watch(std::shared_ptr<internal::WatchState> state);
  ~Watch();  // closes the watch
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  // Waits until events are queued, `deadline` passes or the watch is closed,
  // and moves every queued event into `out`. `progress` receives a
  // resourceVersion such that every event up to it has been handed out (use it
  // for BOOKMARK events when nothing is left queued). kClosed is returned once
  // the queue is empty and the watch was closed (by Close(), by the Store
  // shutting down, by ExpireWatches(), or because its queue overflowed).
  Result Next(absl::Time deadline, std::vector<WatchEvent>* out,
              int64_t* progress);

  // The kind and apiVersion presented by this watch (for BOOKMARK objects).
  const std::string& kind() const;
  const std::string& api_version() const;

  void Close();

 private:
  std::shared_ptr<internal::WatchState> state_;
};

class Store {
 public:
  struct Options {
    std::string data_dir;          // "" keeps everything in memory
    size_t history_limit = 10000;  // watch events retained for resuming watches
    size_t watch_queue_limit =
        10000;  // events queued for one slow watcher before it is closed
    bool require_namespaces =
        true;  // namespaced writes need the Namespace to exist
    std::function<absl::Time()> clock;  // default absl::Now
  };

  // Opens a store, loading the snapshot from `data_dir` when there is one.
  // Creates the default namespaces (default, kube-system, kube-public,
  // kube-node-lease) when missing. Errors: the data folder cannot be created or
  // its snapshot cannot be read or parsed.
  static absl::StatusOr<std::unique_ptr<Store>> Open(Options options);
  ~Store();  // closes open watches

  // The served resource types (built-ins and those the stored CRDs declare).
  std::vector<ResourceType> Resources() const;
  std::optional<ResourceType> FindResource(absl::string_view group,
                                           absl::string_view version,
                                           absl::string_view resource) const;

  // `ns` is ignored for cluster-scoped types. Objects returned carry the type's
  // apiVersion/kind. Errors: NotFound, AlreadyExists, Conflict, Invalid,
  // BadRequest (see errors.h).
  absl::StatusOr<Json> Create(const ResourceType& type, absl::string_view ns,
                              Json object, const WriteOptions& options = {});
  absl::StatusOr<Json> Get(const ResourceType& type, absl::string_view ns,
                           absl::string_view name) const;
  // `ns` "" lists across namespaces.
  absl::StatusOr<ListResult> List(const ResourceType& type,
                                  absl::string_view ns,
                                  const ListOptions& options) const;
  absl::StatusOr<Json> Update(const ResourceType& type, absl::string_view ns,
                              absl::string_view name, Json object,
                              Subresource subresource,
                              const WriteOptions& options = {});

  // Read-modify-write under the store lock: `mutation` gets the current object
  // (nullptr when missing) and returns the object to write, which is then
  // written as Update() would (or created, when there was none). The result's
  // metadata.resourceVersion, when set, is a precondition. `mutation` must not
  // call back into the Store.
  using Mutation = std::function<absl::StatusOr<Json>(const Json* current)>;
  struct MutateResult {
    Json object;
    bool created = false;
  };
  absl::StatusOr<MutateResult> Mutate(const ResourceType& type,
                                      absl::string_view ns,
                                      absl::string_view name,
                                      Subresource subresource,
                                      const Mutation& mutation,
                                      const WriteOptions& options = {});

  // Returns the object as deleted, or with deletionTimestamp set when
  // finalizers hold it.
  absl::StatusOr<Json> Delete(const ResourceType& type, absl::string_view ns,
                              absl::string_view name,
                              const DeleteOptions& options = {});
  absl::StatusOr<std::vector<Json>> DeleteCollection(
      const ResourceType& type, absl::string_view ns,
      const ListOptions& selection, const DeleteOptions& options = {});

  // Errors: Expired when `options.resource_version` is older than the retained
  // history, BadRequest when it is not a number.
  absl::StatusOr<std::unique_ptr<Watch>> StartWatch(
      const ResourceType& type, absl::string_view ns,
      const WatchOptions& options);

  int64_t ResourceVersion() const;
  // Forgets the event history: watches resuming from any earlier
  // resourceVersion get Expired.
  void Compact();
  // Ends every open watch with an ERROR event carrying a 410 Expired Status
  // (clients re-list).
  void ExpireWatches();
  // Ends every open watch (used when the server shuts down).
  void CloseWatches();
  // Watches currently open (for tests and metrics).
  int OpenWatches() const;
  // Snapshot writes that failed (the store keeps serving from memory and logs
  // each failure).
  int64_t persist_failures() const;

 private:
  struct Key {
    std::string group, resource, ns, name;
    bool operator<(const Key& o) const;
  };
  struct HistoryEvent {
    int64_t rv;
    std::string group, resource;
    std::string type;
    std::shared_ptr<const Json> object;
    std::shared_ptr<const Json> previous;
  };
  // The effect of one API call: a snapshot to persist once the lock is
  // released.
  struct Commit {
    int64_t rv = 0;
    std::string snapshot;
  };

  explicit Store(Options options);
  absl::Status Load();

  absl::Time Now() const;
  std::string NewUid() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Key KeyOf(const ResourceType& type, absl::string_view ns,
            absl::string_view name) const;
  Json Present(const ResourceType& type, const Json& stored) const;

  absl::StatusOr<Json> CreateLocked(const ResourceType& type,
                                    absl::string_view ns, Json object,
                                    const WriteOptions& options)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Json> UpdateLocked(const ResourceType& type, const Key& key,
                                    Json object, Subresource subresource,
                                    const WriteOptions& options)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Json> DeleteLocked(const ResourceType& type, const Key& key,
                                    const DeleteOptions& options)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the object for good, then its dependents (and namespace or CRD
  // contents).
  void RemoveLocked(const Key& key, DeleteOptions::Propagation propagation)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Type-specific defaults and validation before a write (namespaces,
  // workloads, services, CRDs, custom resources). Errors: Invalid.
  absl::Status Prepare(const ResourceType& type, Json& object,
                       const Json* previous) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stores `object` (null = deletion) at the next resourceVersion and notifies
  // watches.
  void StoreLocked(const Key& key, std::shared_ptr<Json> object,
                   const std::string& event_type)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SyncCrdLocked(const Json* crd, const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<ResourceType> TypeOf(const Key& key) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Commit MakeCommit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Persist(const Commit& commit);

  const Options options_;
  mutable absl::Mutex mu_;
  std::map<Key, std::shared_ptr<const Json>> objects_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Key> by_uid_ ABSL_GUARDED_BY(mu_);
  ResourceRegistry registry_ ABSL_GUARDED_BY(mu_);
  int64_t rv_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t compacted_rv_ ABSL_GUARDED_BY(mu_) =
      0;  // events at or before it are gone
  std::deque<HistoryEvent> history_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<internal::WatchState>> watches_
      ABSL_GUARDED_BY(mu_);
  absl::BitGen rng_ ABSL_GUARDED_BY(mu_);

  mutable absl::Mutex persist_mu_ ABSL_ACQUIRED_AFTER(mu_);
  int64_t persisted_rv_ ABSL_GUARDED_BY(persist_mu_) = -1;
  int64_t persist_failures_ ABSL_GUARDED_BY(persist_mu_) = 0;
};

}  // namespace wisp::apiserver

#endif  // WISP_OPERATOR_APISERVER_STORE_H_
