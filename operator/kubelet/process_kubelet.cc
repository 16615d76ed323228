#include "operator/kubelet/process_kubelet.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include <httplib.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "controller/base/log.h"

extern char** environ;

namespace wisp::op {

using nlohmann::json;
namespace fs = std::filesystem;
namespace res = kube::resources;

namespace {

constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
constexpr char kOperatorName[] = "wisp-operator";
constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";
constexpr char kSliceManagedByLabel[] = "endpointslice.kubernetes.io/managed-by";
constexpr char kKubeletName[] = "wisp-kubelet";
constexpr char kConfigHashAnnotation[] = "wisp.dev/config-hash";
constexpr char kWorkerContainer[] = "worker";
constexpr char kConfigFileKey[] = "function.json";
// Pods the kubelet writes carry this label (value "local"); they are deleted at start.
constexpr char kPodKubeletLabel[] = "wisp.dev/kubelet";
constexpr char kPodDeletionCost[] = "controller.kubernetes.io/pod-deletion-cost";

// Flags the kubelet sets itself (the pod template's values are for a container).
const std::set<std::string>& ReplacedFlags() {
  static const std::set<std::string> flags = {"listen", "port", "admin_port", "port_file",
                                              "work_dir"};
  return flags;
}

const json& At(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string Str(const json& j, const char* key) {
  const json& v = At(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

int64_t Int(const json& j, const char* key, int64_t fallback) {
  const json& v = At(j, key);
  return v.is_number_integer() ? v.get<int64_t>() : fallback;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteFile(const fs::path& path, const std::string& content, int mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) return false;
  }
  return ::chmod(path.c_str(), mode) == 0;
}

const json* WorkerContainer(const json& pod_spec) {
  const json& containers = At(pod_spec, "containers");
  if (!containers.is_array() || containers.empty()) return nullptr;
  for (const json& c : containers) {
    if (Str(c, "name") == kWorkerContainer) return &c;
  }
  return &containers[0];
}

// Where a mount path goes inside the materialized folder.
std::string LocalFolderName(const std::string& mount_path, const std::string& volume) {
  if (mount_path == "/etc/wisp") return "etc";
  if (mount_path == "/var/task") return "task";
  return absl::StrCat("vol-", volume);
}

// `value` with a mount-path prefix replaced by its local folder.
std::string RewritePath(const std::string& value,
                        const std::vector<std::pair<std::string, std::string>>& mounts) {
  for (const auto& [mount, local] : mounts) {
    if (value == mount) return local;
    if (absl::StartsWith(value, mount + "/")) return local + value.substr(mount.size());
  }
  return value;
}

}  // namespace

struct ProcessKubelet::Process {
  int index = 0;
  pid_t pid = -1;
  std::string hash;
  std::string run_dir;
  std::string port_file;
  int port = 0;
  int admin_port = 0;
  bool ready = false;
  bool ever_ready = false;  // ready once: later unready spells are not a start
  absl::Time started;
  absl::Time kill_at = absl::InfiniteFuture();
};

struct Replica {
  std::vector<ProcessKubelet::Process> procs;  // running, not being stopped
  int restarts = 0;
  absl::Duration backoff = absl::ZeroDuration();
  absl::Time next_start = absl::InfinitePast();
  int last_port = 0;
  std::string slice_written;  // the last slice applied ("" none)
  std::string pod_written;    // the last Pod applied ("" none)
  std::string pod_status_written;
};

struct ProcessKubelet::DeploymentState {
  std::string ns, name, uid;
  std::map<int, Replica> replicas;
  std::vector<Process> stopping;
  // hash -> (mount path, local folder) of its materialized volumes.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> materialized;
  std::string last_error;
  int64_t grace_seconds = 30;
  std::string status_patched;
  absl::Time status_patched_at = absl::InfinitePast();
};

ProcessKubelet::ProcessKubelet(kube::KubeClient* client, ProcessKubeletOptions options)
    : client_(client),
      options_(std::move(options)),
      deployments_(client, res::Deployments(), options_.namespaces,
                   kube::ListOptions{.label_selector =
                                         absl::StrCat(kManagedByLabel, "=", kOperatorName)}) {
  deployments_.AddHandler([this](const std::string&, const json*) {
    absl::MutexLock l(&mu_);
    wake_ = true;
  });
}

ProcessKubelet::~ProcessKubelet() { Stop(); }

void ProcessKubelet::Start() {
  if (started_.exchange(true)) return;
  deployments_.Start();
  thread_ = std::thread([this] { Run(); });
}

void ProcessKubelet::Stop() {
  if (!started_.load() || stop_.exchange(true)) return;
  {
    absl::MutexLock l(&mu_);
    wake_ = true;
  }
  if (thread_.joinable()) thread_.join();
  deployments_.Stop();
}

std::vector<ProcessKubelet::ReplicaInfo> ProcessKubelet::Replicas(const std::string& ns,
                                                                  const std::string& name) {
  absl::MutexLock l(&mu_);
  auto it = published_.find(absl::StrCat(ns, "/", name));
  return it == published_.end() ? std::vector<ReplicaInfo>{} : it->second;
}

int ProcessKubelet::LiveProcesses() {
  absl::MutexLock l(&mu_);
  return live_;
}

void ProcessKubelet::Run() {
  while (!stop_.load() && !deployments_.WaitForSync(absl::Milliseconds(200))) {
  }
  if (!stop_.load()) {
    // Slices left by an earlier run describe processes that are gone.
    auto stale = client_->List(
        res::EndpointSlices(), "",
        kube::ListOptions{.label_selector = absl::StrCat(kSliceManagedByLabel, "=", kKubeletName)});
    if (stale.ok() && At(*stale, "items").is_array()) {
      for (const json& s : (*stale)["items"]) {
        const json& md = At(s, "metadata");
        (void)client_->Delete(res::EndpointSlices(), Str(md, "namespace"), Str(md, "name"));
      }
    }
    auto pods = client_->List(
        res::Pods(), "",
        kube::ListOptions{.label_selector = absl::StrCat(kPodKubeletLabel, "=local")});
    if (pods.ok() && At(*pods, "items").is_array()) {
      for (const json& pod : (*pods)["items"]) {
        const json& md = At(pod, "metadata");
        (void)client_->Delete(res::Pods(), Str(md, "namespace"), Str(md, "name"));
      }
    }
  }
  while (!stop_.load()) {
    Tick();
    // While a worker is starting, look again soon: a request waiting for a scale from zero
    // waits for this kubelet to see the worker ready (a 100 ms tick added 0-100 ms to it).
    absl::Duration wait = starting_ ? std::min(options_.tick, absl::Milliseconds(10)) : options_.tick;
    absl::MutexLock l(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&wake_), wait);
    wake_ = false;
  }
  ShutdownAll();
}

void ProcessKubelet::Tick() {
  ReapAll();
  ProbeAll();
  std::set<std::string> seen;
  for (const json& dep : deployments_.List()) {
    const json& md = At(dep, "metadata");
    if (!At(md, "deletionTimestamp").is_null()) continue;
    std::string key = absl::StrCat(Str(md, "namespace"), "/", Str(md, "name"));
    seen.insert(key);
    auto& st = states_[key];
    if (!st) {
      st = std::make_unique<DeploymentState>();
      st->ns = Str(md, "namespace");
      st->name = Str(md, "name");
    }
    st->uid = Str(md, "uid");
    ReconcileDeployment(*st, &dep);
  }
  for (auto it = states_.begin(); it != states_.end();) {
    if (seen.contains(it->first)) {
      ++it;
      continue;
    }
    DeploymentState& st = *it->second;
    ReconcileDeployment(st, nullptr);
    if (st.replicas.empty() && st.stopping.empty()) {
      std::error_code ec;
      fs::remove_all(fs::path(options_.data_dir) / st.ns / st.name, ec);
      log::Info("kubelet: deployment gone", {{"deployment", it->first}});
      it = states_.erase(it);
    } else {
      ++it;
    }
  }
  Publish();
}

void ProcessKubelet::ReapAll() {
  const absl::Time now = absl::Now();
  for (auto& [key, st] : states_) {
    for (auto& [index, r] : st->replicas) {
      for (auto p = r.procs.begin(); p != r.procs.end();) {
        int status = 0;
        if (::waitpid(p->pid, &status, WNOHANG) != p->pid) {
          ++p;
          continue;
        }
        const absl::Duration ran = now - p->started;
        r.restarts++;
        r.backoff = (ran >= options_.backoff_reset || r.backoff == absl::ZeroDuration())
                        ? options_.initial_backoff
                        : std::min(r.backoff * 2, options_.max_backoff);
        r.next_start = now + r.backoff;
        log::Warn("kubelet: worker exited, restarting with backoff",
                  {{"deployment", key}, {"index", index}, {"pid", p->pid},
                   {"status", WIFEXITED(status) ? absl::StrCat("exit ", WEXITSTATUS(status))
                                                : absl::StrCat("signal ", WTERMSIG(status))},
                   {"backoff_ms", absl::ToInt64Milliseconds(r.backoff)}});
        p = r.procs.erase(p);
      }
    }
    for (auto p = st->stopping.begin(); p != st->stopping.end();) {
      int status = 0;
      if (::waitpid(p->pid, &status, WNOHANG) == p->pid) {
        std::error_code ec;
        fs::remove_all(fs::path(p->run_dir) / "work", ec);
        p = st->stopping.erase(p);
        continue;
      }
      if (now >= p->kill_at) {
        ::kill(p->pid, SIGKILL);
        p->kill_at = absl::InfiniteFuture();
      }
      ++p;
    }
  }
}

// How long after a worker's start the kubelet probes it every 10 ms rather than every tick
// (a worker that cannot get ready is not probed fast forever).
constexpr absl::Duration kStartWindow = absl::Seconds(10);

void ProcessKubelet::ProbeAll() {
  starting_ = false;
  for (auto& [key, st] : states_) {
    for (auto& [index, r] : st->replicas) {
      for (Process& p : r.procs) {
        if (p.port == 0) {
          std::vector<std::string> parts =
              absl::StrSplit(ReadAll(p.port_file), absl::ByAnyChar(" \n"), absl::SkipEmpty());
          if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &p.port) ||
              !absl::SimpleAtoi(parts[1], &p.admin_port)) {
            p.port = p.admin_port = 0;
            starting_ = starting_ || (p.pid > 0 && absl::Now() - p.started < kStartWindow);
            continue;
          }
        }
        httplib::Client c("127.0.0.1", p.admin_port);
        c.set_connection_timeout(0, 300000);
        c.set_read_timeout(1, 0);
        auto res = c.Get("/readyz");
        const bool ready = res && res->status == 200;
        if (ready != p.ready) {
          log::Info(ready ? "kubelet: worker ready" : "kubelet: worker not ready",
                    {{"deployment", key}, {"index", index}, {"pid", p.pid}, {"port", p.port}});
        }
        if (!ready && !p.ever_ready && absl::Now() - p.started < kStartWindow) starting_ = true;
        p.ever_ready = p.ever_ready || ready;
        p.ready = ready;
        if (ready) r.last_port = p.port;
      }
    }
  }
}

