// worker_bench: what a wisp-worker costs over the runtime it drives, measured as ratios to
// baselines taken in the same run (so machine speed and background load cancel out).
//
//   warm  The round trip of one Invoke through a `wisp-worker` process (gRPC -> environment ->
//         Runtime API -> runtime -> back), against the same runtime driven in-process through a
//         bare RuntimeApi + RuntimeApiServer (Offer / WaitOutcome). Both sides are up at once and
//         their samples interleave in blocks, alternating which side goes first, so that load
//         from elsewhere falls on both alike.
//   cold  A new environment's initialisation (spawn -> first /next): driven directly, and as
//         the worker reports it (init_duration_ms of a fresh worker's first invoke, and of the
//         first invoke after a reset in a running worker); against a bare interpreter start and
//         exit (`python -c pass`, `node -e 0`) with the same binary, environment and folder.
//
// Bounded: a watchdog ends the run after --max_seconds (exit 2); SIGINT / SIGTERM end it too
// (exit 130). Every child (workers, runtimes) is registered and stopped on every exit path;
// workers get SIGTERM so they drain and remove their cgroups. Exit 1 only on a real failure: a
// worker or runtime that does not start, an invocation that fails or echoes the wrong payload.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "controller/function_config.h"
#include "nlohmann/json.hpp"
#include "worker/lambda_env.h"
#include "worker/runtime_api.h"
#include "worker/worker_client.h"

ABSL_FLAG(int, warm_iterations, 5000, "Timed warm invokes per side per runtime");
ABSL_FLAG(int, warmup, 500, "Untimed invokes per side before timing");
ABSL_FLAG(int, block, 50, "Warm invokes per side in one block of the interleaving");
ABSL_FLAG(int, cold_repetitions, 20, "Timed cold starts per kind per runtime");
ABSL_FLAG(std::vector<std::string>, runtimes,
          std::vector<std::string>({"python3.11", "nodejs20", "provided"}),
          "Runtimes to measure (cold start covers python3.11 and nodejs20 only)");
ABSL_FLAG(int, payload_bytes, 64, "Padding added to each event (a JSON string field)");
ABSL_FLAG(int, memory_mb, 128, "--memory given to the worker (Lambda's default is 128)");
ABSL_FLAG(std::string, python, "",
          "Python interpreter (default: sys.executable of `python3` on PATH, past pyenv shims)");
ABSL_FLAG(std::string, node, "", "Node.js binary (default: `node` on PATH)");
ABSL_FLAG(std::string, bin_dir, "", "Folder with wisp-worker (default: this binary's folder)");
ABSL_FLAG(std::string, runtimes_dir, "",
          "Shipped runtimes (default: <bin_dir>/../share/wisp/runtimes)");
ABSL_FLAG(std::string, provided_code, "",
          "Folder with the native echo `bootstrap` (default: <bin_dir>/../examples/provided-echo)");
ABSL_FLAG(int, max_seconds, 300, "Hard bound on the whole run");
ABSL_FLAG(bool, keep_temp, false, "Keep the scratch folder (logs, code) after the run");
ABSL_FLAG(std::string, scratch_parent, "/var/tmp",
          "Where the scratch folder (function code, logs) is made. Not under /tmp: the worker "
          "gives code that lives under /tmp a TMPDIR instead of its private /tmp mount, which "
          "is not the path production takes");

namespace wisp::bench {
namespace {

using Clock = std::chrono::steady_clock;
using worker::FunctionArn;
using worker::RuntimeSettings;

double MicrosSince(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

// ---------------------------------------------------------------------------------------------
// Pure: statistics.

struct Summary {
  size_t n = 0;
  double p50 = 0;
  double p99 = 0;
  double mean = 0;
  double min = 0;
  double max = 0;
};

// Nearest-rank percentile of sorted samples: the smallest sample with at least p% at or below.
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

Summary Summarize(std::vector<double> samples) {
  Summary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  s.n = samples.size();
  s.p50 = Percentile(samples, 50);
  s.p99 = Percentile(samples, 99);
  s.min = samples.front();
  s.max = samples.back();
  double sum = 0;
  for (double v : samples) sum += v;
  s.mean = sum / static_cast<double>(samples.size());
  return s;
}

double Ratio(double a, double b) { return b > 0 ? a / b : 0; }

nlohmann::json SummaryJson(const Summary& s, absl::string_view unit) {
  auto key = [unit](absl::string_view what) { return absl::StrCat(what, "_", unit); };
  return {{"n", s.n},          {key("p50"), s.p50}, {key("p99"), s.p99}, {key("mean"), s.mean},
          {key("min"), s.min}, {key("max"), s.max}};
}

// ---------------------------------------------------------------------------------------------
// Child processes.

enum class ChildKind { kWorker, kProcess };

// Every child this run started, so that any exit path can stop them. Thread-safe.
class Children {
 public:
  void Add(pid_t pid, ChildKind kind) {
    std::lock_guard<std::mutex> lock(mu_);
    pids_[pid] = kind;
  }
  void Remove(pid_t pid) {
    std::lock_guard<std::mutex> lock(mu_);
    pids_.erase(pid);
  }
  // Processes (own process groups) get SIGKILL; workers SIGTERM, then SIGKILL after 5 s.
  void StopAll();
  // The watchdog is ending the run: failures seen from now on are its doing, not real ones.
  void MarkAborting() { aborting_ = true; }
  bool aborting() const { return aborting_; }

 private:
  std::atomic<bool> aborting_{false};
  std::mutex mu_;
  std::map<pid_t, ChildKind> pids_;
};

// Waits until `pid` exits, at most `timeout`. Returns its wait status, or nullopt on timeout.
// Uses a pidfd so that the wake-up is as prompt as a blocking waitpid.
std::optional<int> WaitExit(pid_t pid, absl::Duration timeout) {
  int status = 0;
  absl::Time deadline = absl::Now() + timeout;
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno == ECHILD) {
      status = 0;  // reaped elsewhere (the direct environment's waiter)
      break;
    }
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      if (fd >= 0) ::close(fd);
      return std::nullopt;
    }
    int ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1000));
    if (fd >= 0) {
      pollfd p{fd, POLLIN, 0};
      (void)poll(&p, 1, ms);
    } else {
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  if (fd >= 0) ::close(fd);
  return status;
}

