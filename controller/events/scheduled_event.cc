#include "controller/events/scheduled_event.h"

#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace wisp::events {

std::string TickInvocationId(const Tick& tick) {
  std::string name = absl::StrCat(tick.namespace_name, "/", tick.function, "/", tick.trigger, "/",
                                  absl::ToUnixMillis(tick.scheduled));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(name.data(), name.size(), digest, &len, EVP_sha1(), nullptr);
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);  // version 5
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string hex = absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), 16));
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20, 12));
}

std::string RuleName(const Tick& tick) {
  return absl::StrCat(tick.namespace_name, "-", tick.function, "-schedule-", tick.trigger);
}

std::string ScheduledEvent(const Tick& tick, absl::string_view region,
                           absl::string_view account_id) {
  nlohmann::json event = {
      {"version", "0"},
      {"id", TickInvocationId(tick)},
      {"detail-type", "Scheduled Event"},
      {"source", "aws.events"},
      {"account", std::string(account_id)},
      {"time", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", tick.scheduled, absl::UTCTimeZone())},
      {"region", std::string(region)},
      {"resources",
       {absl::StrCat("arn:aws:events:", region, ":", account_id, ":rule/", RuleName(tick))}},
      {"detail", nlohmann::json::object()},
  };
  return event.dump();
}

}  // namespace wisp::events