void ProcessKubelet::ReconcileDeployment(DeploymentState& st, const json* deployment) {
  if (deployment == nullptr) {
    for (auto& [index, r] : st.replicas) {
      DeleteSlice(st, index);
      DeletePod(st, index);
      for (Process& p : r.procs) Terminate(p, st.grace_seconds), st.stopping.push_back(p);
    }
    st.replicas.clear();
    return;
  }
  const json& spec = At(*deployment, "spec");
  const json& tmpl = At(spec, "template");
  const int64_t desired = std::max<int64_t>(0, Int(spec, "replicas", 1));
  std::string hash = Str(At(At(tmpl, "metadata"), "annotations"), kConfigHashAnnotation);
  if (hash.empty()) {
    hash = absl::StrFormat("%016x", std::hash<std::string>{}(tmpl.dump()));
  }
  st.grace_seconds = Int(At(tmpl, "spec"), "terminationGracePeriodSeconds", 30);

  bool can_start = st.materialized.contains(hash);
  if (!can_start && desired > 0) {
    std::string error;
    can_start = Materialize(st, *deployment, hash, &error);
    if (!can_start && error != st.last_error) {
      log::Warn("kubelet: cannot prepare the replica's files",
                {{"deployment", absl::StrCat(st.ns, "/", st.name)}, {"error", error}});
    }
    st.last_error = can_start ? "" : error;
  }

  // Scale down first: the replicas the ReplicaSet controller would delete first go (not ready,
  // then the lowest pod-deletion-cost, then the highest index), slice and Pod before SIGTERM.
  if (static_cast<int64_t>(st.replicas.size()) > desired) {
    for (int index : ScaleDownVictims(st, st.replicas.size() - desired)) {
      DeleteSlice(st, index);
      DeletePod(st, index);
      for (Process& p : st.replicas[index].procs) {
        Terminate(p, st.grace_seconds);
        st.stopping.push_back(p);
      }
      st.replicas.erase(index);
      log::Info("kubelet: replica removed",
                {{"deployment", absl::StrCat(st.ns, "/", st.name)}, {"index", index}});
    }
  }
  // Scale up: new replicas take the lowest indexes no process (running or stopping) uses, so
  // a new process never shares a run folder with one still draining.
  while (static_cast<int64_t>(st.replicas.size()) < desired) {
    std::set<int> used;
    for (const auto& [index, r] : st.replicas) used.insert(index);
    for (const Process& p : st.stopping) used.insert(p.index);
    int index = 0;
    while (used.contains(index)) ++index;
    st.replicas[index];
  }

  const absl::Time now = absl::Now();
  for (auto& [index, r] : st.replicas) {
    Process* current = nullptr;
    for (Process& p : r.procs) {
      if (p.hash == hash) current = &p;
    }
    if (current == nullptr && can_start && now >= r.next_start) {
      Process p;
      std::string error;
      if (StartProcess(st, index, hash, &p, &error)) {
        r.procs.push_back(p);
        current = &r.procs.back();
      } else {
        log::Warn("kubelet: cannot start a worker",
                  {{"deployment", absl::StrCat(st.ns, "/", st.name)}, {"error", error}});
        r.backoff = r.backoff == absl::ZeroDuration()
                        ? options_.initial_backoff
                        : std::min(r.backoff * 2, options_.max_backoff);
        r.next_start = now + r.backoff;
      }
    }
    if (current != nullptr && current->ready) {
      // The new configuration serves: stop the old processes of this index.
      for (auto p = r.procs.begin(); p != r.procs.end();) {
        if (p->hash == hash) {
          ++p;
          continue;
        }
        Terminate(*p, st.grace_seconds);
        st.stopping.push_back(*p);
        p = r.procs.erase(p);
      }
      current = nullptr;
      for (Process& p : r.procs) {
        if (p.hash == hash) current = &p;
      }
    }
    // What the slice shows: a ready process (the new one first), else the newest known port.
    const Process* shown = nullptr;
    for (const Process& p : r.procs) {
      if (p.ready && (shown == nullptr || p.hash == hash)) shown = &p;
    }
    if (shown == nullptr && current != nullptr && current->port != 0) shown = current;
    WritePod(st, index, *deployment, shown != nullptr ? shown : current);
    WriteSlice(st, index, shown);
  }
  // Folders of configurations no process uses any more.
  for (auto it = st.materialized.begin(); it != st.materialized.end();) {
    bool used = it->first == hash;
    for (auto& [i, r] : st.replicas) {
      for (const Process& p : r.procs) used = used || p.hash == it->first;
    }
    for (const Process& p : st.stopping) used = used || p.hash == it->first;
    if (used) {
      ++it;
    } else {
      std::error_code ec;
      fs::remove_all(fs::path(options_.data_dir) / st.ns / st.name / it->first, ec);
      it = st.materialized.erase(it);
    }
  }
  WriteStatus(st, *deployment);
}