void Children::StopAll() {
  std::map<pid_t, ChildKind> pids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pids.swap(pids_);
  }
  for (const auto& [pid, kind] : pids) {
    if (kind == ChildKind::kProcess) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
    } else {
      ::kill(pid, SIGTERM);
    }
  }
  for (const auto& [pid, kind] : pids) {
    if (!WaitExit(pid, absl::Seconds(5)).has_value()) {
      ::kill(pid, SIGKILL);
      (void)WaitExit(pid, absl::Seconds(2));
    }
  }
}

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] is a path
  std::vector<std::string> env;   // "K=V", the whole environment
  std::string cwd;
  std::string output_path;     // stdout and stderr appended here; "" = /dev/null
  int death_signal = SIGKILL;  // sent to the child if this (main) thread dies
};

// Starts a process in its own process group. Returns once it has exec'd (or failed to).
// Call from the main thread: the death signal follows the thread that forked.
absl::StatusOr<pid_t> Spawn(const SpawnSpec& spec) {
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int out = spec.output_path.empty()
                ? ::open("/dev/null", O_WRONLY | O_CLOEXEC)
                : ::open(spec.output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0)
    return absl::InternalError(absl::StrCat("open ", spec.output_path, ": ", strerror(errno)));
  int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int status_pipe[2];
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    ::close(out);
    ::close(in);
    return absl::InternalError("pipe failed");
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {out, in, status_pipe[0], status_pipe[1]}) ::close(fd);
    return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, spec.death_signal);
    if (getppid() != parent) _exit(127);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(127);
    if (!spec.cwd.empty() && chdir(spec.cwd.c_str()) != 0) {
      int err = errno;
      (void)!::write(status_pipe[1], &err, sizeof(err));
      _exit(127);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execve(argv[0], argv.data(), envp.data());
    int err = errno;
    (void)!::write(status_pipe[1], &err, sizeof(err));
    _exit(127);
  }
  setpgid(pid, pid);  // also from here, so that a group kill right away cannot miss it
  ::close(out);
  ::close(in);
  ::close(status_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(status_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  ::close(status_pipe[0]);
  if (n > 0) {
    (void)WaitExit(pid, absl::Seconds(5));
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start ", spec.argv[0], ": ", strerror(child_errno)));
  }
  return pid;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteWholeFile(const std::string& path, absl::string_view data) {
  std::ofstream out(path, std::ios::trunc);
  out << data;
  return static_cast<bool>(out);
}

std::string Tail(const std::string& text, size_t bytes) {
  return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

// The first line printed by `command` (run through /bin/sh), trimmed; "" on failure.
std::string CommandOutput(const std::string& command) {
  FILE* f = popen(command.c_str(), "r");
  if (f == nullptr) return "";
  char buf[4096];
  std::string out;
  if (fgets(buf, sizeof(buf), f) != nullptr) out = buf;
  pclose(f);
  return std::string(absl::StripAsciiWhitespace(out));
}

std::string FindOnPath(const std::string& name) {
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':')) {
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::vector<std::string> CurrentEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  return env;
}

// ---------------------------------------------------------------------------------------------
// The run's configuration and shared state.

struct Config {
  std::string worker_binary;
  std::string runtimes_dir;
  std::string provided_code;
  std::string python;
  std::string node;
  std::string python_version;
  std::string node_version;
  std::string temp_dir;
  int warm_iterations = 0;
  int warmup = 0;
  int block = 0;
  int cold_repetitions = 0;
  int payload_bytes = 0;
  int memory_mb = 0;
};

struct RuntimeCase {
  std::string key;  // the runtime's name, as --runtime takes it
  Runtime runtime = Runtime::kProvided;
  std::string code_dir;
  std::string handler;
  std::vector<std::string> bare_argv;  // the interpreter doing nothing; empty for provided
};

struct Bench {
  Config cfg;
  Children* children = nullptr;
  int spawned = 0;  // names log files and work folders
};

FunctionConfig MakeFunction(const Bench& b, const RuntimeCase& rc) {
  FunctionConfig fn;
  fn.name = absl::StrCat("bench-", rc.key == "python3.11" ? "python"
                                   : rc.key == "nodejs20" ? "node"
                                                          : "provided");
  fn.runtime_name = rc.key;
  fn.runtime = rc.runtime;
  fn.handler = rc.handler;
  fn.code_path = rc.code_dir;
  fn.memory_mb = b.cfg.memory_mb;
  return fn;
}

RuntimeSettings MakeSettings(const Bench& b) {
  RuntimeSettings s;
  s.runtimes_dir = b.cfg.runtimes_dir;
  s.python = b.cfg.python;
  s.node = b.cfg.node;
  s.log_stream_name = "bench";
  s.tmp_dir = b.cfg.temp_dir + "/direct-tmp";
  return s;
}

// The event: a token (the request id) the echo must return, and some padding.
std::string MakePayload(const std::string& id, int pad) {
  return absl::StrCat(R"({"token":")", id, R"(","pad":")", std::string(pad, 'x'), R"("})");
}

// ---------------------------------------------------------------------------------------------
// A wisp-worker process.

struct WorkerProcess {
  pid_t pid = -1;
  std::string log_path;
  std::unique_ptr<worker::WorkerClient> client;
};

absl::Status WorkerFailure(const WorkerProcess& w, absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, "; worker log ", w.log_path, " ends with:\n",
                                          Tail(ReadWholeFile(w.log_path), 2000)));
}

