#include "controller/redis/redis_client.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <cstring>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"

namespace wisp::redis {
namespace {

Reply Convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Convert(r->element[i]));
      break;
    default:
      out.type = Reply::Type::kNil;
  }
  return out;
}

timeval ToTv(absl::Duration d) {
  if (d < absl::Milliseconds(1)) d = absl::Milliseconds(1);
  return absl::ToTimeval(d);
}

// SHA1 hex of each script, computed once by Redis (SCRIPT LOAD) and cached per address.
absl::Mutex sha_mu;
std::map<std::string, std::string>& ShaCache() {
  static auto* cache = new std::map<std::string, std::string>();
  return *cache;
}

}  // namespace

const std::string& Reply::text() const {
  static const std::string empty;
  return type == Type::kString || type == Type::kStatus ? str : empty;
}

absl::StatusOr<Address> ParseAddress(absl::string_view address) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("Redis address \"", address, "\": ", why));
  };
  absl::string_view rest = address;
  if (absl::StartsWith(rest, "rediss://")) return bad("TLS (rediss://) is not supported");
  bool url = absl::ConsumePrefix(&rest, "redis://");
  Address out;
  // Credentials first: a password may hold '/' (the host part cannot).
  absl::string_view credentials;
  bool has_credentials = false;
  if (size_t at = rest.rfind('@'); url && at != absl::string_view::npos) {
    credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    has_credentials = true;
  }
  if (size_t slash = rest.find('/'); slash != absl::string_view::npos) {
    absl::string_view db = rest.substr(slash + 1);
    if (!db.empty() && (!absl::SimpleAtoi(db, &out.db) || out.db < 0)) {
      return bad("the database must be a number");
    }
    rest = rest.substr(0, slash);
  }
  if (has_credentials) {
    size_t colon = credentials.find(':');
    if (colon == absl::string_view::npos) {
      out.password = std::string(credentials);
    } else {
      out.user = std::string(credentials.substr(0, colon));
      out.password = std::string(credentials.substr(colon + 1));
    }
  }
  size_t colon = rest.rfind(':');
  bool bracketed = absl::StartsWith(rest, "[");
  if (colon == absl::string_view::npos || (bracketed && rest.back() == ']')) {
    out.host = std::string(rest);
  } else {
    out.host = std::string(rest.substr(0, colon));
    if (!absl::SimpleAtoi(rest.substr(colon + 1), &out.port) || out.port <= 0 ||
        out.port > 65535) {
      return bad("the port must be 1-65535");
    }
  }
  if (absl::StartsWith(out.host, "[") && absl::EndsWith(out.host, "]")) {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  if (out.host.empty()) return bad("expected host:port or redis://host:port");
  return out;
}

std::string ErrorCode(const absl::Status& status) {
  absl::string_view m = status.message();
  size_t space = m.find(' ');
  return std::string(space == absl::string_view::npos ? m : m.substr(0, space));
}

Client::Client(ClientOptions options) : options_(std::move(options)) {}
Client::~Client() { Close(); }

void Client::Close() {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
}

absl::Status Client::Broken(absl::string_view what) {
  std::string detail = ctx_ != nullptr && ctx_->err ? ctx_->errstr : "connection lost";
  Close();
  return absl::UnavailableError(
      absl::StrCat("Redis at ", options_.address, ": ", what, ": ", detail));
}

absl::Status Client::Connect() { return EnsureConnected(); }

absl::Status Client::EnsureConnected() {
  if (ctx_ != nullptr) return absl::OkStatus();
  absl::StatusOr<Address> address = ParseAddress(options_.address);
  if (!address.ok()) return address.status();
  timeval tv = ToTv(options_.connect_timeout);
  ctx_ = redisConnectWithTimeout(address->host.c_str(), address->port, tv);
  if (ctx_ == nullptr) return absl::UnavailableError("Redis: out of memory connecting");
  if (ctx_->err) return Broken("cannot connect");
  current_timeout_ = absl::ZeroDuration();
  if (absl::Status s = SetTimeout(options_.command_timeout); !s.ok()) return s;
  // Credentials and database from the URL, before any other command.
  std::vector<std::vector<std::string>> setup;
  if (!address->password.empty()) {
    setup.push_back(address->user.empty()
                        ? std::vector<std::string>{"AUTH", address->password}
                        : std::vector<std::string>{"AUTH", address->user, address->password});
  }
  if (address->db != 0) setup.push_back({"SELECT", absl::StrCat(address->db)});
  if (setup.empty()) return absl::OkStatus();
  absl::StatusOr<std::vector<Reply>> replies = Pipeline(setup);
  if (!replies.ok()) return replies.status();
  for (const Reply& r : *replies) {
    if (r.is_error()) {
      Close();
      return absl::FailedPreconditionError(absl::StrCat("Redis at ", options_.address, ": ", r.str));
    }
  }
  return absl::OkStatus();
}