bool ProcessKubelet::Materialize(DeploymentState& st, const json& deployment,
                                 const std::string& hash, std::string* error) {
  const json& pod = At(At(At(deployment, "spec"), "template"), "spec");
  const json* container = WorkerContainer(pod);
  if (container == nullptr) {
    *error = "the pod template has no containers";
    return false;
  }
  if (At(pod, "initContainers").is_array() && !At(pod, "initContainers").empty()) {
    *error = "code or layers from an image (init containers) are not supported in local mode";
    return false;
  }
  std::map<std::string, json> volumes;
  if (At(pod, "volumes").is_array()) {
    for (const json& v : pod["volumes"]) volumes[Str(v, "name")] = v;
  }
  const fs::path base = fs::path(options_.data_dir) / st.ns / st.name;
  const fs::path final_dir = base / hash;
  const fs::path tmp_dir = base / absl::StrCat(".tmp-", hash, "-", ::getpid());
  std::error_code ec;
  fs::remove_all(tmp_dir, ec);
  fs::create_directories(tmp_dir, ec);
  if (ec) {
    *error = absl::StrCat("cannot create ", tmp_dir.string(), ": ", ec.message());
    return false;
  }
  std::vector<std::pair<std::string, std::string>> mounts;
  std::vector<fs::path> config_files;
  const json& volume_mounts = At(*container, "volumeMounts");
  if (volume_mounts.is_array()) {
    for (const json& m : volume_mounts) {
      const std::string mount_path = Str(m, "mountPath");
      auto v = volumes.find(Str(m, "name"));
      if (v == volumes.end() || !At(v->second, "configMap").is_object()) continue;
      const json& cm_ref = v->second["configMap"];
      const std::string folder = LocalFolderName(mount_path, v->first);
      fs::create_directories(tmp_dir / folder, ec);
      auto cm = client_->Get(res::ConfigMaps(), st.ns, Str(cm_ref, "name"));
      if (!cm.ok()) {
        if (At(cm_ref, "optional").is_boolean() && cm_ref["optional"].get<bool>()) {
          mounts.emplace_back(mount_path, (final_dir / folder).string());
          continue;
        }
        fs::remove_all(tmp_dir, ec);
        *error = absl::StrCat("ConfigMap ", Str(cm_ref, "name"), ": ", cm.status().ToString());
        return false;
      }
      const int mode = static_cast<int>(Int(cm_ref, "defaultMode", 0644));
      auto write = [&](const std::string& key, const std::string& content) {
        if (key.empty() || key.find('/') != std::string::npos || key == "." || key == "..") {
          return true;
        }
        if (key == kConfigFileKey) config_files.push_back(tmp_dir / folder / key);
        // Written owner-writable first, so the rewrite below can update it.
        return WriteFile(tmp_dir / folder / key, content, mode | 0200);
      };
      bool ok = true;
      if (At(*cm, "data").is_object()) {
        for (const auto& [key, value] : (*cm)["data"].items()) {
          if (value.is_string()) ok = ok && write(key, value.get<std::string>());
        }
      }
      if (At(*cm, "binaryData").is_object()) {
        for (const auto& [key, value] : (*cm)["binaryData"].items()) {
          std::string bytes;
          if (value.is_string() && absl::Base64Unescape(value.get<std::string>(), &bytes)) {
            ok = ok && write(key, bytes);
          }
        }
      }
      if (!ok) {
        fs::remove_all(tmp_dir, ec);
        *error = absl::StrCat("cannot write the files of ConfigMap ", Str(cm_ref, "name"));
        return false;
      }
      mounts.emplace_back(mount_path, (final_dir / folder).string());
    }
  }
  // The worker config names the code folder as the pod sees it.
  for (const fs::path& file : config_files) {
    json config = json::parse(ReadAll(file), nullptr, /*allow_exceptions=*/false);
    if (config.is_object() && config.contains("codePath") && config["codePath"].is_string()) {
      config["codePath"] = RewritePath(config["codePath"].get<std::string>(), mounts);
      struct stat sb;
      int mode = ::stat(file.c_str(), &sb) == 0 ? (sb.st_mode & 07777) : 0644;
      WriteFile(file, config.dump(2) + "\n", mode);
    }
  }
  // Files get their volume's mode (read-only as mounted).
  for (const auto& [mount, local] : mounts) {
    fs::path folder = tmp_dir / fs::path(local).filename();
    for (const auto& entry : fs::directory_iterator(folder, ec)) {
      struct stat sb;
      if (::stat(entry.path().c_str(), &sb) == 0) ::chmod(entry.path().c_str(), sb.st_mode & ~0222);
    }
  }
  fs::remove_all(final_dir, ec);
  fs::rename(tmp_dir, final_dir, ec);
  if (ec) {
    fs::remove_all(tmp_dir, ec);
    *error = absl::StrCat("cannot create ", final_dir.string());
    return false;
  }
  st.materialized[hash] = std::move(mounts);
  return true;
}