// Spawns a worker and waits for its port file (not for its environment to be ready).
absl::StatusOr<WorkerProcess> StartWorker(Bench& b, const RuntimeCase& rc) {
  int n = ++b.spawned;
  FunctionConfig fn = MakeFunction(b, rc);
  std::string port_file = absl::StrCat(b.cfg.temp_dir, "/worker-", n, ".port");
  std::string work_dir = absl::StrCat(b.cfg.temp_dir, "/worker-", n);
  WorkerProcess w;
  w.log_path = absl::StrCat(b.cfg.temp_dir, "/worker-", n, ".log");
  SpawnSpec spec;
  spec.argv = {b.cfg.worker_binary,
               "--name=" + fn.name,
               "--runtime=" + rc.key,
               "--handler=" + rc.handler,
               "--code=" + rc.code_dir,
               "--listen=127.0.0.1",
               "--port=0",
               "--admin_port=0",
               "--port_file=" + port_file,
               "--concurrency=1",
               absl::StrCat("--memory=", b.cfg.memory_mb),
               "--python=" + b.cfg.python,
               "--node=" + b.cfg.node,
               "--runtimes_dir=" + b.cfg.runtimes_dir,
               "--work_dir=" + work_dir,
               "--drain_seconds=2"};
  spec.env = CurrentEnvironment();
  spec.cwd = b.cfg.temp_dir;
  spec.output_path = w.log_path;
  spec.death_signal = SIGTERM;  // a worker drains and removes its cgroups
  absl::StatusOr<pid_t> pid = Spawn(spec);
  if (!pid.ok()) return pid.status();
  w.pid = *pid;
  b.children->Add(w.pid, ChildKind::kWorker);

  absl::Time deadline = absl::Now() + absl::Seconds(20);
  std::string ports;
  while (true) {
    ports = ReadWholeFile(port_file);
    if (!ports.empty()) break;
    int status = 0;
    if (waitpid(w.pid, &status, WNOHANG) == w.pid) {
      b.children->Remove(w.pid);
      return WorkerFailure(w, absl::StrCat("wisp-worker exited early (status ", status, ")"));
    }
    if (absl::Now() > deadline) return WorkerFailure(w, "no port file after 20 s");
    absl::SleepFor(absl::Milliseconds(1));
  }
  std::vector<std::string> parts = absl::StrSplit(ports, ' ');
  w.client = worker::WorkerClient::Create(absl::StrCat("127.0.0.1:", parts[0]));
  return w;
}

// Polls the standard health check until the worker serves (its environment is initialised).
absl::Status WaitHealthy(WorkerProcess& w) {
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  absl::Status last;
  while (absl::Now() < deadline) {
    last = w.client->CheckHealth(absl::Seconds(1));
    if (last.ok()) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(5));
  }
  return WorkerFailure(w, absl::StrCat("worker not serving after 20 s: ", last.ToString()));
}

// SIGTERM, a bounded drain, then SIGKILL.
void StopWorker(Bench& b, WorkerProcess& w) {
  if (w.pid <= 0) return;
  w.client.reset();
  ::kill(w.pid, SIGTERM);
  if (!WaitExit(w.pid, absl::Seconds(10)).has_value()) {
    std::fprintf(stderr, "worker_bench: worker %d ignored SIGTERM for 10 s; killing it\n", w.pid);
    ::kill(w.pid, SIGKILL);
    (void)WaitExit(w.pid, absl::Seconds(5));
  }
  b.children->Remove(w.pid);
  w.pid = -1;
}

// ---------------------------------------------------------------------------------------------
// A runtime driven in-process: the baseline without the worker.

class DirectEnvironment {
 public:
  // Starts the Runtime API, spawns the runtime with Lambda's environment and waits for its
  // first /next. init_ms() is the time from just before the spawn to that /next.
  static absl::StatusOr<std::unique_ptr<DirectEnvironment>> Start(Bench& b, const RuntimeCase& rc) {
    std::unique_ptr<DirectEnvironment> d(new DirectEnvironment());
    d->children_ = b.children;
    d->fn_ = MakeFunction(b, rc);
    d->settings_ = MakeSettings(b);
    d->arn_ = FunctionArn(d->fn_, d->settings_);
    d->api_ = std::make_shared<worker::RuntimeApi>(kMaxResponseBytes);
    absl::StatusOr<std::unique_ptr<worker::RuntimeApiServer>> server =
        worker::RuntimeApiServer::Start(d->api_);
    if (!server.ok()) return server.status();
    d->server_ = std::move(*server);
    d->log_path_ = absl::StrCat(b.cfg.temp_dir, "/direct-", ++b.spawned, ".log");

    SpawnSpec spec;
    spec.argv = worker::RuntimeCommand(d->fn_, d->settings_);
    spec.env = worker::RuntimeEnvironment(d->fn_, d->settings_, d->server_->address());
    spec.cwd = d->fn_.code_path;
    spec.output_path = d->log_path_;
    Clock::time_point start = Clock::now();
    absl::StatusOr<pid_t> pid = Spawn(spec);
    if (!pid.ok()) return pid.status();
    d->pid_ = *pid;
    b.children->Add(d->pid_, ChildKind::kProcess);
    // Reaps the runtime and tells the Runtime API, as the worker's sandbox does, so that a
    // runtime dying during init ends WaitInitDone at once.
    std::shared_ptr<worker::RuntimeApi> api = d->api_;
    pid_t child = d->pid_;
    d->waiter_ = std::thread([api, child] {
      int status = 0;
      while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
      api->NotifyExited(status);
    });
    std::optional<worker::RuntimeEvent> failed =
        d->api_->WaitInitDone(absl::Now() + absl::Seconds(kInitTimeoutSeconds));
    d->init_ms_ = MicrosSince(start) / 1000.0;
    if (failed.has_value()) {
      return absl::InternalError(absl::StrCat(rc.key, " runtime did not reach /next (event kind ",
                                              static_cast<int>(failed->kind), ", exit status ",
                                              failed->exit_status, "); its output:\n",
                                              Tail(ReadWholeFile(d->log_path_), 2000)));
    }
    return d;
  }

