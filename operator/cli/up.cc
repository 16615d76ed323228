#include "operator/cli/up.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <iostream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "operator/cli/args.h"
#include "operator/cli/kube_commands.h"
#include "operator/kube/client.h"
#include "operator/kube/config.h"

namespace wisp::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kUsage[] =
    R"(usage: wisp up [--data_dir DIR] [--api_port 6443] [--gateway_port 8080] [--operator_port 9100]
               [--redis_port 6379]

Runs Wisp locally: the embedded API server, the Function CRD, Redis, the process kubelet, the
operator and one gateway, supervised (a child that exits is restarted). Ctrl-C stops everything.
  --data_dir DIR        state (the API server's store, workers' files, logs)
                        (default ~/.wisp, or ./.wisp without $HOME)
  --api_port PORT       the API server (kubectl --server http://127.0.0.1:PORT)
  --gateway_port PORT   the gateway's HTTP port
  --operator_port PORT  the operator's routing stream (gRPC) for the gateway
  --redis_port PORT     Redis (async invocations, queue triggers, schedules), on 127.0.0.1
  --ready_timeout S     how long each component may take to become ready (default 60)
)";

int Usage(const std::string& problem) {
  if (!problem.empty()) std::cerr << "wisp up: " << problem << "\n";
  std::cerr << kUsage;
  return 2;
}

std::string ExeDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "." : exe.parent_path().string();
}

// Finds the Function CRD: <bin>/../share/wisp/crds, then the source tree's deploy/crds.
std::string FindCrd(const std::string& bin) {
  std::vector<std::string> candidates = {
      bin + "/../share/wisp/crds/functions.wisp.dev.yaml",
      bin + "/../../deploy/crds/functions.wisp.dev.yaml",
  };
  if (const char* src = getenv("WISP_SOURCE_DIR")) {
    candidates.push_back(std::string(src) + "/deploy/crds/functions.wisp.dev.yaml");
  }
  for (const std::string& c : candidates) {
    std::error_code ec;
    if (fs::exists(c, ec)) return fs::weakly_canonical(c, ec).string();
  }
  return "";
}

// True when something accepts connections on 127.0.0.1:port.
bool Listening(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool connected = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return connected;
}