bool ProcessKubelet::StartProcess(DeploymentState& st, int index, const std::string& hash,
                                  Process* p, std::string* error) {
  const auto& mounts = st.materialized[hash];
  const fs::path run_dir =
      fs::path(options_.data_dir) / st.ns / st.name / "run" / absl::StrCat(index, "-", hash);
  std::error_code ec;
  fs::create_directories(run_dir / "work", ec);
  if (ec) {
    *error = absl::StrCat("cannot create ", run_dir.string(), ": ", ec.message());
    return false;
  }
  p->index = index;
  p->hash = hash;
  p->run_dir = run_dir.string();
  p->port_file = (run_dir / "ports").string();
  fs::remove(p->port_file, ec);

  // The deployment is read again from the cache for the template (the caller has it, but a
  // process keeps only what it needs).
  auto dep = deployments_.Get(absl::StrCat(st.ns, "/", st.name));
  if (!dep) {
    *error = "the Deployment is gone";
    return false;
  }
  const json* container = WorkerContainer(At(At(At(*dep, "spec"), "template"), "spec"));
  std::vector<std::string> argv = {options_.worker_binary};
  std::set<std::string> given;
  if (container != nullptr && At(*container, "args").is_array()) {
    const json& args = (*container)["args"];
    for (size_t i = 0; i < args.size(); ++i) {
      if (!args[i].is_string()) continue;
      std::string a = args[i].get<std::string>();
      if (absl::StartsWith(a, "--")) {
        const size_t eq = a.find('=');
        std::string flag = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
        if (ReplacedFlags().contains(flag)) {
          if (eq == std::string::npos) ++i;  // "--port 9000"
          continue;
        }
        given.insert(flag);
        if (eq != std::string::npos) {
          a = a.substr(0, eq + 1) + RewritePath(a.substr(eq + 1), mounts);
        }
      } else {
        a = RewritePath(a, mounts);
      }
      argv.push_back(a);
    }
  }
  argv.push_back("--listen=127.0.0.1");
  argv.push_back("--port=0");
  argv.push_back("--admin_port=0");
  argv.push_back("--port_file=" + p->port_file);
  argv.push_back("--work_dir=" + (run_dir / "work").string());
  if (!options_.runtimes_dir.empty() && !given.contains("runtimes_dir")) {
    argv.push_back("--runtimes_dir=" + options_.runtimes_dir);
  }
  if (!options_.python.empty() && !given.contains("python")) {
    argv.push_back("--python=" + options_.python);
  }
  if (!options_.node.empty() && !given.contains("node")) {
    argv.push_back("--node=" + options_.node);
  }

  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (container != nullptr && At(*container, "env").is_array()) {
    for (const json& e : (*container)["env"]) {
      if (!Str(e, "name").empty() && At(e, "value").is_string()) {
        env[Str(e, "name")] = RewritePath(Str(e, "value"), mounts);
      }
    }
  }
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> c_argv, c_env;
  for (auto& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  for (auto& e : env_strings) c_env.push_back(e.data());
  c_env.push_back(nullptr);
  const std::string out = (run_dir / "stdout").string();
  const std::string err = (run_dir / "stderr").string();
  const pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) {
    *error = absl::StrCat("fork: ", std::strerror(errno));
    return false;
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    ::setpgid(0, 0);  // a terminal's Ctrl-C reaches the kubelet, which stops the workers
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    int in = ::open("/dev/null", O_RDONLY);
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || o < 0 || e < 0) ::_exit(127);
    ::dup2(in, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    ::close_range(3, ~0U, 0);
    ::execve(c_argv[0], c_argv.data(), c_env.data());
    ::_exit(127);
  }
  p->pid = pid;
  p->started = absl::Now();
  log::Info("kubelet: worker started",
            {{"deployment", absl::StrCat(st.ns, "/", st.name)}, {"index", index}, {"pid", pid},
             {"config_hash", hash}});
  return true;
}

