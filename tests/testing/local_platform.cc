#include "tests/testing/local_platform.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "operator/apiserver/yaml.h"
#include "operator/kube/config.h"

namespace wisp::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
namespace res = kube::resources;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TailOf(const std::string& text, size_t bytes) {
  return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

// The real python interpreter (past a pyenv shim, which costs ~100 ms per start).
std::string RealPython() {
  RunResult r = RunProcess({"/usr/bin/env", "python3", "-c", "import sys;print(sys.executable)"},
                           "", absl::Seconds(20));
  std::string path(absl::StripAsciiWhitespace(r.stdout_text));
  return r.exit_code == 0 && !path.empty() ? path : "python3";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ChildProcess

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(std::string name,
                                                                  std::vector<std::string> argv,
                                                                  std::string log_path) {
  std::unique_ptr<ChildProcess> c(new ChildProcess());
  c->name_ = std::move(name);
  c->log_ = std::move(log_path);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec: the parent has threads.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int in = ::open("/dev/null", O_RDONLY);
    int out = ::open(c->log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || out < 0) _exit(127);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  c->pid_ = pid;
  return c;
}

ChildProcess::~ChildProcess() { Stop(); }

int ChildProcess::Stop(absl::Duration grace) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  absl::Time deadline = absl::Now() + grace;
  int status = -1;
  while (true) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) break;
    if (absl::Now() >= deadline) {
      ::kill(pid_, SIGKILL);
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  pid_ = -1;
  return status;
}

void ChildProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

bool ChildProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::string ChildProcess::Log() const { return ReadAll(log_); }

// ---------------------------------------------------------------------------------------------
// LocalPlatform

bool LocalPlatform::Eventually(const std::function<bool()>& done, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return done();
}

absl::StatusOr<std::unique_ptr<LocalPlatform>> LocalPlatform::Start(LocalPlatformOptions options) {
  std::unique_ptr<LocalPlatform> p(new LocalPlatform());
  p->options_ = options;
  const std::string dir = p->dir_.path();
  const std::string bin = BinDir();
  auto fail = [&](const std::string& what) {
    return absl::UnavailableError(absl::StrCat(what, "\n", p->Describe()));
  };

  // 1. The API server, in memory.
  auto api = ChildProcess::Start(
      "apiserver",
      {bin + "/wisp-apiserver", "--listen=127.0.0.1", "--port=0",
       "--port_file=" + dir + "/apiserver.port"},
      dir + "/apiserver.log");
  if (!api.ok()) return api.status();
  p->apiserver_ = std::move(*api);
  int api_port = 0;
  if (!Eventually(
          [&] {
            return absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadAll(dir + "/apiserver.port")),
                                    &api_port) &&
                   api_port > 0 && HttpGet(api_port, "/readyz").ok();
          },
          options.ready_timeout)) {
    return fail("the API server did not become ready");
  }
  p->server_url_ = absl::StrCat("http://127.0.0.1:", api_port);
  p->client_ = std::make_unique<kube::RestKubeClient>(kube::ServerOnly(p->server_url_));

  // 2. The CRD.
  auto crd = apiserver::ParseYaml(ReadAll(SourceDir() + "/deploy/crds/functions.wisp.dev.yaml"));
  if (!crd.ok()) return crd.status();
  kube::Resource crds{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                      "CustomResourceDefinition", false};
  if (auto created = p->client_->Create(crds, "", *crd); !created.ok()) return created.status();

  // 3. The process kubelet.
  auto kubelet = ChildProcess::Start(
      "kubelet",
      {bin + "/wisp-kubelet", "--server=" + p->server_url_, "--data_dir=" + dir + "/kubelet",
       "--python=" + RealPython()},
      dir + "/kubelet.log");
  if (!kubelet.ok()) return kubelet.status();
  p->kubelet_ = std::move(*kubelet);

  // 4. The operators, each with its own routing port (port 0, read from its log line).
  for (int i = 0; i < options.operators; ++i) {
    std::vector<std::string> argv = {
        bin + "/wisp-operator",
        "--server=" + p->server_url_,
        "--listen=127.0.0.1",
        "--port=0",
        "--admin_port=0",
        absl::StrCat("--port_file=", dir, "/operator-", i, ".port"),
        "--worker_images=python3.11=wisp/worker-python3.11:local,"
        "nodejs20=wisp/worker-nodejs20:local,provided=wisp/worker-provided:local",
        "--gateway_url=http://127.0.0.1",
        absl::StrCat("--identity=op-", i),
        "--advertise_address=127.0.0.1",  // with the port it binds
        absl::StrCat("--autoscaler_stable_window_seconds=", options.stable_window_seconds),
        absl::StrCat("--autoscaler_panic_window_seconds=", options.panic_window_seconds),
        absl::StrCat("--autoscaler_scale_down_delay_seconds=", options.scale_down_delay_seconds),
        absl::StrCat("--scale_to_zero_after_cap_seconds=", options.scale_to_zero_after_cap_seconds),
    };
    if (options.operators > 1) {
      argv.insert(argv.end(),
                  {"--leader_elect", "--lease_namespace=default",
                   absl::StrCat("--lease_duration_seconds=", options.lease_duration_seconds),
                   absl::StrCat("--renew_deadline_seconds=", options.renew_deadline_seconds),
                   absl::StrCat("--retry_period_seconds=", options.retry_period_seconds)});
    }
    argv.insert(argv.end(), options.operator_args.begin(), options.operator_args.end());
    const std::string log = absl::StrCat(dir, "/operator-", i, ".log");
    auto op = ChildProcess::Start(absl::StrCat("operator-", i), argv, log);
    if (!op.ok()) return op.status();
    p->operators_.push_back(std::move(*op));
    // The routing port comes from the "operator started" log line (port=N).
    int port = 0;
    if (!Eventually(
            [&] {
              std::string text = ReadAll(log);
              size_t at = text.find("operator started");
              if (at == std::string::npos) return false;
              size_t key = text.find(" port=", at);
              if (key == std::string::npos) return false;
              std::string digits;
              for (size_t k = key + 6; k < text.size() && isdigit(text[k]); ++k) digits += text[k];
              return absl::SimpleAtoi(digits, &port) && port > 0;
            },
            options.ready_timeout)) {
      return fail(absl::StrCat("operator ", i, " did not start"));
    }
    int admin = 0;
    if (!Eventually(
            [&] {
              return absl::SimpleAtoi(
                         absl::StripAsciiWhitespace(
                             ReadAll(absl::StrCat(dir, "/operator-", i, ".port"))),
                         &admin) &&
                     admin > 0 && HttpGet(admin, "/readyz").ok();
            },
            options.ready_timeout)) {
      return fail(absl::StrCat("operator ", i, " was not ready"));
    }
    p->operator_ports_.push_back(port);
    if (i == 0 && options.operators > 1) {
      // The first operator leads, so the gateway's first choice is the leader.
      if (!Eventually([&] { return p->LeaseHolder() == "op-0"; }, options.ready_timeout)) {
        return fail("op-0 did not take the Lease");
      }
    }
  }

  // 5. The gateway.
  if (absl::Status s = p->StartGateway(0); !s.ok()) return s;
  return p;
}

