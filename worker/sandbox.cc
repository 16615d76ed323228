#include "worker/sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "controller/base/log.h"

namespace wisp::worker {
namespace {

constexpr int kMaxFiles = 1024;
constexpr int kMaxProcesses = 1024;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteFile(const std::string& path, absl::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = ::write(fd, data.data(), data.size());
  ::close(fd);
  return n == static_cast<ssize_t>(data.size());
}

int64_t ReadInt(const std::string& path) {
  int64_t v = 0;
  (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(path)), &v);
  return v;
}

// The cgroup v1 hierarchy path of this process for `controller`, e.g. "/process_api/x".
std::string OwnCgroupPath(absl::string_view controller) {
  std::string content = ReadFile("/proc/self/cgroup");
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3) continue;
    for (absl::string_view c : absl::StrSplit(parts[1], ',')) {
      if (c == controller) return std::string(parts[2]);
    }
  }
  return "";
}

// A writable cgroup v1 folder under which this worker may create groups, or "".
std::string ProbeCgroupParent(absl::string_view controller) {
  std::string own = OwnCgroupPath(controller);
  if (own.empty()) return "";
  std::string parent = absl::StrCat("/sys/fs/cgroup/", controller, own == "/" ? "" : own);
  std::string probe = absl::StrCat(parent, "/wisp-probe-", getpid());
  if (::mkdir(probe.c_str(), 0755) != 0) return "";
  ::rmdir(probe.c_str());
  return parent;
}

// Removes groups left by workers that died without cleaning up (SIGKILL): "wisp-<pid>-…"
// whose pid is gone. A group still holding processes cannot be removed and stays.
void RemoveStaleGroups(const std::string& parent) {
  DIR* dir = opendir(parent.c_str());
  if (dir == nullptr) return;
  while (struct dirent* e = readdir(dir)) {
    absl::string_view name = e->d_name;
    if (!absl::ConsumePrefix(&name, "wisp-")) continue;
    int pid = 0;
    if (!absl::SimpleAtoi(name.substr(0, name.find('-')), &pid) || pid <= 0) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;
    ::rmdir(absl::StrCat(parent, "/", e->d_name).c_str());
  }
  closedir(dir);
}

bool ProbePrivateMount() {
  if (geteuid() != 0) return false;
  pid_t child = fork();
  if (child < 0) return false;
  if (child == 0) {
    if (unshare(CLONE_NEWNS) != 0) _exit(1);
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(1);
    _exit(0);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string ResolveExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':')) {
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;
}

void ChildFail(int fd, const char* what) {
  // Async-signal-safe reporting from the forked child before exec.
  const char* err = strerror(errno);
  ssize_t r = ::write(fd, "wisp-worker: ", 13);
  r = ::write(fd, what, strlen(what));
  r = ::write(fd, ": ", 2);
  r = ::write(fd, err, strlen(err));
  r = ::write(fd, "\n", 1);
  (void)r;
  _exit(127);
}

}  // namespace

std::string SandboxCapabilities::Describe() const {
  return absl::StrCat(
      "memory=", memory_cgroup_parent.empty() ? "rss-watch" : "cgroup-v1",
      " pids=", pids_cgroup_parent.empty() ? "rlimit" : "cgroup-v1",
      " tmp=", private_tmp_mount ? "private-mount" : "tmpdir");
}

