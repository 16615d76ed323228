// A small synchronous Redis client over hiredis: one connection, reconnected on demand, every
// call bounded by a timeout. Binary-safe arguments and replies.
//
// Errors (absl::Status, never exceptions):
//   UNAVAILABLE          no connection, or it broke or timed out during the call (the command
//                        may or may not have run); the next call reconnects
//   FAILED_PRECONDITION  Redis answered with an error reply ("NOGROUP ...", "ERR ..."): the
//                        message is Redis's own
// Error replies nested in arrays (EXEC, pipelines) are kept as Reply values of type kError.
//
// Not thread-safe: one Client per thread (blocking reads hold the connection).
#ifndef WISP_CONTROLLER_REDIS_REDIS_CLIENT_H_
#define WISP_CONTROLLER_REDIS_REDIS_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

struct redisContext;

namespace wisp::redis {

struct Reply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  int64_t integer = 0;
  std::vector<Reply> elements;  // kArray

  bool is_nil() const { return type == Type::kNil; }
  bool is_error() const { return type == Type::kError; }
  bool is_array() const { return type == Type::kArray; }
  // The string of a kString/kStatus reply, "" otherwise.
  const std::string& text() const;
};

// "host:port" or a URL "redis://[[user]:password@]host[:port][/db]" (port 6379, db 0 by
// default). TLS (rediss://) is not supported: INVALID_ARGUMENT says so.
struct Address {
  std::string host;
  int port = 6379;
  std::string user;      // AUTH user (Redis 6 ACLs); empty: the default user
  std::string password;  // empty: no AUTH
  int db = 0;            // SELECT
};
absl::StatusOr<Address> ParseAddress(absl::string_view address);

struct ClientOptions {
  std::string address = "127.0.0.1:6379";
  absl::Duration connect_timeout = absl::Seconds(2);
  absl::Duration command_timeout = absl::Seconds(5);
};

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Runs one command. `timeout` overrides the command timeout (for blocking reads, pass
  // more than their BLOCK time).
  absl::StatusOr<Reply> Command(const std::vector<std::string>& args);
  absl::StatusOr<Reply> Command(const std::vector<std::string>& args, absl::Duration timeout);

  // Sends every command, then reads every reply, in order. A reply that is an error stays a
  // kError Reply; only connection failures fail the whole call.
  absl::StatusOr<std::vector<Reply>> Pipeline(const std::vector<std::vector<std::string>>& commands);

  // MULTI, the commands, EXEC: the EXEC reply's elements (one per command). A command Redis
  // refuses while queueing (wrong arity) fails the whole transaction with FAILED_PRECONDITION.
  absl::StatusOr<std::vector<Reply>> Transaction(
      const std::vector<std::vector<std::string>>& commands);

  // EVALSHA of `script` (loaded on NOSCRIPT) with keys and args.
  absl::StatusOr<Reply> Eval(const std::string& script, const std::vector<std::string>& keys,
                             const std::vector<std::string>& args);

  // Connects now (calls connect lazily otherwise). UNAVAILABLE when Redis cannot be reached.
  absl::Status Connect();
  void Close();
  const std::string& address() const { return options_.address; }

 private:
  absl::Status EnsureConnected();
  absl::Status SetTimeout(absl::Duration timeout);
  absl::Status Broken(absl::string_view what);

  ClientOptions options_;
  redisContext* ctx_ = nullptr;
  absl::Duration current_timeout_ = absl::ZeroDuration();
};

// Clients to one Redis shared by many threads: each caller borrows a client for a few calls.
// Thread-safe. At most `max_idle` connections are kept between uses.
class ClientPool {
 public:
  explicit ClientPool(ClientOptions options, int max_idle = 16)
      : options_(std::move(options)), max_idle_(max_idle) {}
  // Runs fn(client) with a client of its own; the client returns to the pool after.
  template <typename Fn>
  auto With(Fn&& fn) -> decltype(fn(std::declval<Client&>())) {
    std::unique_ptr<Client> c = Take();
    auto result = fn(*c);
    Give(std::move(c));
    return result;
  }
  const std::string& address() const { return options_.address; }

 private:
  std::unique_ptr<Client> Take();
  void Give(std::unique_ptr<Client> client);

  const ClientOptions options_;
  const int max_idle_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Client>> idle_ ABSL_GUARDED_BY(mu_);
};

// The error reply's code: "NOGROUP" for "NOGROUP No such key ...", "BUSYGROUP", "ERR", ...
std::string ErrorCode(const absl::Status& status);

}  // namespace wisp::redis

#endif  // WISP_CONTROLLER_REDIS_REDIS_CLIENT_H_
