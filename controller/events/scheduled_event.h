// Schedules as values: the EventBridge "Scheduled Event" a tick delivers, and the tick's
// invocation id (the same for the same function, trigger and scheduled time, so a tick fired
// twice is one invocation to an idempotent handler).
//
// Pure. Thread-compatible.
#ifndef WISP_CONTROLLER_EVENTS_SCHEDULED_EVENT_H_
#define WISP_CONTROLLER_EVENTS_SCHEDULED_EVENT_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace wisp::events {

struct Tick {
  std::string namespace_name;
  std::string function;
  int trigger = 0;  // index in spec.triggers
  absl::Time scheduled;
};

// A name-based UUID (version 5 layout, SHA-1) of "<namespace>/<function>/<trigger>/<unix ms>".
std::string TickInvocationId(const Tick& tick);

// The rule's name: "<namespace>-<function>-schedule-<trigger>".
std::string RuleName(const Tick& tick);

// {"version":"0","id":<TickInvocationId>,"detail-type":"Scheduled Event","source":"aws.events",
//  "account":…,"time":"2026-11-27T12:00:00Z","region":…,
//  "resources":["arn:aws:events:<region>:<account>:rule/<RuleName>"],"detail":{}}
std::string ScheduledEvent(const Tick& tick, absl::string_view region,
                           absl::string_view account_id);

}  // namespace wisp::events

#endif  // WISP_CONTROLLER_EVENTS_SCHEDULED_EVENT_H_
