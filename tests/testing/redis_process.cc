#include "tests/testing/redis_process.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controller/redis/redis_client.h"

namespace wisp::testing {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

absl::StatusOr<std::unique_ptr<RedisProcess>> RedisProcess::Start() {
  std::unique_ptr<RedisProcess> r(new RedisProcess());
  r->dir_ = std::make_unique<TempDir>();
  for (int attempt = 0; attempt < 5; ++attempt) {
    r->port_ = FreePort();
    if (r->Launch().ok()) return r;
  }
  return absl::UnavailableError("redis-server did not start");
}

absl::Status RedisProcess::Launch() {
  // Its output goes to its --logfile; stdout and stderr stay the test's.
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(
      {"redis-server", "--port", absl::StrCat(port_), "--bind", "127.0.0.1", "--dir",
       dir_->path(), "--appendonly", "yes", "--appendfsync", "always", "--save", "",
       "--logfile", dir_->path() + "/redis.log"});
  if (!process.ok()) return process.status();
  process_ = *std::move(process);
  redis::Client client({.address = address(), .connect_timeout = absl::Milliseconds(200)});
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (!process_->Running()) return absl::UnavailableError("redis-server exited at start");
    absl::StatusOr<redis::Reply> pong = client.Command({"PING"});
    if (pong.ok()) return absl::OkStatus();
    // Loading the AOF answers LOADING: keep waiting.
    absl::SleepFor(absl::Milliseconds(20));
  }
  Kill();
  return absl::DeadlineExceededError("redis-server did not answer PING");
}

std::string RedisProcess::address() const { return absl::StrCat("127.0.0.1:", port_); }

void RedisProcess::Kill() {
  if (process_ != nullptr) process_->Kill();
}

absl::Status RedisProcess::Restart() {
  Kill();
  absl::Status s;
  // The port may linger briefly; try a few times.
  for (int attempt = 0; attempt < 20; ++attempt) {
    s = Launch();
    if (s.ok()) return s;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return s;
}

RedisProcess::~RedisProcess() { Kill(); }

}  // namespace wisp::testing