void ProcessKubelet::Terminate(Process& p, int64_t grace_seconds) {
  if (p.pid > 0) ::kill(p.pid, SIGTERM);
  p.ready = false;
  p.kill_at = absl::Now() + std::min(absl::Seconds(std::max<int64_t>(grace_seconds, 0)),
                                     options_.max_grace);
}

void ProcessKubelet::WriteSlice(DeploymentState& st, int index, const Process* p) {
  Replica& r = st.replicas[index];
  const int port = p != nullptr && p->port != 0 ? p->port : r.last_port;
  if (port == 0) return;  // nothing has listened yet
  const bool ready = p != nullptr && p->ready;
  json labels = {{kServiceNameLabel, st.name}, {kSliceManagedByLabel, kKubeletName}};
  json metadata = {{"name", absl::StrCat(st.name, "-", index)},
                   {"namespace", st.ns},
                   {"labels", labels}};
  if (!st.uid.empty()) {
    metadata["ownerReferences"] = json::array({{{"apiVersion", "apps/v1"},
                                                {"kind", "Deployment"},
                                                {"name", st.name},
                                                {"uid", st.uid},
                                                {"controller", true},
                                                {"blockOwnerDeletion", true}}});
  }
  json slice = {
      {"apiVersion", "discovery.k8s.io/v1"},
      {"kind", "EndpointSlice"},
      {"metadata", metadata},
      {"addressType", "IPv4"},
      {"endpoints",
       json::array({{{"addresses", json::array({"127.0.0.1"})},
                     {"conditions",
                      {{"ready", ready}, {"serving", ready}, {"terminating", false}}},
                     {"nodeName", "local"},
                     {"targetRef",
                      {{"kind", "Pod"},
                       {"namespace", st.ns},
                       {"name", absl::StrCat(st.name, "-", index)}}}}})},
      {"ports", json::array({{{"name", "grpc"}, {"port", port}, {"protocol", "TCP"}}})}};
  std::string text = slice.dump();
  if (text == r.slice_written) return;
  auto applied = client_->Apply(res::EndpointSlices(), st.ns, Str(metadata, "name"), slice,
                                kKubeletName, /*force=*/true);
  if (applied.ok()) {
    r.slice_written = std::move(text);
  } else {
    log::Warn("kubelet: cannot write an EndpointSlice",
              {{"slice", Str(metadata, "name")}, {"error", applied.status().ToString()}});
  }
}