SandboxCapabilities DetectSandboxCapabilities() {
  SandboxCapabilities caps;
  caps.memory_cgroup_parent = ProbeCgroupParent("memory");
  caps.pids_cgroup_parent = ProbeCgroupParent("pids");
  for (const std::string& parent : {caps.memory_cgroup_parent, caps.pids_cgroup_parent}) {
    if (!parent.empty()) RemoveStaleGroups(parent);
  }
  caps.private_tmp_mount = ProbePrivateMount();
  return caps;
}

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Spawn(const SandboxCapabilities& caps,
                                                       const SandboxSpec& spec,
                                                       Callbacks callbacks) {
  if (spec.argv.empty()) return absl::InvalidArgumentError("empty command");
  std::unique_ptr<Sandbox> sb(new Sandbox());
  sb->spec_ = spec;
  sb->caps_ = caps;
  sb->cb_ = std::move(callbacks);

  // Limits that live outside the process: cgroups, created before it starts.
  if (!caps.memory_cgroup_parent.empty()) {
    std::string dir = absl::StrCat(caps.memory_cgroup_parent, "/wisp-", spec.name);
    ::rmdir(dir.c_str());
    if (::mkdir(dir.c_str(), 0755) == 0 &&
        WriteFile(dir + "/memory.limit_in_bytes", absl::StrCat(spec.memory_limit_bytes))) {
      sb->memory_cgroup_ = dir;
      std::string oom = ReadFile(dir + "/memory.oom_control");
      size_t at = oom.find("oom_kill ");
      if (at != std::string::npos) (void)absl::SimpleAtoi(oom.substr(at + 9, oom.find('\n', at) - at - 9), &sb->oom_baseline_);
    } else {
      ::rmdir(dir.c_str());
      log::Warn("memory cgroup unavailable; watching RSS", {{"group", dir}});
    }
  }
  if (!caps.pids_cgroup_parent.empty()) {
    std::string dir = absl::StrCat(caps.pids_cgroup_parent, "/wisp-", spec.name);
    ::rmdir(dir.c_str());
    if (::mkdir(dir.c_str(), 0755) == 0 &&
        WriteFile(dir + "/pids.max", absl::StrCat(kMaxProcesses))) {
      sb->pids_cgroup_ = dir;
    } else {
      ::rmdir(dir.c_str());
    }
  }

  // Everything the child needs is prepared before fork: after it only async-signal-safe calls.
  std::string exe = ResolveExecutable(spec.argv[0]);
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const bool private_tmp = caps.private_tmp_mount && spec.mount_tmp && !spec.tmp_dir.empty();

  int out_pipe[2], err_pipe[2], sync_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return absl::InternalError("pipe failed");
  }
  if (pipe2(sync_pipe, O_CLOEXEC) != 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    return absl::InternalError("pipe failed");
  }
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], sync_pipe[0], sync_pipe[1], devnull}) ::close(fd);
    return absl::InternalError(absl::StrCat("fork failed: ", strerror(errno)));
  }
  if (pid == 0) {
    int errfd = err_pipe[1];
    setsid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    char go;
    while (::read(sync_pipe[0], &go, 1) < 0 && errno == EINTR) {
    }
    if (dup2(devnull, 0) < 0 || dup2(out_pipe[1], 1) < 0 || dup2(err_pipe[1], 2) < 0) {
      ChildFail(errfd, "dup2");
    }
    errfd = 2;
    if (private_tmp) {
      if (unshare(CLONE_NEWNS) != 0) ChildFail(errfd, "unshare mount namespace");
      if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ChildFail(errfd, "make mounts private");
      if (mount(spec.tmp_dir.c_str(), "/tmp", nullptr, MS_BIND, nullptr) != 0) ChildFail(errfd, "bind /tmp");
    }
    struct rlimit files = {kMaxFiles, kMaxFiles};
    setrlimit(RLIMIT_NOFILE, &files);
    struct rlimit procs = {kMaxProcesses, kMaxProcesses};
    setrlimit(RLIMIT_NPROC, &procs);
    if (!spec.cwd.empty() && chdir(spec.cwd.c_str()) != 0) ChildFail(errfd, "chdir to the code folder");
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
      for (int fd = 3; fd < 65536; ++fd) ::close(fd);
    }
    execve(exe.c_str(), argv.data(), envp.data());
    ChildFail(errfd, "exec");
  }

  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::close(sync_pipe[0]);
  ::close(devnull);
  sb->pid_ = pid;
  for (const std::string& group : {sb->memory_cgroup_, sb->pids_cgroup_}) {
    if (!group.empty() && !WriteFile(group + "/cgroup.procs", absl::StrCat(pid))) {
      log::Warn("cannot move runtime into its cgroup", {{"group", group}});
    }
  }
  char go = 1;
  ssize_t ignored = ::write(sync_pipe[1], &go, 1);
  (void)ignored;
  ::close(sync_pipe[1]);

  sb->out_fd_[0] = out_pipe[0];
  sb->out_fd_[1] = err_pipe[0];
  for (int fd : sb->out_fd_) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  Sandbox* raw = sb.get();
  sb->reader_ = std::thread([raw] { raw->ReaderLoop(); });
  sb->waiter_ = std::thread([raw] {
    int status = 0;
    while (waitpid(raw->pid_, &status, 0) < 0 && errno == EINTR) {
    }
    // Whatever the runtime started dies with it.
    ::kill(-raw->pid_, SIGKILL);
    raw->DrainOutput();
    raw->exited_ = true;
    {
      absl::MutexLock lock(&raw->exit_mu_);
      raw->reaped_ = true;
    }
    if (raw->cb_.on_exit) raw->cb_.on_exit(status);
  });
  sb->watcher_ = std::thread([raw] { raw->WatchLoop(); });
  return sb;
}

void Sandbox::ReadAvailable() {
  char buf[16384];
  for (int stream = 0; stream < 2; ++stream) {
    int fd = out_fd_[stream];
    if (fd < 0) continue;
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n > 0) {
        if (cb_.on_output) cb_.on_output(stream + 1, absl::string_view(buf, n));
        continue;
      }
      if (n == 0) {  // EOF: every writer is gone.
        ::close(fd);
        out_fd_[stream] = -1;
      } else if (errno == EINTR) {
        continue;
      }
      break;
    }
  }
}

void Sandbox::ReaderLoop() {
  while (true) {
    struct pollfd fds[2];
    int n = 0;
    {
      absl::MutexLock lock(&out_mu_);
      for (int fd : out_fd_) {
        if (fd >= 0) fds[n++] = {fd, POLLIN, 0};
      }
    }
    if (n == 0) return;
    int r = ::poll(fds, n, 100);
    if (r < 0 && errno != EINTR) return;
    absl::MutexLock lock(&out_mu_);
    ReadAvailable();
    if (exited_ && r == 0) {
      // The runtime is gone and nothing more arrived; orphans holding the pipe are not ours.
      for (int& fd : out_fd_) {
        if (fd >= 0) ::close(fd);
        fd = -1;
      }
      return;
    }
  }
}