  ~DirectEnvironment() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
    }
    if (waiter_.joinable()) waiter_.join();
    if (pid_ > 0) children_->Remove(pid_);
    if (server_) server_->Stop();
  }

  double init_ms() const { return init_ms_; }

  // One invocation; returns its round trip in microseconds.
  absl::StatusOr<double> Invoke(const std::string& id, int pad) {
    worker::Invocation inv;
    inv.request_id = id;
    inv.payload = MakePayload(id, pad);
    inv.deadline_unix_ms = absl::ToUnixMillis(absl::Now() + absl::Seconds(30));
    inv.invoked_function_arn = arn_;
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    Clock::time_point start = Clock::now();
    api_->Offer(std::move(inv));
    worker::RuntimeEvent ev = api_->WaitOutcome(deadline);
    double us = MicrosSince(start);
    if (ev.kind != worker::RuntimeEvent::Kind::kResponse) {
      return absl::InternalError(absl::StrCat("direct invoke ", id, " ended with event kind ",
                                              static_cast<int>(ev.kind), ": ", ev.payload));
    }
    if (ev.payload.find(id) == std::string::npos) {
      return absl::InternalError(absl::StrCat("direct invoke ", id, " echoed ", ev.payload));
    }
    return us;
  }

 private:
  DirectEnvironment() = default;
  Children* children_ = nullptr;
  FunctionConfig fn_;
  RuntimeSettings settings_;
  std::string arn_;
  std::string log_path_;
  std::shared_ptr<worker::RuntimeApi> api_;
  std::unique_ptr<worker::RuntimeApiServer> server_;
  pid_t pid_ = -1;
  std::thread waiter_;
  double init_ms_ = 0;
};