std::vector<int> ProcessKubelet::ScaleDownVictims(DeploymentState& st, size_t count) {
  struct Rank {
    bool ready;
    int64_t cost;
    int index;
  };
  std::vector<Rank> ranks;
  for (const auto& [index, r] : st.replicas) {
    bool ready = false;
    for (const Process& p : r.procs) ready = ready || p.ready;
    int64_t cost = 0;
    // Read live, not from a cache: the operator writes the costs just before it lowers the
    // replica count.
    auto pod = client_->Get(res::Pods(), st.ns, absl::StrCat(st.name, "-", index));
    if (pod.ok()) {
      std::string text = Str(At(At(*pod, "metadata"), "annotations"), kPodDeletionCost);
      if (!absl::SimpleAtoi(text, &cost)) cost = 0;
    }
    ranks.push_back({ready, cost, index});
  }
  std::sort(ranks.begin(), ranks.end(), [](const Rank& a, const Rank& b) {
    if (a.ready != b.ready) return !a.ready;
    if (a.cost != b.cost) return a.cost < b.cost;
    return a.index > b.index;
  });
  std::vector<int> victims;
  for (size_t i = 0; i < ranks.size() && i < count; ++i) {
    victims.push_back(ranks[i].index);
    log::Info("kubelet: chose a replica to remove",
              {{"deployment", absl::StrCat(st.ns, "/", st.name)}, {"index", ranks[i].index},
               {"ready", ranks[i].ready ? "true" : "false"}, {"deletion_cost", ranks[i].cost}});
  }
  return victims;
}

