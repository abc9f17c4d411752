// Turns an event built by a change-capture source into a validated EventDraft: the same
// rules as the HTTP API (src/domain/event_decoder.h), the source's "source" member, and a
// source-derived idempotency key kept as long as the source may redeliver. Pure; thread-safe.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

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

// One key value of an item id made of several key values joined with ':' (PostgreSQL primary
// keys, DynamoDB key attributes): '%' becomes "%25" and ':' becomes "%3A", so ("a:b", "c") is
// "a%3Ab:c" and never collides with ("a", "b:c") = "a:b%3Ac".
std::string EscapeItemIdPart(std::string_view part);

// kInvalidArgument "invalid_event" with one detail per problem (paths relative to the
// event, e.g. "/targets/0/id") when `event` breaks a rule.
Result<EventDraft> MakeSourceDraft(const boost::json::value& event, const EventLimits& limits,
                                   const SourceDraftSpec& spec);

}  // namespace annals
