#include "controller/events/async_store.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "controller/redis/streams.h"

namespace wisp::events {
namespace {

// KEYS: stream, delayed. ARGV: cap, then the entry's fields.
constexpr char kEnqueueScript[] = R"lua(
if redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then
  return redis.error_reply('BACKLOG the function has ' .. ARGV[1] .. ' async events waiting')
end
return redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
)lua";

// KEYS: delayed, stream. ARGV: limit. Members are MessagePack arrays of the entry's fields.
constexpr char kPromoteScript[] = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, m in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', unpack(cmsgpack.unpack(m)))
  redis.call('ZREM', KEYS[1], m)
end
return #due
)lua";

// KEYS: delayed. ARGV: delay ms, member. Scored by Redis's clock, as PromoteDue reads it.
constexpr char kDelayScript[] = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
)lua";

// KEYS: tick key, stream. ARGV: tick ms, then the entry's fields.
constexpr char kFireScript[] = R"lua(
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if last >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
return 1
)lua";

std::vector<std::string> Flatten(const AsyncEvent& event) {
  std::vector<std::string> out;
  for (auto& [k, v] : ToFields(event)) {
    out.push_back(k);
    out.push_back(v);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> AsyncStore::Enqueue(const FunctionKey& fn, const AsyncEvent& event,
                                                int64_t backlog_cap) {
  std::vector<std::string> args = {absl::StrCat(backlog_cap)};
  for (std::string& f : Flatten(event)) args.push_back(std::move(f));
  absl::StatusOr<redis::Reply> r = client_->Eval(
      kEnqueueScript,
      {AsyncStreamKey(fn.namespace_name, fn.name), DelayedKey(fn.namespace_name, fn.name)}, args);
  if (!r.ok()) {
    if (redis::ErrorCode(r.status()) == "BACKLOG") {
      return absl::ResourceExhaustedError(r.status().message().substr(8));
    }
    return r.status();
  }
  return r->text();
}

absl::StatusOr<int> AsyncStore::PromoteDue(const FunctionKey& fn, int limit) {
  absl::StatusOr<redis::Reply> r = client_->Eval(
      kPromoteScript,
      {DelayedKey(fn.namespace_name, fn.name), AsyncStreamKey(fn.namespace_name, fn.name)},
      {absl::StrCat(limit)});
  if (!r.ok()) return r.status();
  return static_cast<int>(r->integer);
}

namespace {

// The commands of one settle, in the order the transaction runs them.
std::vector<std::vector<std::string>> SettleCommands(const FunctionKey& fn,
                                                     const std::string& entry_id,
                                                     const AsyncEvent& event,
                                                     const AsyncStore::Settle& settle,
                                                     absl::Time now) {
  std::string stream = AsyncStreamKey(fn.namespace_name, fn.name);
  std::vector<std::vector<std::string>> tx;
  if (settle.retry) {
    // EVAL inside MULTI runs atomically with the rest.
    tx.push_back({"EVAL", kDelayScript, "1", DelayedKey(fn.namespace_name, fn.name),
                  absl::StrCat(absl::ToInt64Milliseconds(settle.delay)),
                  EncodeDelayed(*settle.retry)});
  }
  if (!settle.record.empty()) {
    if (!settle.record_stream.empty()) {
      tx.push_back(redis::XAddCommand(settle.record_stream,
                                      {{"body", settle.record},
                                       {"condition", settle.condition},
                                       {"requestId", event.invocation_id},
                                       {"function", fn.name}}));
    } else if (!settle.record_function.empty()) {
      AsyncEvent next;
      next.invocation_id = absl::StrCat(event.invocation_id, "-", settle.condition);
      next.payload = settle.record;
      next.enqueued_ms = absl::ToUnixMillis(now);
      tx.push_back(redis::XAddCommand(AsyncStreamKey(fn.namespace_name, settle.record_function),
                                      ToFields(next)));
    }
  }
  tx.push_back(redis::XAckCommand(stream, kAsyncGroup, {entry_id}));
  tx.push_back({"XDEL", stream, entry_id});
  return tx;
}

}  // namespace

absl::Status AsyncStore::Complete(const FunctionKey& fn, const std::string& entry_id,
                                  const AsyncEvent& event, const Settle& settle, absl::Time now) {
  absl::StatusOr<std::vector<absl::Status>> r =
      CompleteMany({Completion{fn, entry_id, event, settle}}, now);
  if (!r.ok()) return r.status();
  return (*r)[0];
}

absl::StatusOr<std::vector<absl::Status>> AsyncStore::CompleteMany(
    const std::vector<Completion>& items, absl::Time now) {
  std::vector<std::vector<std::string>> commands;
  std::vector<size_t> exec_index;  // position of each item's EXEC reply
  for (const Completion& c : items) {
    commands.push_back({"MULTI"});
    for (auto& cmd : SettleCommands(c.fn, c.entry_id, c.event, c.settle, now)) {
      commands.push_back(std::move(cmd));
    }
    commands.push_back({"EXEC"});
    exec_index.push_back(commands.size() - 1);
  }
  absl::StatusOr<std::vector<redis::Reply>> replies = client_->Pipeline(commands);
  if (!replies.ok()) return replies.status();
  std::vector<absl::Status> out;
  size_t start = 0;
  for (size_t end : exec_index) {
    absl::Status status;
    // A command refused while queueing (OOM under maxmemory, ...) aborts the whole transaction
    // (EXECABORT): nothing of it ran, the entry is still pending: ABORTED, to be retried.
    for (size_t k = start; k < end && status.ok(); ++k) {
      if ((*replies)[k].is_error()) {
        status = absl::AbortedError(absl::StrCat("not applied: ", (*replies)[k].str));
      }
    }
    const redis::Reply& exec = (*replies)[end];
    if (status.ok() && exec.is_error()) {
      status = absl::AbortedError(absl::StrCat("not applied: ", exec.str));
    }
    if (status.ok() && !exec.is_array()) status = absl::AbortedError("EXEC: transaction aborted");
    if (status.ok()) {
      for (const redis::Reply& each : exec.elements) {
        if (each.is_error()) {
          status = absl::FailedPreconditionError(each.str);
          break;
        }
      }
    }
    out.push_back(status);
    start = end + 1;
  }
  return out;
}

absl::StatusOr<bool> AsyncStore::FireTick(const FunctionKey& fn, int trigger, int64_t tick_ms,
                                          const AsyncEvent& event) {
  std::vector<std::string> args = {absl::StrCat(tick_ms)};
  for (std::string& f : Flatten(event)) args.push_back(std::move(f));
  absl::StatusOr<redis::Reply> r = client_->Eval(
      kFireScript,
      {TickKey(fn.namespace_name, fn.name, trigger), AsyncStreamKey(fn.namespace_name, fn.name)},
      args);
  if (!r.ok()) return r.status();
  return r->integer == 1;
}

absl::StatusOr<std::optional<int64_t>> AsyncStore::LastTick(const FunctionKey& fn, int trigger) {
  absl::StatusOr<redis::Reply> r =
      client_->Command({"GET", TickKey(fn.namespace_name, fn.name, trigger)});
  if (!r.ok()) return r.status();
  int64_t ms = 0;
  if (r->is_nil() || !absl::SimpleAtoi(r->text(), &ms)) return std::optional<int64_t>();
  return std::optional<int64_t>(ms);
}

absl::StatusOr<AsyncStore::Backlog> AsyncStore::Measure(const FunctionKey& fn, absl::Time now) {
  std::string stream = AsyncStreamKey(fn.namespace_name, fn.name);
  absl::StatusOr<std::vector<redis::Reply>> r = client_->Pipeline(
      {{"XLEN", stream},
       {"ZCARD", DelayedKey(fn.namespace_name, fn.name)},
       {"XRANGE", stream, "-", "+", "COUNT", "1"}});
  if (!r.ok()) return r.status();
  Backlog b;
  b.events = (*r)[0].integer + (*r)[1].integer;
  std::vector<redis::StreamEntry> first = redis::ParseEntries((*r)[2]);
  if (!first.empty()) {
    for (const auto& [k, v] : first[0].fields) {
      int64_t ms = 0;
      if (k == "enqueued" && absl::SimpleAtoi(v, &ms)) {
        b.oldest_age = std::max(absl::ZeroDuration(), now - absl::FromUnixMillis(ms));
      }
    }
  }
  return b;
}

}  // namespace wisp::events