void Sandbox::DrainOutput() {
  absl::MutexLock lock(&out_mu_);
  ReadAvailable();
}

int64_t Sandbox::CurrentRssBytes() const {
  int64_t total = 0;
  static const int64_t kPage = sysconf(_SC_PAGESIZE);
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return 0;
  while (struct dirent* e = readdir(proc)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string stat = ReadFile(absl::StrCat("/proc/", e->d_name, "/stat"));
    size_t close_paren = stat.rfind(')');
    if (close_paren == std::string::npos) continue;
    std::vector<absl::string_view> f =
        absl::StrSplit(absl::string_view(stat).substr(close_paren + 2), ' ');
    // After "pid (comm) ": state ppid pgrp session ... rss is field 24 overall, index 21 here.
    int64_t pgrp = 0, rss = 0;
    if (f.size() < 22 || !absl::SimpleAtoi(f[2], &pgrp) || pgrp != pid_) continue;
    if (absl::SimpleAtoi(f[21], &rss)) total += rss * kPage;
  }
  closedir(proc);
  return total;
}

void Sandbox::WatchLoop() {
  int tick = 0;
  while (!exited_) {
    absl::SleepFor(absl::Milliseconds(50));
    if (exited_ || limit_fired_) continue;
    if (memory_cgroup_.empty()) {
      int64_t rss = CurrentRssBytes();
      int64_t peak = rss_peak_.load();
      while (rss > peak && !rss_peak_.compare_exchange_weak(peak, rss)) {
      }
      if (spec_.memory_limit_bytes > 0 && rss > spec_.memory_limit_bytes) {
        limit_fired_ = true;
        if (cb_.on_limit) cb_.on_limit("oom");
        Kill();
        continue;
      }
    }
    if (++tick % 5 == 0 && spec_.tmp_limit_bytes > 0 && !spec_.tmp_dir.empty() &&
        DirectoryUsageBytes(spec_.tmp_dir) > spec_.tmp_limit_bytes) {
      limit_fired_ = true;
      if (cb_.on_limit) cb_.on_limit("ephemeral-storage");
      Kill();
    }
  }
}

void Sandbox::Kill() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  for (const std::string& group : {memory_cgroup_, pids_cgroup_}) {
    if (group.empty()) continue;
    std::string procs = ReadFile(group + "/cgroup.procs");
    for (absl::string_view p : absl::StrSplit(procs, '\n', absl::SkipEmpty())) {
      int pid = 0;
      if (absl::SimpleAtoi(p, &pid) && pid > 0) ::kill(pid, SIGKILL);
    }
  }
}

void Sandbox::WaitExited() {
  absl::MutexLock lock(&exit_mu_);
  exit_mu_.Await(absl::Condition(&reaped_));
}

int64_t Sandbox::PeakMemoryBytes() {
  if (!memory_cgroup_.empty()) return ReadInt(memory_cgroup_ + "/memory.max_usage_in_bytes");
  return rss_peak_.load();
}

void Sandbox::ResetPeak() {
  if (!memory_cgroup_.empty()) {
    WriteFile(memory_cgroup_ + "/memory.max_usage_in_bytes", "0");
  } else {
    rss_peak_ = CurrentRssBytes();
  }
}

bool Sandbox::OomKilled() {
  if (memory_cgroup_.empty()) return false;
  std::string oom = ReadFile(memory_cgroup_ + "/memory.oom_control");
  size_t at = oom.find("oom_kill ");
  if (at != std::string::npos) {
    int64_t kills = 0;
    (void)absl::SimpleAtoi(
        absl::StripAsciiWhitespace(oom.substr(at + 9, oom.find('\n', at) - at - 9)), &kills);
    return kills > oom_baseline_;
  }
  return ReadInt(memory_cgroup_ + "/memory.failcnt") > 0;
}

Sandbox::~Sandbox() {
  Kill();
  if (waiter_.joinable()) waiter_.join();
  exited_ = true;
  if (watcher_.joinable()) watcher_.join();
  if (reader_.joinable()) reader_.join();
  for (int fd : out_fd_) {
    if (fd >= 0) ::close(fd);
  }
  for (const std::string& group : {memory_cgroup_, pids_cgroup_}) {
    if (group.empty()) continue;
    for (int i = 0; i < 50 && ::rmdir(group.c_str()) != 0 && errno == EBUSY; ++i) {
      Kill();
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
}

int64_t DirectoryUsageBytes(const std::string& dir) {
  std::error_code ec;
  int64_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(
           dir, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) == 0) total += static_cast<int64_t>(st.st_blocks) * 512;
  }
  return total;
}

void ClearDirectory(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::filesystem::remove_all(entry.path(), ec);
  }
}

}  // namespace wisp::worker
