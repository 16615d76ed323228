#include "controller/redis/streams.h"

#include <map>

#include "absl/strings/str_cat.h"

namespace wisp::redis {
namespace {

std::string Ms(absl::Duration d) {
  return absl::StrCat(std::max<int64_t>(0, absl::ToInt64Milliseconds(d)));
}

}  // namespace

absl::Status EnsureGroup(Client& client, const std::string& key, const std::string& group,
                         const std::string& start) {
  absl::StatusOr<Reply> r = client.Command({"XGROUP", "CREATE", key, group, start, "MKSTREAM"});
  if (r.ok() || ErrorCode(r.status()) == "BUSYGROUP") return absl::OkStatus();
  return r.status();
}

std::vector<StreamEntry> ParseEntries(const Reply& list) {
  std::vector<StreamEntry> out;
  if (!list.is_array()) return out;
  for (const Reply& item : list.elements) {
    if (!item.is_array() || item.elements.size() < 2 || !item.elements[1].is_array()) continue;
    StreamEntry e;
    e.id = item.elements[0].text();
    const std::vector<Reply>& kv = item.elements[1].elements;
    for (size_t i = 0; i + 1 < kv.size(); i += 2) e.fields.emplace_back(kv[i].str, kv[i + 1].str);
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<std::vector<StreamEntry>> ReadRange(Client& client, const std::string& key) {
  absl::StatusOr<Reply> r = client.Command({"XRANGE", key, "-", "+"});
  if (!r.ok()) return r.status();
  return ParseEntries(*r);
}

absl::StatusOr<std::vector<StreamEntry>> ReadNew(Client& client, const std::string& key,
                                                 const std::string& group,
                                                 const std::string& consumer, int count,
                                                 absl::Duration block) {
  absl::StatusOr<Reply> r = client.Command(
      {"XREADGROUP", "GROUP", group, consumer, "COUNT", absl::StrCat(count), "BLOCK", Ms(block),
       "STREAMS", key, ">"},
      block + absl::Seconds(5));
  if (!r.ok()) return r.status();
  std::vector<StreamEntry> out;
  if (!r->is_array()) return out;  // nil: timed out
  for (const Reply& stream : r->elements) {
    if (stream.is_array() && stream.elements.size() == 2) {
      std::vector<StreamEntry> entries = ParseEntries(stream.elements[1]);
      out.insert(out.end(), entries.begin(), entries.end());
    }
  }
  return out;
}

absl::StatusOr<std::vector<StreamEntry>> ClaimIdle(
    Client& client, const std::string& key, const std::string& group, const std::string& consumer,
    int count, absl::Duration own_idle, absl::Duration others_idle,
    const std::function<bool(const std::string&)>& busy) {
  std::vector<std::string> own, others;
  std::map<std::string, int> deliveries;
  // Two windows, so that neither kind hides the other: the consumer's own entries (filtered by
  // consumer; busy ones are skipped, so look past them), and everyone's entries idle past the
  // lease (the own ones among them are left to the first window).
  constexpr int kOwnLookahead = 256;
  if (own_idle != absl::InfiniteDuration()) {
    absl::StatusOr<Reply> mine =
        client.Command({"XPENDING", key, group, "IDLE", Ms(own_idle), "-", "+",
                        absl::StrCat(count + kOwnLookahead), consumer});
    if (!mine.ok()) return mine.status();
    for (const Reply& p : mine->elements) {
      if (!p.is_array() || p.elements.size() < 4) continue;
      const std::string& id = p.elements[0].text();
      if (busy && busy(id)) continue;
      deliveries[id] = static_cast<int>(p.elements[3].integer) + 1;
      if (static_cast<int>(own.size()) < count) own.push_back(id);
    }
  }
  if (others_idle != absl::InfiniteDuration() && static_cast<int>(own.size()) < count) {
    absl::StatusOr<Reply> all = client.Command({"XPENDING", key, group, "IDLE", Ms(others_idle),
                                                "-", "+", absl::StrCat(count * 4 + 16)});
    if (!all.ok()) return all.status();
    for (const Reply& p : all->elements) {
      if (!p.is_array() || p.elements.size() < 4) continue;
      if (p.elements[1].text() == consumer) continue;
      const std::string& id = p.elements[0].text();
      deliveries[id] = static_cast<int>(p.elements[3].integer) + 1;
      if (static_cast<int>(own.size() + others.size()) < count) others.push_back(id);
    }
  }
  std::vector<StreamEntry> out;
  for (auto [ids, idle] : {std::pair{&own, own_idle}, std::pair{&others, others_idle}}) {
    if (ids->empty()) continue;
    std::vector<std::string> cmd = {"XCLAIM", key, group, consumer, Ms(idle)};
    cmd.insert(cmd.end(), ids->begin(), ids->end());
    absl::StatusOr<Reply> claimed = client.Command(cmd);
    if (!claimed.ok()) return claimed.status();
    for (StreamEntry& e : ParseEntries(*claimed)) {
      e.deliveries = deliveries[e.id];
      out.push_back(std::move(e));
    }
  }
  return out;
}

std::vector<std::string> XAddCommand(const std::string& key,
                                     const std::vector<std::pair<std::string, std::string>>& fields) {
  std::vector<std::string> cmd = {"XADD", key, "*"};
  for (const auto& [k, v] : fields) {
    cmd.push_back(k);
    cmd.push_back(v);
  }
  return cmd;
}

std::vector<std::string> XAckCommand(const std::string& key, const std::string& group,
                                     const std::vector<std::string>& ids) {
  std::vector<std::string> cmd = {"XACK", key, group};
  cmd.insert(cmd.end(), ids.begin(), ids.end());
  return cmd;
}

}  // namespace wisp::redis