void ProcessKubelet::WritePod(DeploymentState& st, int index, const json& deployment,
                              const Process* p) {
  Replica& r = st.replicas[index];
  if (p == nullptr) return;  // no process yet
  const std::string name = absl::StrCat(st.name, "-", index);
  const json& tmpl = At(At(deployment, "spec"), "template");
  json labels = At(At(tmpl, "metadata"), "labels").is_object() ? tmpl["metadata"]["labels"]
                                                                : json::object();
  labels[kPodKubeletLabel] = "local";
  json metadata = {{"name", name}, {"namespace", st.ns}, {"labels", labels}};
  if (!st.uid.empty()) {
    metadata["ownerReferences"] = json::array({{{"apiVersion", "apps/v1"},
                                                {"kind", "Deployment"},
                                                {"name", st.name},
                                                {"uid", st.uid},
                                                {"controller", true},
                                                {"blockOwnerDeletion", true}}});
  }
  const json* container = WorkerContainer(At(tmpl, "spec"));
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", metadata},
              {"spec",
               {{"nodeName", "local"},
                {"containers",
                 json::array({{{"name", container != nullptr ? Str(*container, "name") : "worker"},
                               {"image", container != nullptr ? Str(*container, "image") : ""}}})}}}};
  std::string text = pod.dump();
  if (text != r.pod_written) {
    auto applied = client_->Apply(res::Pods(), st.ns, name, pod, kKubeletName, /*force=*/true);
    if (!applied.ok()) {
      log::Warn("kubelet: cannot write a Pod", {{"pod", name}, {"error", applied.status().ToString()}});
      return;
    }
    r.pod_written = std::move(text);
    r.pod_status_written.clear();
  }
  json status = {{"phase", "Running"},
                 {"podIP", "127.0.0.1"},
                 {"hostIP", "127.0.0.1"},
                 {"conditions",
                  json::array({{{"type", "Ready"}, {"status", p->ready ? "True" : "False"}}})}};
  text = status.dump();
  if (text == r.pod_status_written) return;
  auto patched = client_->MergePatch(res::Pods(), st.ns, name, json{{"status", status}}, "status");
  if (patched.ok()) r.pod_status_written = std::move(text);
}

void ProcessKubelet::DeletePod(DeploymentState& st, int index) {
  auto status = client_->Delete(res::Pods(), st.ns, absl::StrCat(st.name, "-", index));
  if (!status.ok() && !absl::IsNotFound(status)) {
    log::Warn("kubelet: cannot delete a Pod", {{"pod", absl::StrCat(st.ns, "/", st.name, "-", index)},
                                               {"error", status.ToString()}});
  }
}

void ProcessKubelet::DeleteSlice(DeploymentState& st, int index) {
  auto status = client_->Delete(res::EndpointSlices(), st.ns, absl::StrCat(st.name, "-", index));
  if (!status.ok() && !absl::IsNotFound(status)) {
    log::Warn("kubelet: cannot delete an EndpointSlice",
              {{"slice", absl::StrCat(st.ns, "/", st.name, "-", index)},
               {"error", status.ToString()}});
  }
}

