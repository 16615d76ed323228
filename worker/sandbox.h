// Runs one runtime process inside the limits of an execution environment.
//
// Limits, as well as the machine allows (the chosen mechanism is logged once at start):
//   memory  a cgroup v1 memory group per process when the worker may create one (the process
//           is OOM-killed by the kernel); otherwise the process group's RSS is watched and the
//           group killed past the limit. Peak memory is read from the same source.
//   pids    cgroup v1 pids.max = 1024 where available, and RLIMIT_NPROC = 1024.
//   files   RLIMIT_NOFILE = 1024.
//   /tmp    a private folder per environment, wiped on every reset. When the worker may make
//           a mount namespace (root), the folder is bind-mounted at /tmp, so the function sees
//           exactly /tmp (unless the code itself lives under /tmp, which the mount would
//           hide); otherwise TMPDIR points at it. Its size is watched and the process
//           killed past the limit.
// The process runs in its own session and process group and dies with the worker
// (PR_SET_PDEATHSIG). Thread-safe unless stated.
#ifndef WISP_WORKER_SANDBOX_H_
#define WISP_WORKER_SANDBOX_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace wisp::worker {

// What this machine lets the worker enforce; detected once per worker.
struct SandboxCapabilities {
  std::string memory_cgroup_parent;  // e.g. /sys/fs/cgroup/memory/<own>; empty = watch RSS
  std::string pids_cgroup_parent;    // empty = none
  bool private_tmp_mount = false;    // may unshare a mount namespace and bind /tmp
  std::string Describe() const;
};
SandboxCapabilities DetectSandboxCapabilities();

struct SandboxSpec {
  std::vector<std::string> argv;  // argv[0] resolved against PATH when it has no '/'
  std::vector<std::string> env;   // "K=V"
  std::string cwd;
  std::string tmp_dir;            // the environment's private /tmp (created by the caller)
  bool mount_tmp = false;         // bind tmp_dir at /tmp in a private mount namespace
  int64_t memory_limit_bytes = 0;
  int64_t tmp_limit_bytes = 0;
  std::string name;               // cgroup name suffix, unique per worker
};

// One running process with its limits. Output arrives through `on_output` (stream 1 or 2,
// a chunk of bytes) from a reader thread; `on_exit` runs once with the wait status; `on_limit`
// runs once when a watched limit ("oom", "ephemeral-storage") kills the process.
class Sandbox {
 public:
  struct Callbacks {
    std::function<void(int stream, absl::string_view data)> on_output;
    std::function<void(int wait_status)> on_exit;
    std::function<void(std::string reason)> on_limit;
  };
  static absl::StatusOr<std::unique_ptr<Sandbox>> Spawn(const SandboxCapabilities& caps,
                                                        const SandboxSpec& spec,
                                                        Callbacks callbacks);
  ~Sandbox();  // Kills and reaps the process, removes its cgroups.

  pid_t pid() const { return pid_; }
  // Kills every process of the environment (group and cgroup) with SIGKILL.
  void Kill();
  // Blocks until the process has been reaped and its output drained.
  void WaitExited();
  // Reads what output is already in the pipes and delivers it before returning, so that the
  // lines written before a runtime's /response are attributed to that invocation.
  void DrainOutput();
  // Peak memory since the last ResetPeak, in bytes.
  int64_t PeakMemoryBytes();
  void ResetPeak();
  // True when the kernel (cgroup) OOM-killed a process of this environment.
  bool OomKilled();

 private:
  Sandbox() = default;
  void ReaderLoop();
  void WatchLoop();
  void ReadAvailable() ABSL_EXCLUSIVE_LOCKS_REQUIRED(out_mu_);
  int64_t CurrentRssBytes() const;

  SandboxSpec spec_;
  SandboxCapabilities caps_;
  Callbacks cb_;
  pid_t pid_ = -1;
  int out_fd_[2] = {-1, -1};
  std::string memory_cgroup_;  // this process's group, or empty
  std::string pids_cgroup_;
  int64_t oom_baseline_ = 0;

  absl::Mutex out_mu_;
  std::thread reader_;
  std::thread waiter_;
  std::thread watcher_;
  std::atomic<bool> exited_{false};
  std::atomic<bool> limit_fired_{false};
  std::atomic<int64_t> rss_peak_{0};
  absl::Mutex exit_mu_;
  bool reaped_ ABSL_GUARDED_BY(exit_mu_) = false;
};

// Bytes used by the files under `dir` (allocated blocks), 0 if it does not exist.
int64_t DirectoryUsageBytes(const std::string& dir);
// Removes everything inside `dir`, keeping `dir` itself.
void ClearDirectory(const std::string& dir);

}  // namespace wisp::worker

#endif  // WISP_WORKER_SANDBOX_H_