absl::Status Client::SetTimeout(absl::Duration timeout) {
  if (timeout == current_timeout_) return absl::OkStatus();
  if (redisSetTimeout(ctx_, ToTv(timeout)) != REDIS_OK) return Broken("setting a timeout");
  current_timeout_ = timeout;
  return absl::OkStatus();
}

absl::StatusOr<Reply> Client::Command(const std::vector<std::string>& args) {
  return Command(args, options_.command_timeout);
}

absl::StatusOr<Reply> Client::Command(const std::vector<std::string>& args,
                                      absl::Duration timeout) {
  absl::StatusOr<std::vector<Reply>> replies = [&]() -> absl::StatusOr<std::vector<Reply>> {
    if (absl::Status s = EnsureConnected(); !s.ok()) return s;
    if (absl::Status s = SetTimeout(timeout); !s.ok()) return s;
    return Pipeline({args});
  }();
  if (!replies.ok()) return replies.status();
  Reply reply = std::move((*replies)[0]);
  if (reply.is_error()) return absl::FailedPreconditionError(reply.str);
  return reply;
}

absl::StatusOr<std::vector<Reply>> Client::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  for (const std::vector<std::string>& args : commands) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), argv.data(), lens.data()) !=
        REDIS_OK) {
      return Broken("sending a command");
    }
  }
  std::vector<Reply> out;
  out.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
      return Broken(absl::StrCat("waiting for the reply to ", commands[i].empty() ? "" : commands[i][0]));
    }
    out.push_back(Convert(static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
  }
  // The blocking-read timeout may have been raised for this call; the next call sets its own.
  if (current_timeout_ != options_.command_timeout) {
    if (absl::Status s = SetTimeout(options_.command_timeout); !s.ok()) return s;
  }
  return out;
}

absl::StatusOr<std::vector<Reply>> Client::Transaction(
    const std::vector<std::vector<std::string>>& commands) {
  std::vector<std::vector<std::string>> all;
  all.reserve(commands.size() + 2);
  all.push_back({"MULTI"});
  for (const auto& c : commands) all.push_back(c);
  all.push_back({"EXEC"});
  absl::StatusOr<std::vector<Reply>> replies = Pipeline(all);
  if (!replies.ok()) return replies.status();
  for (size_t i = 0; i + 1 < replies->size(); ++i) {
    if ((*replies)[i].is_error()) return absl::FailedPreconditionError((*replies)[i].str);
  }
  Reply& exec = replies->back();
  if (exec.is_error()) return absl::FailedPreconditionError(exec.str);
  if (!exec.is_array()) return absl::FailedPreconditionError("EXEC: transaction aborted");
  return std::move(exec.elements);
}

absl::StatusOr<Reply> Client::Eval(const std::string& script, const std::vector<std::string>& keys,
                                   const std::vector<std::string>& args) {
  std::string sha;
  {
    absl::MutexLock lock(&sha_mu);
    auto it = ShaCache().find(script);
    if (it != ShaCache().end()) sha = it->second;
  }
  auto run = [&](const std::string& s) {
    std::vector<std::string> cmd = {"EVALSHA", s, std::to_string(keys.size())};
    cmd.insert(cmd.end(), keys.begin(), keys.end());
    cmd.insert(cmd.end(), args.begin(), args.end());
    return Command(cmd);
  };
  if (!sha.empty()) {
    absl::StatusOr<Reply> r = run(sha);
    if (r.ok() || ErrorCode(r.status()) != "NOSCRIPT") return r;
  }
  // Not loaded yet (or Redis restarted without it): load and run once more.
  absl::StatusOr<Reply> loaded = Command({"SCRIPT", "LOAD", script});
  if (!loaded.ok()) return loaded.status();
  sha = loaded->text();
  {
    absl::MutexLock lock(&sha_mu);
    ShaCache()[script] = sha;
  }
  return run(sha);
}

std::unique_ptr<Client> ClientPool::Take() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      std::unique_ptr<Client> c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  return std::make_unique<Client>(options_);
}

void ClientPool::Give(std::unique_ptr<Client> client) {
  absl::MutexLock lock(&mu_);
  if (static_cast<int>(idle_.size()) < max_idle_) idle_.push_back(std::move(client));
}

}  // namespace wisp::redis