absl::Status LocalPlatform::StartGateway(int port) {
  const std::string dir = dir_.path();
  const std::string port_file = dir + "/gateway.port";
  std::error_code ec;
  fs::remove(port_file, ec);
  std::vector<std::string> addresses;
  if (options_.gateway_operators.empty()) {
    for (int p : operator_ports_) addresses.push_back(absl::StrCat("127.0.0.1:", p));
  } else {
    for (int i : options_.gateway_operators) {
      if (i < 0 || i >= static_cast<int>(operator_ports_.size())) {
        return absl::InvalidArgumentError(absl::StrCat("gateway_operators: no operator ", i));
      }
      addresses.push_back(absl::StrCat("127.0.0.1:", operator_ports_[i]));
    }
  }
  std::vector<std::string> argv = {BinDir() + "/wisp-gateway",
                                   "--operator=ipv4:" + absl::StrJoin(addresses, ","),
                                   "--gateway_id=gateway-test",
                                   "--listen=127.0.0.1",
                                   absl::StrCat("--port=", port),
                                   "--admin_port=0",
                                   "--port_file=" + port_file};
  argv.insert(argv.end(), options_.gateway_args.begin(), options_.gateway_args.end());
  auto gw = ChildProcess::Start("gateway", argv, dir + "/gateway.log");
  if (!gw.ok()) return gw.status();
  gateway_ = std::move(*gw);
  ++gateway_starts_;
  bool ready = Eventually(
      [&] {
        std::vector<std::string> parts =
            absl::StrSplit(ReadAll(port_file), absl::ByAnyChar(" \n"), absl::SkipEmpty());
        return parts.size() == 2 && absl::SimpleAtoi(parts[0], &gateway_port_) &&
               absl::SimpleAtoi(parts[1], &gateway_admin_port_) &&
               HttpGet(gateway_admin_port_, "/readyz").ok();
      },
      options_.ready_timeout);
  if (!ready) return absl::UnavailableError(absl::StrCat("the gateway was not ready\n", Describe()));
  return absl::OkStatus();
}