absl::StatusOr<v1::InvokeResponse> InvokeWorker(WorkerProcess& w, const std::string& id, int pad,
                                                absl::Duration timeout, double* micros) {
  v1::InvokeRequest req;
  req.set_request_id(id);
  req.set_payload(MakePayload(id, pad));
  Clock::time_point start = Clock::now();
  absl::StatusOr<v1::InvokeResponse> r = w.client->Invoke(req, timeout);
  *micros = MicrosSince(start);
  if (!r.ok())
    return WorkerFailure(w, absl::StrCat("worker invoke ", id, ": ", r.status().ToString()));
  if (r->has_error()) {
    return WorkerFailure(w, absl::StrCat("worker invoke ", id, " failed: ", r->error().error_type(),
                                         ": ", r->error().error_message()));
  }
  if (r->payload().find(id) == std::string::npos) {
    return absl::InternalError(absl::StrCat("worker invoke ", id, " echoed ", r->payload()));
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// (a) Warm invoke round trip.

struct WarmResult {
  std::string runtime;
  Summary worker;         // round trip through the worker, microseconds
  Summary direct;         // round trip in-process
  Summary worker_inside;  // the worker's own duration_ms of each timed invoke, in microseconds
  // Per block pair, median(worker block) / median(direct block); summarised. Each pair ran
  // back to back, so load that comes and goes cancels within a pair.
  Summary block_ratio;
};

absl::StatusOr<WarmResult> RunWarm(Bench& b, const RuntimeCase& rc) {
  absl::StatusOr<WorkerProcess> started = StartWorker(b, rc);
  if (!started.ok()) return started.status();
  WorkerProcess w = std::move(*started);
  struct Cleanup {
    Bench& b;
    WorkerProcess& w;
    ~Cleanup() { StopWorker(b, w); }
  } cleanup{b, w};
  if (absl::Status s = WaitHealthy(w); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<DirectEnvironment>> direct = DirectEnvironment::Start(b, rc);
  if (!direct.ok()) return direct.status();

  const int pad = b.cfg.payload_bytes;
  int seq = 0;
  std::vector<double> inside_us;
  auto worker_once = [&](std::vector<double>* out) -> absl::Status {
    double us = 0;
    absl::StatusOr<v1::InvokeResponse> r =
        InvokeWorker(w, absl::StrCat("bench-w-", rc.key, "-", seq++), pad, absl::Seconds(10), &us);
    if (!r.ok()) return r.status();
    if (out != nullptr) {
      out->push_back(us);
      inside_us.push_back(r->duration_ms() * 1000.0);
    }
    return absl::OkStatus();
  };
  auto direct_once = [&](std::vector<double>* out) -> absl::Status {
    absl::StatusOr<double> us =
        (*direct)->Invoke(absl::StrCat("bench-d-", rc.key, "-", seq++), pad);
    if (!us.ok()) return us.status();
    if (out != nullptr) out->push_back(*us);
    return absl::OkStatus();
  };

  for (int i = 0; i < b.cfg.warmup; ++i) {
    if (absl::Status s = worker_once(nullptr); !s.ok()) return s;
    if (absl::Status s = direct_once(nullptr); !s.ok()) return s;
  }
  std::vector<double> worker_us, direct_us;
  worker_us.reserve(b.cfg.warm_iterations);
  direct_us.reserve(b.cfg.warm_iterations);
  std::vector<double> block_ratios;
  int round = 0;
  for (int done = 0; done < b.cfg.warm_iterations; done += b.cfg.block, ++round) {
    int k = std::min(b.cfg.block, b.cfg.warm_iterations - done);
    for (int side = 0; side < 2; ++side) {
      bool worker_side = (side == 0) == (round % 2 == 0);
      for (int i = 0; i < k; ++i) {
        absl::Status s = worker_side ? worker_once(&worker_us) : direct_once(&direct_us);
        if (!s.ok()) return s;
      }
    }
    std::vector<double> wb(worker_us.end() - k, worker_us.end());
    std::vector<double> db(direct_us.end() - k, direct_us.end());
    block_ratios.push_back(Ratio(Summarize(std::move(wb)).p50, Summarize(std::move(db)).p50));
  }
  return WarmResult{rc.key, Summarize(std::move(worker_us)), Summarize(std::move(direct_us)),
                    Summarize(std::move(inside_us)), Summarize(std::move(block_ratios))};
}

// ---------------------------------------------------------------------------------------------
// (b) Cold start.

struct ColdResult {
  std::string runtime;
  Summary bare;                   // interpreter start + exit, ms
  Summary direct_init;            // spawn -> first /next, in-process, ms
  Summary worker_init;            // init_duration_ms reported by a fresh worker, ms
  Summary worker_reset_init;      // init_duration_ms after a reset in a running worker, ms
  Summary worker_first_response;  // worker spawn -> first Invoke answered, ms
};

absl::StatusOr<double> BareStartMs(Bench& b, const RuntimeCase& rc) {
  FunctionConfig fn = MakeFunction(b, rc);
  SpawnSpec spec;
  spec.argv = rc.bare_argv;
  // The runtime's own environment and folder, so that only the work done differs.
  spec.env = worker::RuntimeEnvironment(fn, MakeSettings(b), "127.0.0.1:9");
  spec.cwd = rc.code_dir;
  Clock::time_point start = Clock::now();
  absl::StatusOr<pid_t> pid = Spawn(spec);
  if (!pid.ok()) return pid.status();
  b.children->Add(*pid, ChildKind::kProcess);
  std::optional<int> status = WaitExit(*pid, absl::Seconds(10));
  double ms = MicrosSince(start) / 1000.0;
  if (!status.has_value()) {
    ::kill(-*pid, SIGKILL);
    (void)WaitExit(*pid, absl::Seconds(5));
  }
  b.children->Remove(*pid);
  if (!status.has_value())
    return absl::DeadlineExceededError(absl::StrJoin(rc.bare_argv, " ") + " hung");
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return absl::InternalError(
        absl::StrCat(absl::StrJoin(rc.bare_argv, " "), " failed: status ", *status));
  }
  return ms;
}

struct WorkerCold {
  double init_ms = 0;
  double first_response_ms = 0;
};

absl::StatusOr<WorkerCold> WorkerColdStart(Bench& b, const RuntimeCase& rc) {
  Clock::time_point start = Clock::now();
  absl::StatusOr<WorkerProcess> started = StartWorker(b, rc);
  if (!started.ok()) return started.status();
  WorkerProcess w = std::move(*started);
  struct Cleanup {
    Bench& b;
    WorkerProcess& w;
    ~Cleanup() { StopWorker(b, w); }
  } cleanup{b, w};
  double us = 0;
  // The environment initialises eagerly at start; this invoke waits for it and reports it.
  absl::StatusOr<v1::InvokeResponse> r =
      InvokeWorker(w, absl::StrCat("bench-cold-", rc.key, "-", b.spawned), b.cfg.payload_bytes,
                   absl::Seconds(20), &us);
  if (!r.ok()) return r.status();
  WorkerCold c;
  c.first_response_ms = MicrosSince(start) / 1000.0;
  if (!r->cold_start()) return WorkerFailure(w, "the first invoke of a fresh worker was not cold");
  c.init_ms = r->init_duration_ms();
  return c;
}

// A new environment inside a running worker: the echo handler exits on {"exit":true}, the
// worker resets the environment and prepares a new one at once, and the next invoke waits for
// it and reports its init_duration_ms. Unlike a fresh worker's first invoke, no worker start-up
// competes with the runtime for the CPU.
absl::StatusOr<double> WorkerResetInitMs(WorkerProcess& w, const RuntimeCase& rc, int n, int pad) {
  v1::InvokeRequest exit_request;
  exit_request.set_request_id(absl::StrCat("bench-exit-", rc.key, "-", n));
  exit_request.set_payload(R"({"exit":true})");
  absl::StatusOr<v1::InvokeResponse> r = w.client->Invoke(exit_request, absl::Seconds(20));
  if (!r.ok()) return WorkerFailure(w, absl::StrCat("exit invoke: ", r.status().ToString()));
  if (!r->has_error()) return WorkerFailure(w, "the handler asked to exit did not fail");
  double us = 0;
  r = InvokeWorker(w, absl::StrCat("bench-reset-", rc.key, "-", n), pad, absl::Seconds(20), &us);
  if (!r.ok()) return r.status();
  if (!r->cold_start()) return WorkerFailure(w, "the invoke after a reset was not cold");
  return r->init_duration_ms();
}

absl::StatusOr<ColdResult> RunCold(Bench& b, const RuntimeCase& rc) {
  absl::StatusOr<WorkerProcess> started = StartWorker(b, rc);
  if (!started.ok()) return started.status();
  WorkerProcess running = std::move(*started);
  struct Cleanup {
    Bench& b;
    WorkerProcess& w;
    ~Cleanup() { StopWorker(b, w); }
  } cleanup{b, running};
  if (absl::Status s = WaitHealthy(running); !s.ok()) return s;

  std::vector<double> bare, direct, worker_init, worker_reset, worker_first;
  // Repetition -1 is untimed: it fills the page cache and writes __pycache__.
  for (int rep = -1; rep < b.cfg.cold_repetitions; ++rep) {
    // Rotate the order so that none of the four always runs first.
    for (int step = 0; step < 4; ++step) {
      int kind = (step + std::max(rep, 0)) % 4;
      if (kind == 3) {
        absl::StatusOr<double> ms = WorkerResetInitMs(running, rc, rep + 1, b.cfg.payload_bytes);
        if (!ms.ok()) return ms.status();
        if (rep >= 0) worker_reset.push_back(*ms);
      } else if (kind == 0) {
        absl::StatusOr<double> ms = BareStartMs(b, rc);
        if (!ms.ok()) return ms.status();
        if (rep >= 0) bare.push_back(*ms);
      } else if (kind == 1) {
        absl::StatusOr<std::unique_ptr<DirectEnvironment>> d = DirectEnvironment::Start(b, rc);
        if (!d.ok()) return d.status();
        if (rep >= 0) direct.push_back((*d)->init_ms());
      } else {
        absl::StatusOr<WorkerCold> c = WorkerColdStart(b, rc);
        if (!c.ok()) return c.status();
        if (rep >= 0) {
          worker_init.push_back(c->init_ms);
          worker_first.push_back(c->first_response_ms);
        }
      }
    }
  }
  return ColdResult{rc.key,
                    Summarize(std::move(bare)),
                    Summarize(std::move(direct)),
                    Summarize(std::move(worker_init)),
                    Summarize(std::move(worker_reset)),
                    Summarize(std::move(worker_first))};
}

// ---------------------------------------------------------------------------------------------
// Report.

std::string LoadAverage() {
  std::vector<std::string> f = absl::StrSplit(ReadWholeFile("/proc/loadavg"), ' ');
  return f.size() >= 3 ? absl::StrCat(f[0], " ", f[1], " ", f[2]) : "?";
}

void PrintReport(const Bench& b, const std::vector<WarmResult>& warm,
                 const std::vector<ColdResult>& cold, const std::string& date,
                 const std::string& load_before, const std::string& load_after, double seconds) {
  const Config& c = b.cfg;
  std::printf("\nwisp worker_bench  %s  cores=%u  load(1/5/15m) before=%s after=%s  took %.1f s\n",
              date.c_str(), std::thread::hardware_concurrency(), load_before.c_str(),
              load_after.c_str(), seconds);
  std::printf("python %s (%s)\nnode   %s (%s)\n", c.python.c_str(), c.python_version.c_str(),
              c.node.c_str(), c.node_version.c_str());
  if (!warm.empty()) {
    std::printf(
        "\n(a) Warm invoke round trip, microseconds: %d timed per side after %d warm-up, "
        "interleaved in blocks of %d; event %d bytes of padding\n"
        "    worker = gRPC Invoke through wisp-worker; direct = in-process RuntimeApi "
        "Offer/WaitOutcome;\n"
        "    inside = the worker's own duration_ms (its Offer -> outcome), the rest of `worker` is "
        "the\n"
        "    gRPC hop and the worker's bookkeeping; block ratio = median over block pairs of\n"
        "    median(worker block) / median(direct block), the ratio least moved by outside "
        "load\n\n",
        c.warm_iterations, c.warmup, c.block, c.payload_bytes);
    std::printf("%-11s %10s %10s %10s %10s %9s %9s %9s %10s %10s\n", "runtime", "worker p50",
                "worker p99", "direct p50", "direct p99", "ratio p50", "ratio p99", "block rt",
                "added p50", "inside p50");
    for (const WarmResult& r : warm) {
      std::printf("%-11s %10.1f %10.1f %10.1f %10.1f %8.2fx %8.2fx %8.2fx %10.1f %10.1f\n",
                  r.runtime.c_str(), r.worker.p50, r.worker.p99, r.direct.p50, r.direct.p99,
                  Ratio(r.worker.p50, r.direct.p50), Ratio(r.worker.p99, r.direct.p99),
                  r.block_ratio.p50, r.worker.p50 - r.direct.p50, r.worker_inside.p50);
    }
  }
  if (!cold.empty()) {
    std::printf(
        "\n(b) Cold start, milliseconds: %d repetitions of each (p99 of so few is about the max); "
        "ratio = row / bare start\n\n",
        c.cold_repetitions);
    std::printf("%-11s %-46s %9s %9s %10s %10s\n", "runtime", "measure", "p50", "p99", "ratio p50",
                "ratio p99");
    for (const ColdResult& r : cold) {
      std::string bare = r.runtime == "python3.11" ? "bare `python -c pass` (spawn -> exit)"
                                                   : "bare `node -e 0` (spawn -> exit)";
      auto row = [&](const std::string& name, const Summary& s, bool first) {
        std::printf("%-11s %-46s %9.2f %9.2f %9.2fx %9.2fx\n", first ? r.runtime.c_str() : "",
                    name.c_str(), s.p50, s.p99, Ratio(s.p50, r.bare.p50), Ratio(s.p99, r.bare.p99));
      };
      row(bare, r.bare, true);
      row("runtime init, direct (spawn -> first /next)", r.direct_init, false);
      row("runtime init, fresh worker (init_duration_ms)", r.worker_init, false);
      row("runtime init, worker reset (init_duration_ms)", r.worker_reset_init, false);
      row("worker spawn -> first response", r.worker_first_response, false);
    }
  }

  nlohmann::json j;
  j["benchmark"] = "worker_bench";
  j["date"] = date;
  j["cores"] = std::thread::hardware_concurrency();
  j["load_before"] = load_before;
  j["load_after"] = load_after;
  j["seconds"] = seconds;
  j["python"] = {{"path", c.python}, {"version", c.python_version}};
  j["node"] = {{"path", c.node}, {"version", c.node_version}};
  j["config"] = {{"warm_iterations", c.warm_iterations},
                 {"warmup", c.warmup},
                 {"block", c.block},
                 {"cold_repetitions", c.cold_repetitions},
                 {"payload_bytes", c.payload_bytes},
                 {"memory_mb", c.memory_mb}};
  j["warm"] = nlohmann::json::object();
  for (const WarmResult& r : warm) {
    j["warm"][r.runtime] = {{"worker", SummaryJson(r.worker, "us")},
                            {"direct", SummaryJson(r.direct, "us")},
                            {"worker_inside", SummaryJson(r.worker_inside, "us")},
                            {"ratio_p50", Ratio(r.worker.p50, r.direct.p50)},
                            {"ratio_p99", Ratio(r.worker.p99, r.direct.p99)},
                            {"block_ratio_p50", r.block_ratio.p50},
                            {"block_ratio_min", r.block_ratio.min},
                            {"block_ratio_max", r.block_ratio.max}};
  }
  j["cold"] = nlohmann::json::object();
  for (const ColdResult& r : cold) {
    j["cold"][r.runtime] = {
        {"bare", SummaryJson(r.bare, "ms")},
        {"direct_init", SummaryJson(r.direct_init, "ms")},
        {"worker_init", SummaryJson(r.worker_init, "ms")},
        {"worker_reset_init", SummaryJson(r.worker_reset_init, "ms")},
        {"worker_first_response", SummaryJson(r.worker_first_response, "ms")},
        {"ratio_direct_init_p50", Ratio(r.direct_init.p50, r.bare.p50)},
        {"ratio_direct_init_p99", Ratio(r.direct_init.p99, r.bare.p99)},
        {"ratio_worker_init_p50", Ratio(r.worker_init.p50, r.bare.p50)},
        {"ratio_worker_init_p99", Ratio(r.worker_init.p99, r.bare.p99)},
        {"ratio_worker_reset_init_p50", Ratio(r.worker_reset_init.p50, r.bare.p50)},
        {"ratio_worker_reset_init_p99", Ratio(r.worker_reset_init.p99, r.bare.p99)}};
  }
  std::printf("\n%s\n", j.dump().c_str());
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------
// Setup.

std::string OwnFolder() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : exe.parent_path().string();
}

absl::Status ResolveConfig(Config& c) {
  std::string bin_dir =
      absl::GetFlag(FLAGS_bin_dir).empty() ? OwnFolder() : absl::GetFlag(FLAGS_bin_dir);
  c.worker_binary = bin_dir + "/wisp-worker";
  c.runtimes_dir = absl::GetFlag(FLAGS_runtimes_dir).empty() ? bin_dir + "/../share/wisp/runtimes"
                                                             : absl::GetFlag(FLAGS_runtimes_dir);
  c.provided_code = absl::GetFlag(FLAGS_provided_code).empty()
                        ? bin_dir + "/../examples/provided-echo"
                        : absl::GetFlag(FLAGS_provided_code);
  std::error_code ec;
  for (std::string* p : {&c.worker_binary, &c.runtimes_dir, &c.provided_code}) {
    *p = std::filesystem::weakly_canonical(*p, ec).string();
  }
  if (::access(c.worker_binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("no wisp-worker at ", c.worker_binary));
  }

  // One interpreter for both sides. `python3` may be a pyenv shim (a shell script that picks
  // a version on every start); sys.executable is the interpreter it ends up running.
  c.python = absl::GetFlag(FLAGS_python);
  if (c.python.empty())
    c.python = CommandOutput("python3 -c 'import sys;print(sys.executable)'");
  else if (c.python.find('/') == std::string::npos)
    c.python = FindOnPath(c.python);
  c.node = absl::GetFlag(FLAGS_node);
  if (c.node.empty())
    c.node = FindOnPath("node");
  else if (c.node.find('/') == std::string::npos)
    c.node = FindOnPath(c.node);
  if (!c.node.empty()) c.node = std::filesystem::canonical(c.node, ec).string();
  if (!c.python.empty()) {
    c.python_version = CommandOutput(
        absl::StrCat("'", c.python, "' -c 'import sys;print(sys.version.split()[0])'"));
  }
  if (!c.node.empty()) c.node_version = CommandOutput(absl::StrCat("'", c.node, "' --version"));

  c.warm_iterations = absl::GetFlag(FLAGS_warm_iterations);
  c.warmup = absl::GetFlag(FLAGS_warmup);
  c.block = absl::GetFlag(FLAGS_block);
  c.cold_repetitions = absl::GetFlag(FLAGS_cold_repetitions);
  c.payload_bytes = absl::GetFlag(FLAGS_payload_bytes);
  c.memory_mb = absl::GetFlag(FLAGS_memory_mb);
  if (c.warm_iterations < 1 || c.warmup < 0 || c.block < 1 || c.cold_repetitions < 1 ||
      c.payload_bytes < 0 || c.payload_bytes > (1 << 20)) {
    return absl::InvalidArgumentError(
        "need --warm_iterations>=1, --warmup>=0, --block>=1, --cold_repetitions>=1, "
        "0<=--payload_bytes<=1MiB");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RuntimeCase>> MakeCases(const Config& c) {
  std::vector<RuntimeCase> cases;
  for (const std::string& key : absl::GetFlag(FLAGS_runtimes)) {
    RuntimeCase rc;
    rc.key = key;
    if (key == "python3.11") {
      if (c.python_version.empty()) return absl::FailedPreconditionError("no working python3");
      rc.runtime = Runtime::kPython311;
      rc.code_dir = c.temp_dir + "/python";
      rc.handler = "echo.handler";
      rc.bare_argv = {c.python, "-c", "pass"};
      std::filesystem::create_directories(rc.code_dir);
      if (!WriteWholeFile(rc.code_dir + "/echo.py",
                          "import os\n\n\n"
                          "def handler(event, context):\n"
                          "    if isinstance(event, dict) and event.get(\"exit\"):\n"
                          "        os._exit(3)  # the benchmark's way to force a new environment\n"
                          "    return event\n")) {
        return absl::InternalError("cannot write the python echo handler");
      }
    } else if (key == "nodejs20") {
      if (c.node_version.empty()) return absl::FailedPreconditionError("no working node");
      rc.runtime = Runtime::kNodejs20;
      rc.code_dir = c.temp_dir + "/node";
      rc.handler = "echo.handler";
      rc.bare_argv = {c.node, "-e", "0"};
      std::filesystem::create_directories(rc.code_dir);
      if (!WriteWholeFile(rc.code_dir + "/echo.mjs",
                          "export const handler = async (event) => {\n"
                          "  if (event?.exit) process.exit(3);  // forces a new environment\n"
                          "  return event;\n"
                          "};\n")) {
        return absl::InternalError("cannot write the node echo handler");
      }
    } else if (key == "provided") {
      rc.runtime = Runtime::kProvided;
      rc.code_dir = c.provided_code;
      rc.handler = "echo";
      if (::access((rc.code_dir + "/bootstrap").c_str(), X_OK) != 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("no executable bootstrap in ", rc.code_dir,
                         " (build the provided-echo-bootstrap target)"));
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown runtime ", key, " (python3.11 | nodejs20 | provided)"));
    }
    cases.push_back(std::move(rc));
  }
  return cases;
}

// Ends the run after `limit` or on SIGINT / SIGTERM (blocked in every other thread), stopping
// every child first. Runs on its own detached thread.
void Watchdog(Children* children, std::string temp_dir, bool keep_temp, absl::Duration limit) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  absl::Time deadline = absl::Now() + limit;
  int sig = -1;
  while (true) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    timespec ts = absl::ToTimespec(left);
    sig = sigtimedwait(&set, nullptr, &ts);
    if (sig > 0) break;
  }
  if (sig > 0) {
    std::fprintf(stderr, "\nworker_bench: signal %d; stopping children\n", sig);
  } else {
    std::fprintf(stderr, "\nworker_bench: over --max_seconds=%lld; stopping children\n",
                 static_cast<long long>(absl::ToInt64Seconds(limit)));
  }
  children->MarkAborting();
  children->StopAll();
  std::error_code ec;
  if (!keep_temp) std::filesystem::remove_all(temp_dir, ec);
  _exit(sig > 0 ? 130 : 2);
}

}  // namespace
}  // namespace wisp::bench