// "" when 127.0.0.1:port is free, otherwise the problem. A bind that fails only because of
// connections of an earlier run in TIME_WAIT (the servers bind with SO_REUSEPORT, which a
// plain bind does not share) counts as free when nothing accepts connections there.
std::string PortProblem(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return strerror(errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string problem;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    if (err != EADDRINUSE || Listening(port)) problem = strerror(err);
  }
  close(fd);
  return problem;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The last `lines` lines of a file.
std::string Tail(const std::string& path, int lines) {
  std::string text = ReadFile(path);
  size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  for (int n = 0; n < lines && pos != std::string::npos && pos > 0; ++n) {
    pos = text.rfind('\n', pos - 1);
  }
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

// True when a Redis server answers PING on 127.0.0.1:port.
bool RedisPong(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      write(fd, "PING\r\n", 6) == 6) {
    char buf[16] = {};
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    ok = n >= 5 && std::string(buf, static_cast<size_t>(n)).rfind("+PONG", 0) == 0;
  }
  close(fd);
  return ok;
}

// redis-server on $PATH, else "".
std::string FindRedisServer() {
  const char* path = getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/redis-server";
    if (end > start && access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

bool HttpOk(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(2, 0);
  auto res = client.Get(path);
  return res && res->status == 200;
}

struct Child {
  std::string name;
  std::vector<std::string> argv;
  std::string log;
  std::vector<std::string> port_files;  // removed before each start
  pid_t pid = -1;
  absl::Time started;
  absl::Duration backoff = absl::Seconds(1);
  absl::Time restart_at = absl::InfiniteFuture();
};

bool Spawn(Child& c, const sigset_t& old_mask) {
  for (const std::string& f : c.port_files) {
    std::error_code ec;
    fs::remove(f, ec);
  }
  std::vector<char*> argv;
  for (std::string& a : c.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  int log_fd = open(c.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    std::cerr << "wisp up: cannot open " << c.log << ": " << strerror(errno) << "\n";
    return false;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return false;
  }
  if (pid == 0) {
    // Its own process group: a terminal's Ctrl-C reaches `wisp up` only, which stops the
    // children in order. It dies with `wisp up` if that is killed.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execv(argv[0], argv.data());
    dprintf(STDERR_FILENO, "wisp up: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(log_fd);
  c.pid = pid;
  c.started = absl::Now();
  c.restart_at = absl::InfiniteFuture();
  return true;
}

// Stops a child: SIGTERM, then SIGKILL after `grace`.
void StopChild(Child& c, absl::Duration grace) {
  if (c.pid <= 0) return;
  kill(c.pid, SIGTERM);
  absl::Time deadline = absl::Now() + grace;
  while (true) {
    int status;
    pid_t r = waitpid(c.pid, &status, WNOHANG);
    if (r == c.pid || (r < 0 && errno == ECHILD)) break;
    if (absl::Now() >= deadline) {
      kill(c.pid, SIGKILL);
      waitpid(c.pid, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  c.pid = -1;
}

class Supervisor {
 public:
  explicit Supervisor(sigset_t old_mask) : old_mask_(old_mask) {}
  ~Supervisor() { StopAll(); }

  // Starts `c` and waits until `ready` holds; false (with the log's tail printed) when the
  // child exits or the deadline passes. A termination signal meanwhile also fails it.
  bool StartAndWait(Child c, const std::function<bool()>& ready, absl::Duration timeout,
                    const sigset_t& term) {
    children_.push_back(std::move(c));
    Child& child = children_.back();
    if (!Spawn(child, old_mask_)) return false;
    absl::Time deadline = absl::Now() + timeout;
    while (true) {
      int status;
      if (waitpid(child.pid, &status, WNOHANG) == child.pid) {
        child.pid = -1;
        std::cerr << "wisp up: " << child.name << " exited ("
                  << (WIFEXITED(status) ? absl::StrCat("status ", WEXITSTATUS(status))
                                        : absl::StrCat("signal ", WTERMSIG(status)))
                  << "); the end of " << child.log << ":\n"
                  << Tail(child.log, 15);
        return false;
      }
      if (ready()) return true;
      if (absl::Now() >= deadline) {
        std::cerr << "wisp up: " << child.name << " was not ready after "
                  << absl::FormatDuration(timeout) << "; the end of " << child.log << ":\n"
                  << Tail(child.log, 15);
        return false;
      }
      timespec ts{0, 100 * 1000 * 1000};
      int sig = sigtimedwait(&term, nullptr, &ts);
      if (sig == SIGINT || sig == SIGTERM) {
        interrupted_ = true;
        return false;
      }
    }
  }

  // Restarts children that exit (backoff 1 s doubling to 30 s, reset after a minute of
  // running) until SIGINT or SIGTERM.
  void Supervise(const sigset_t& term) {
    while (true) {
      timespec ts{0, 200 * 1000 * 1000};
      int sig = sigtimedwait(&term, nullptr, &ts);
      if (sig == SIGINT || sig == SIGTERM) {
        std::cout << "\nStopping (" << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ")..."
                  << std::endl;
        return;
      }
      for (Child& c : children_) {
        int status;
        if (c.pid > 0 && waitpid(c.pid, &status, WNOHANG) == c.pid) {
          c.pid = -1;
          if (absl::Now() - c.started > absl::Minutes(1)) c.backoff = absl::Seconds(1);
          c.restart_at = absl::Now() + c.backoff;
          std::cerr << "wisp up: " << c.name << " exited ("
                    << (WIFEXITED(status) ? absl::StrCat("status ", WEXITSTATUS(status))
                                          : absl::StrCat("signal ", WTERMSIG(status)))
                    << "), restarting in " << absl::FormatDuration(c.backoff) << "; see "
                    << c.log << std::endl;
          c.backoff = std::min(c.backoff * 2, absl::Seconds(30));
        } else if (c.pid < 0 && absl::Now() >= c.restart_at) {
          if (Spawn(c, old_mask_)) {
            std::cerr << "wisp up: " << c.name << " restarted (pid " << c.pid << ")" << std::endl;
          } else {
            c.restart_at = absl::Now() + c.backoff;
          }
        }
      }
    }
  }

  void StopAll() {
    for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
      if (it->pid > 0) {
        std::cout << "  stopping " << it->name << std::endl;
        StopChild(*it, absl::Seconds(40));
      }
    }
  }

  bool interrupted() const { return interrupted_; }

 private:
  sigset_t old_mask_;
  std::vector<Child> children_;
  bool interrupted_ = false;
};

std::string DefaultDataDir() {
  const char* home = getenv("HOME");
  std::string dir = (home != nullptr && *home != '\0') ? std::string(home) + "/.wisp" : "./.wisp";
  std::error_code ec;
  return fs::absolute(dir, ec).lexically_normal().string();
}

int ReadIntFile(const std::string& path, int field) {
  std::istringstream in(ReadFile(path));
  int v = 0;
  for (int i = 0; i <= field; ++i) {
    if (!(in >> v)) return 0;
  }
  return v;
}

absl::Status InstallCrd(const std::string& server, const std::string& path) {
  std::string text = ReadFile(path);
  auto docs = YamlDocumentsToJson(text);
  if (!docs.ok()) return docs.status();
  if (docs->size() != 1) return absl::InvalidArgumentError("the CRD file holds one object");
  kube::Resource crds{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                      "CustomResourceDefinition", false};
  kube::RestKubeClient client(kube::ServerOnly(server));
  const json& crd = (*docs)[0];
  std::string name = crd["metadata"].value("name", "");
  auto existing = client.Get(crds, "", name);
  if (existing.ok()) {
    json updated = crd;
    updated["metadata"]["resourceVersion"] = (*existing)["metadata"]["resourceVersion"];
    auto u = client.Update(crds, "", name, updated);
    return u.ok() ? absl::OkStatus() : u.status();
  }
  if (existing.status().code() != absl::StatusCode::kNotFound) return existing.status();
  auto c = client.Create(crds, "", crd);
  return c.ok() ? absl::OkStatus() : c.status();
}

}  // namespace

int RunUp(const std::vector<std::string>& args) {
  std::string data_dir;
  int api_port = 6443, gateway_port = 8080, operator_port = 9100, redis_port = 6379,
      ready_timeout_s = 60;
  ArgReader r(args);
  auto port = [&r](int& out) { return r.IntValue(&out) && out > 0 && out < 65536; };
  while (r.Next()) {
    const std::string& a = r.arg();
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (r.Is({"--data_dir", "--data-dir"})) {
      if (!r.Value(&data_dir) || data_dir.empty()) return Usage("--data_dir needs a folder");
    } else if (r.Is({"--api_port", "--api-port"})) {
      if (!port(api_port)) return Usage("--api_port needs a port (1-65535)");
    } else if (r.Is({"--gateway_port", "--gateway-port"})) {
      if (!port(gateway_port)) return Usage("--gateway_port needs a port (1-65535)");
    } else if (r.Is({"--operator_port", "--operator-port"})) {
      if (!port(operator_port)) return Usage("--operator_port needs a port (1-65535)");
    } else if (r.Is({"--redis_port", "--redis-port"})) {
      if (!port(redis_port)) return Usage("--redis_port needs a port (1-65535)");
    } else if (r.Is({"--ready_timeout"})) {
      if (!r.IntValue(&ready_timeout_s) || ready_timeout_s <= 0) {
        return Usage("--ready_timeout needs a positive number of seconds");
      }
    } else {
      return Usage(absl::StrCat("unexpected argument ", a));
    }
  }
  if (data_dir.empty()) data_dir = DefaultDataDir();
  std::error_code ec;
  data_dir = fs::absolute(data_dir, ec).lexically_normal().string();
  if (!data_dir.empty() && data_dir.back() == '/') data_dir.pop_back();

  // Ports first: a clear error before anything starts.
  struct PortCheck {
    const char* flag;
    int port;
  };
  for (const PortCheck& p : {PortCheck{"--api_port", api_port},
                             PortCheck{"--gateway_port", gateway_port},
                             PortCheck{"--operator_port", operator_port},
                             PortCheck{"--redis_port", redis_port}}) {
    if (std::string problem = PortProblem(p.port); !problem.empty()) {
      std::cerr << "wisp up: port " << p.port << " (" << p.flag << ") is not available: "
                << problem
                << ". Stop what uses it (is another `wisp up` running?) or choose another with "
                << p.flag << "=PORT.\n";
      return 1;
    }
  }
  {
    std::set<int> distinct = {api_port, gateway_port, operator_port, redis_port};
    if (distinct.size() != 4) {
      return Usage("--api_port, --gateway_port, --operator_port and --redis_port must differ");
    }
  }

  std::string bin = ExeDir();
  for (const char* b : {"wisp-apiserver", "wisp-kubelet", "wisp-operator", "wisp-gateway",
                        "wisp-worker"}) {
    if (access((bin + "/" + b).c_str(), X_OK) != 0) {
      std::cerr << "wisp up: " << bin << "/" << b << " is missing (wisp up runs the binaries "
                << "next to it)\n";
      return 1;
    }
  }
  std::string redis_server = FindRedisServer();
  if (redis_server.empty()) {
    std::cerr << "wisp up: redis-server is not on PATH (scripts/install-deps.sh installs it)\n";
    return 1;
  }
  std::string crd = FindCrd(bin);
  if (crd.empty()) {
    std::cerr << "wisp up: the Function CRD (share/wisp/crds/functions.wisp.dev.yaml) is not "
                 "next to "
              << bin << "\n";
    return 1;
  }
  std::string logs = data_dir + "/logs", run = data_dir + "/run";
  for (const std::string& d : {data_dir, logs, run, data_dir + "/apiserver", data_dir + "/kubelet",
                               data_dir + "/redis"}) {
    fs::create_directories(d, ec);
    if (ec) {
      std::cerr << "wisp up: cannot create " << d << ": " << ec.message() << "\n";
      return 1;
    }
  }

  sigset_t term, old_mask;
  sigemptyset(&term);
  sigaddset(&term, SIGINT);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, &old_mask);
  signal(SIGPIPE, SIG_IGN);

  std::string server = absl::StrCat("http://127.0.0.1:", api_port);
  std::string gateway_url = absl::StrCat("http://127.0.0.1:", gateway_port);
  absl::Duration timeout = absl::Seconds(ready_timeout_s);
  std::cout << "Starting Wisp (state in " << data_dir << ", logs in " << logs << ")" << std::endl;

  Supervisor sup(old_mask);
  auto fail = [&]() {
    if (sup.interrupted()) {
      std::cout << "\nStopping (interrupted)..." << std::endl;
      sup.StopAll();
      return 130;
    }
    sup.StopAll();
    return 1;
  };

  // 1. The API server.
  Child apiserver;
  apiserver.name = "API server";
  std::string api_port_file = run + "/apiserver.port";
  apiserver.argv = {bin + "/wisp-apiserver", "--listen", "127.0.0.1",
                    absl::StrCat("--port=", api_port), "--data_dir", data_dir + "/apiserver",
                    "--port_file", api_port_file};
  apiserver.log = logs + "/apiserver.log";
  apiserver.port_files = {api_port_file};
  std::cout << "  starting the API server on " << server << " ..." << std::flush;
  if (!sup.StartAndWait(std::move(apiserver),
                        [&] { return fs::exists(api_port_file) && HttpOk(api_port, "/readyz"); },
                        timeout, term)) {
    std::cout << std::endl;
    return fail();
  }
  std::cout << " ready" << std::endl;

  // 2. The CRD.
  std::cout << "  installing the Function CRD (" << crd << ") ..." << std::flush;
  if (absl::Status s = InstallCrd(server, crd); !s.ok()) {
    std::cout << std::endl;
    std::cerr << "wisp up: cannot install the CRD: " << s.message() << "\n";
    return fail();
  }
  std::cout << " done" << std::endl;

  // 3. Redis: durable (AOF, fsync on every write), no RDB snapshots, loopback only.
  Child redis;
  redis.name = "Redis";
  redis.argv = {redis_server,       "--port",        absl::StrCat(redis_port),
                "--bind",           "127.0.0.1",     "--dir",
                data_dir + "/redis", "--appendonly", "yes",
                "--appendfsync",    "always",        "--save",
                ""};
  redis.log = logs + "/redis.log";
  std::cout << "  starting Redis on 127.0.0.1:" << redis_port << " ..." << std::flush;
  if (!sup.StartAndWait(std::move(redis), [&] { return RedisPong(redis_port); }, timeout, term)) {
    std::cout << std::endl;
    return fail();
  }
  std::cout << " ready" << std::endl;
  const std::string redis_flag = absl::StrCat("--redis=127.0.0.1:", redis_port);

  // 4. The process kubelet: ready when it has stayed up for a moment.
  Child kubelet;
  kubelet.name = "kubelet";
  kubelet.argv = {bin + "/wisp-kubelet", "--server", server, "--data_dir",
                  data_dir + "/kubelet"};
  kubelet.log = logs + "/kubelet.log";
  std::cout << "  starting the process kubelet ..." << std::flush;
  absl::Time kubelet_start = absl::Now();
  if (!sup.StartAndWait(std::move(kubelet),
                        [&] { return absl::Now() - kubelet_start > absl::Milliseconds(500); },
                        timeout, term)) {
    std::cout << std::endl;
    return fail();
  }
  std::cout << " ready" << std::endl;

  // 5. The operator (any worker images: the kubelet runs local workers).
  Child op;
  op.name = "operator";
  std::string op_port_file = run + "/operator.port";
  op.argv = {bin + "/wisp-operator",
             "--server", server,
             "--listen", "127.0.0.1",
             absl::StrCat("--port=", operator_port),
             "--admin_port=0",
             "--port_file", op_port_file,
             "--worker_images=python3.11=wisp/worker-python3.11:local,"
             "nodejs20=wisp/worker-nodejs20:local,provided=wisp/worker-provided:local",
             "--gateway_url", gateway_url,
             redis_flag};
  op.log = logs + "/operator.log";
  op.port_files = {op_port_file};
  std::cout << "  starting the operator (routing on 127.0.0.1:" << operator_port << ") ..."
            << std::flush;
  if (!sup.StartAndWait(std::move(op),
                        [&] {
                          int admin = ReadIntFile(op_port_file, 0);
                          return admin > 0 && HttpOk(admin, "/readyz");
                        },
                        timeout, term)) {
    std::cout << std::endl;
    return fail();
  }
  std::cout << " ready" << std::endl;

  // 6. One gateway, fed by the operator.
  Child gw;
  gw.name = "gateway";
  std::string gw_port_file = run + "/gateway.port";
  gw.argv = {bin + "/wisp-gateway",
             "--operator", absl::StrCat("127.0.0.1:", operator_port),
             "--listen", "127.0.0.1",
             absl::StrCat("--port=", gateway_port),
             "--admin_port=0",
             "--port_file", gw_port_file,
             redis_flag};
  gw.log = logs + "/gateway.log";
  gw.port_files = {gw_port_file};
  std::cout << "  starting the gateway on " << gateway_url << " ..." << std::flush;
  if (!sup.StartAndWait(std::move(gw),
                        [&] {
                          int admin = ReadIntFile(gw_port_file, 1);
                          return admin > 0 && HttpOk(admin, "/readyz");
                        },
                        timeout, term)) {
    std::cout << std::endl;
    return fail();
  }
  std::cout << " ready" << std::endl;

  std::string api_flag = api_port == 6443 ? "" : absl::StrCat(" --server ", server);
  std::cout << "\nWisp is running. Try:\n\n"
            << "  wisp apply -f deploy/examples/hello-python.yaml" << api_flag << "\n"
            << "  wisp get" << api_flag << "\n"
            << "  curl '" << gateway_url << "/hello-python?name=Ada'\n"
            << "  curl -X POST -d '{\"name\":\"Ada\"}' " << gateway_url
            << "/2015-03-31/functions/hello-python/invocations\n"
            << "  wisp invoke hello-python --payload '{\"name\":\"Ada\"}'"
            << (gateway_port == 8080 ? "" : absl::StrCat(" --gateway ", gateway_url)) << "\n"
            << "  wisp logs hello-python -f"
            << (data_dir == DefaultDataDir() ? "" : absl::StrCat(" --data_dir ", data_dir)) << "\n"
            << "  wisp delete hello-python" << api_flag << "\n"
            << "  kubectl --server " << server << " get functions\n\n"
            << "Redis (async invocations, queue triggers, schedules): 127.0.0.1:" << redis_port
            << " (redis-cli -p " << redis_port << ")\n"
            << "Logs: " << logs << "/*.log, workers' in " << data_dir << "/kubelet/.\n"
            << "Press Ctrl-C to stop (state is kept in " << data_dir << ")." << std::endl;

  sup.Supervise(term);
  sup.StopAll();
  std::cout << "Stopped." << std::endl;
  return 0;
}

}  // namespace wisp::cli