absl::Status LocalPlatform::RestartGateway() {
  const int port = gateway_port_;
  gateway_->Stop(absl::Seconds(30));
  return StartGateway(port);
}

absl::StatusOr<std::string> LocalPlatform::GatewayMetrics() {
  return HttpGet(gateway_admin_port_, "/metrics");
}

LocalPlatform::~LocalPlatform() {
  if (gateway_) gateway_->Stop();
  for (auto it = operators_.rbegin(); it != operators_.rend(); ++it) (*it)->Stop();
  if (kubelet_) kubelet_->Stop(absl::Seconds(40));
  if (apiserver_) apiserver_->Stop();
}

absl::Status LocalPlatform::Apply(const json& function) {
  const std::string ns = function["metadata"].value("namespace", "default");
  const std::string name = function["metadata"].value("name", "");
  auto applied = client_->Apply(res::Functions(), ns, name, function, "e2e-test", /*force=*/true);
  return applied.ok() ? absl::OkStatus() : applied.status();
}

absl::Status LocalPlatform::Delete(const std::string& name, const std::string& ns) {
  return client_->Delete(res::Functions(), ns, name);
}

bool LocalPlatform::WaitReady(const std::string& name, absl::Duration timeout) {
  return Eventually(
      [&] {
        auto fn = client_->Get(res::Functions(), "default", name);
        if (!fn.ok() || !fn->contains("status")) return false;
        for (const json& c : (*fn)["status"].value("conditions", json::array())) {
          if (c.value("type", "") == "Ready" && c.value("status", "") == "True") return true;
        }
        return false;
      },
      timeout);
}

int LocalPlatform::DesiredReplicas(const std::string& name, const std::string& ns) {
  auto fn = client_->Get(res::Functions(), ns, name);
  if (!fn.ok() || !(*fn)["spec"].contains("replicas")) return -1;
  return (*fn)["spec"]["replicas"].get<int>();
}

int LocalPlatform::ReadyReplicas(const std::string& name, const std::string& ns) {
  auto dep = client_->Get(res::Deployments(), ns, name);
  if (!dep.ok()) return -1;
  return dep->contains("status") ? (*dep)["status"].value("readyReplicas", 0) : 0;
}

int LocalPlatform::WorkerProcesses(const std::string& name, const std::string& ns) {
  const std::string needle = absl::StrCat(dir_.path(), "/kubelet/", ns, "/", name, "/");
  int count = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::string cmdline = ReadAll(entry.path().string() + "/cmdline");
    if (cmdline.find("wisp-worker") != std::string::npos &&
        cmdline.find(needle) != std::string::npos) {
      // Zombies have an empty cmdline; a stopped worker is not counted.
      ++count;
    }
  }
  return count;
}

std::string LocalPlatform::LeaseHolder() {
  auto lease = client_->Get(res::Leases(), "default", "wisp-operator");
  if (!lease.ok() || !lease->contains("spec")) return "";
  return (*lease)["spec"].value("holderIdentity", "");
}

std::string LocalPlatform::Describe() const {
  std::string out;
  const std::string dir = dir_.path();
  std::vector<std::string> logs = {dir + "/apiserver.log", dir + "/kubelet.log"};
  for (size_t i = 0; i < operators_.size() || i < 1; ++i) {
    logs.push_back(absl::StrCat(dir, "/operator-", i, ".log"));
  }
  logs.push_back(dir + "/gateway.log");
  for (const std::string& log : logs) {
    std::string text = ReadAll(log);
    if (text.empty()) continue;
    absl::StrAppend(&out, "--- ", log, " (end) ---\n", TailOf(text, 4000), "\n");
  }
  return out;
}

}  // namespace wisp::testing
