// Redis Streams consumer-group operations shared by async dispatch and queue triggers:
// create a group, read new entries, claim entries left pending too long, acknowledge.
//
// At-least-once by construction: an entry stays in the group's pending list until it is
// acknowledged; a consumer that dies leaves it there for another to claim after a lease.
// All calls go through the given Client (not thread-safe: one per thread).
#ifndef WISP_CONTROLLER_REDIS_STREAMS_H_
#define WISP_CONTROLLER_REDIS_STREAMS_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/redis/redis_client.h"

namespace wisp::redis {

struct StreamEntry {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;
  int deliveries = 1;  // including this one
};

// XGROUP CREATE key group <start> MKSTREAM; an existing group is fine.
absl::Status EnsureGroup(Client& client, const std::string& key, const std::string& group,
                         const std::string& start = "0");

// New entries for `consumer` (XREADGROUP ... >), waiting up to `block` for the first.
// Empty on timeout. FAILED_PRECONDITION "NOGROUP ..." if the group or stream vanished.
absl::StatusOr<std::vector<StreamEntry>> ReadNew(Client& client, const std::string& key,
                                                 const std::string& group,
                                                 const std::string& consumer, int count,
                                                 absl::Duration block);

// Claims for `consumer` entries pending longer than `own_idle` (its own) or `others_idle`
// (any other consumer's: a lease that must outlast the longest attempt), up to `count`,
// leaving out own entries for which `busy(id)` is true (those the caller is still working
// on). Each claimed entry's deliveries counts this delivery. Entries deleted meanwhile are
// dropped from the pending list by Redis and not returned.
absl::StatusOr<std::vector<StreamEntry>> ClaimIdle(
    Client& client, const std::string& key, const std::string& group, const std::string& consumer,
    int count, absl::Duration own_idle, absl::Duration others_idle,
    const std::function<bool(const std::string&)>& busy = nullptr);

// Every entry of the stream at `key`, oldest first (XRANGE key - +); empty when it does not exist.
absl::StatusOr<std::vector<StreamEntry>> ReadRange(Client& client, const std::string& key);

// Parses an XRANGE/XCLAIM-style list of [id, [f, v, ...]] (nil field lists are skipped).
std::vector<StreamEntry> ParseEntries(const Reply& list);

// The command vectors, for transactions that acknowledge together with other writes.
std::vector<std::string> XAddCommand(const std::string& key,
                                     const std::vector<std::pair<std::string, std::string>>& fields);
std::vector<std::string> XAckCommand(const std::string& key, const std::string& group,
                                     const std::vector<std::string>& ids);

}  // namespace wisp::redis

#endif  // WISP_CONTROLLER_REDIS_STREAMS_H_