int main(int argc, char** argv) {
  using namespace wisp::bench;
  absl::SetProgramUsageMessage(
      "worker_bench: warm invoke and cold start of wisp-worker, as ratios to baselines "
      "measured in the same run");
  absl::ParseCommandLine(argc, argv);

  // SIGINT / SIGTERM go to the watchdog only; every thread started later inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Bench bench;
  if (absl::Status s = ResolveConfig(bench.cfg); !s.ok()) {
    std::fprintf(stderr, "worker_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  std::string pattern = absl::StrCat(absl::GetFlag(FLAGS_scratch_parent), "/wisp-bench-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    std::fprintf(stderr, "worker_bench: mkdtemp %s: %s\n", pattern.c_str(), strerror(errno));
    return 1;
  }
  bench.cfg.temp_dir = pattern;
  std::filesystem::create_directories(bench.cfg.temp_dir + "/direct-tmp");
  auto* children = new Children();  // outlives every thread, the watchdog's included
  bench.children = children;
  const bool keep_temp = absl::GetFlag(FLAGS_keep_temp);
  std::thread(Watchdog, children, bench.cfg.temp_dir, keep_temp,
              absl::Seconds(absl::GetFlag(FLAGS_max_seconds)))
      .detach();

  auto fail = [&](const absl::Status& s) {
    // A failure caused by the watchdog stopping the children: let it finish and set the code.
    while (children->aborting()) pause();
    std::fprintf(stderr, "worker_bench: FAILED: %s\n(scratch folder kept: %s)\n",
                 s.ToString().c_str(), bench.cfg.temp_dir.c_str());
    children->StopAll();
    return 1;
  };

  absl::StatusOr<std::vector<RuntimeCase>> cases = MakeCases(bench.cfg);
  if (!cases.ok()) return fail(cases.status());
  const std::string date = absl::FormatTime("%Y-%m-%d %H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  const std::string load_before = LoadAverage();
  Clock::time_point start = Clock::now();

  std::vector<WarmResult> warm;
  for (const RuntimeCase& rc : *cases) {
    std::fprintf(stderr, "worker_bench: warm %s ...\n", rc.key.c_str());
    absl::StatusOr<WarmResult> r = RunWarm(bench, rc);
    if (!r.ok()) return fail(r.status());
    warm.push_back(std::move(*r));
  }
  std::vector<ColdResult> cold;
  for (const RuntimeCase& rc : *cases) {
    if (rc.bare_argv.empty()) continue;
    std::fprintf(stderr, "worker_bench: cold %s ...\n", rc.key.c_str());
    absl::StatusOr<ColdResult> r = RunCold(bench, rc);
    if (!r.ok()) return fail(r.status());
    cold.push_back(std::move(*r));
  }
  double seconds = MicrosSince(start) / 1e6;
  PrintReport(bench, warm, cold, date, load_before, LoadAverage(), seconds);
  children->StopAll();
  std::error_code ec;
  if (!keep_temp) std::filesystem::remove_all(bench.cfg.temp_dir, ec);
  return 0;
}
