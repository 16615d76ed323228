// gateway_bench_echo: a native HTTP echo server, the upstream of gateway_bench's nginx baseline.
// It is what a hand-written HTTP service equivalent to the `provided` echo function would be:
// POST answers with the request body, any other method with a small JSON document.
//
// cpp-httplib tuned as the gateway is (see /work/shared/toolchain.md): Nagle off, keep-alive
// with no request cap, a pool with one thread per open connection (`--threads`), and a listen
// backlog raised past httplib's fixed 5. Listens on 127.0.0.1, port 0 unless --port, and writes
// the port to --port_file once listening. Exits on SIGTERM / SIGINT, or when its parent dies.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "Address to listen on");
ABSL_FLAG(int, port, 0, "Port (0 picks a free one)");
ABSL_FLAG(std::string, port_file, "", "Written with the port once listening");
ABSL_FLAG(int, threads, 128, "Pool threads: connections served at once (one thread each)");
ABSL_FLAG(int, keep_alive_seconds, 30, "Idle time before a keep-alive connection is closed");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("gateway_bench_echo: HTTP echo server for the nginx baseline");
  absl::ParseCommandLine(argc, argv);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // every thread started later inherits it
  signal(SIGPIPE, SIG_IGN);

  httplib::Server srv;
  const int threads = absl::GetFlag(FLAGS_threads);
  srv.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  srv.set_tcp_nodelay(true);
  srv.set_keep_alive_max_count(1000000);
  srv.set_keep_alive_timeout(absl::GetFlag(FLAGS_keep_alive_seconds));
  int listen_fd = -1;
  srv.set_socket_options([&listen_fd](int fd) {
    httplib::default_socket_options(fd);
    listen_fd = fd;
  });
  srv.Post(".*", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.body, "application/json");
  });
  srv.Get(".*", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(R"({"path":")" + req.path + R"("})", "application/json");
  });

  const std::string host = absl::GetFlag(FLAGS_host);
  int port = absl::GetFlag(FLAGS_port);
  port = port == 0 ? srv.bind_to_any_port(host) : (srv.bind_to_port(host, port) ? port : -1);
  if (port <= 0) {
    std::fprintf(stderr, "gateway_bench_echo: cannot listen on %s\n", host.c_str());
    return 1;
  }
  if (listen_fd >= 0) ::listen(listen_fd, 1024);
  std::thread server([&srv] { srv.listen_after_bind(); });
  while (!srv.is_running()) std::this_thread::yield();
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    std::string tmp = absl::GetFlag(FLAGS_port_file) + ".tmp";
    std::ofstream(tmp) << port << "\n";
    std::error_code ec;
    std::filesystem::rename(tmp, absl::GetFlag(FLAGS_port_file), ec);
  }
  int sig = 0;
  sigwait(&signals, &sig);
  // stop() would wait for idle keep-alive connections; nothing here needs a graceful end.
  std::_Exit(0);
}
