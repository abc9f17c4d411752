// Turns an event built by a change-capture source into a validated EventDraft: the same
// rules as the HTTP API (src/domain/event_decoder.h), the source's "source" member, and a
// source-derived idempotency key kept as long as the source may redeliver. Pure; thread-safe.
#pragma once

#include <boost/json/value.hpp>
#include <string>

#include "annals/event.h"
#include "annals/options.h"
#include "annals/status.h"

namespace annals {

struct SourceDraftSpec {
  std::string source_json;       // canonical JSON of the "source" member
  std::string idempotency_key;   // derived from the source position; required
  int64_t idempotency_ttl_us = 0;  // SourcesConfig::idempotency_window_us
  TimestampUs now = 0;           // for the occurred_at-not-in-the-future rule
};

// kInvalidArgument "invalid_event" with one detail per problem (paths relative to the
// event, e.g. "/targets/0/id") when `event` breaks a rule.
Result<EventDraft> MakeSourceDraft(const boost::json::value& event, const EventLimits& limits,
                                   const SourceDraftSpec& spec);

}  // namespace annals