void ProcessKubelet::WriteStatus(DeploymentState& st, const json& deployment) {
  const json& spec = At(deployment, "spec");
  const int64_t desired = std::max<int64_t>(0, Int(spec, "replicas", 1));
  const std::string hash =
      Str(At(At(At(spec, "template"), "metadata"), "annotations"), kConfigHashAnnotation);
  int64_t replicas = static_cast<int64_t>(st.stopping.size());
  int64_t ready = 0, updated = 0;
  bool old_left = !st.stopping.empty();
  for (const auto& [index, r] : st.replicas) {
    bool index_updated = false;
    for (const Process& p : r.procs) {
      ++replicas;
      if (p.ready) ++ready;
      if (hash.empty() || p.hash == hash) {
        index_updated = true;
      } else {
        old_left = true;
      }
    }
    if (index_updated) ++updated;
  }
  const bool available = ready >= desired - desired / 4;
  const bool complete = updated >= desired && ready >= desired && !old_left;
  json want = {
      {"observedGeneration", Int(At(deployment, "metadata"), "generation", 1)},
      {"replicas", replicas},
      {"readyReplicas", ready},
      {"availableReplicas", ready},
      {"updatedReplicas", updated},
      {"unavailableReplicas", std::max<int64_t>(0, desired - ready)},
      {"conditions",
       json::array(
           {{{"type", "Available"},
             {"status", available ? "True" : "False"},
             {"reason", available ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable"},
             {"message", available ? "Deployment has minimum availability."
                                   : "Deployment does not have minimum availability."}},
            {{"type", "Progressing"},
             {"status", "True"},
             {"reason", complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated"},
             {"message", absl::StrCat(ready, " of ", desired, " local processes ready")}}})}};
  const json& current = At(deployment, "status");
  bool same = current.is_object();
  for (const auto& [key, value] : want.items()) {
    if (!same) break;
    same = At(current, key.c_str()) == value;
  }
  const std::string text = want.dump();
  if (same) {
    st.status_patched = text;
    return;
  }
  // The cache lags our own write: do not repeat the same patch for a while.
  if (text == st.status_patched && absl::Now() - st.status_patched_at < absl::Seconds(5)) return;
  auto patched = client_->MergePatch(res::Deployments(), st.ns, st.name, json{{"status", want}},
                                     "status");
  if (patched.ok()) {
    st.status_patched = text;
    st.status_patched_at = absl::Now();
  } else if (!absl::IsNotFound(patched.status())) {
    log::Warn("kubelet: cannot update the Deployment status",
              {{"deployment", absl::StrCat(st.ns, "/", st.name)},
               {"error", patched.status().ToString()}});
  }
}

void ProcessKubelet::Publish() {
  std::map<std::string, std::vector<ReplicaInfo>> out;
  int live = 0;
  for (const auto& [key, st] : states_) {
    live += static_cast<int>(st->stopping.size());
    std::vector<ReplicaInfo>& infos = out[key];
    for (const auto& [index, r] : st->replicas) {
      live += static_cast<int>(r.procs.size());
      ReplicaInfo info;
      info.index = index;
      info.restarts = r.restarts;
      const Process* shown = nullptr;
      for (const Process& p : r.procs) {
        if (shown == nullptr || p.ready || (!shown->ready && p.started > shown->started)) {
          shown = &p;
        }
      }
      if (shown != nullptr) {
        info.pid = shown->pid;
        info.port = shown->port;
        info.admin_port = shown->admin_port;
        info.ready = shown->ready;
        info.config_hash = shown->hash;
      }
      infos.push_back(info);
    }
  }
  absl::MutexLock l(&mu_);
  published_ = std::move(out);
  live_ = live;
}

void ProcessKubelet::ShutdownAll() {
  log::Info("kubelet: stopping all workers");
  for (auto& [key, st] : states_) {
    for (auto& [index, r] : st->replicas) {
      DeleteSlice(*st, index);
      DeletePod(*st, index);
      for (Process& p : r.procs) {
        Terminate(p, st->grace_seconds);
        st->stopping.push_back(p);
      }
    }
    st->replicas.clear();
  }
  while (true) {
    ReapAll();
    bool any = false;
    for (auto& [key, st] : states_) any = any || !st->stopping.empty();
    Publish();
    if (!any) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  states_.clear();
  Publish();
}

}  // namespace wisp::op
