// Turns POST /v1/events request bodies into validated EventDrafts (PRODUCT.md "Event model"
// and "Limits"). Also implements RenderCanonicalEvent and ChangeOpName from annals/event.h.
// All functions are pure and thread-safe; they run on request threads.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "annals/event.h"
#include "annals/options.h"
#include "annals/status.h"

namespace annals {

struct DecodeContext {
  // From an organization-scoped key; "" when the key is platform-wide.
  std::string implied_organization_id;
  // The server's current time, for the "occurred_at at most max_future_us ahead" rule.
  TimestampUs now = 0;
  // Canonical JSON of the event's "source" member.
  std::string source_json = "{\"kind\":\"api\"}";
  // The WorkOS-compatible path requires context.location.
  bool require_context_location = false;
  // Lets annals' own meta-audit events use actions under "annals."; never set for client
  // input.
  bool allow_reserved_actions = false;
};

enum class BodyFormat { kJson, kNdjson };

struct DecodedBatch {
  std::vector<EventDraft> drafts;  // in body order
  bool single = false;             // the body was one event object (not a batch of one)
  // Prefix of the per-event error paths of a batch: "/events" for {"events": [...]}, ""
  // for bare arrays and NDJSON (so event i is at path_base + "/" + i).
  std::string path_base;
};

// Decodes a POST /v1/events body: one event object, {"events": [...]}, a bare JSON array of
// events (kJson), or NDJSON (kNdjson: one event object per non-empty line; "\r\n" line ends
// and blank lines are tolerated).
//
// Errors (nothing is ever truncated or coerced; every problem is reported):
//  * kTooLarge "request_too_large": the body exceeds request_limits.max_request_bytes;
//  * kInvalidArgument "invalid_json": the body (or an NDJSON line) is not strict JSON (see
//    ParseStrictJson); NDJSON details are at "/<index>" plus the inner path;
//  * kInvalidArgument "empty_batch": an empty body, or a batch without events;
//  * kInvalidArgument "too_many_events": more than max_batch_events events;
//  * kInvalidArgument "invalid_request": a body that is neither an event nor a batch, or a
//    batch object with members other than "events";
//  * kInvalidArgument "invalid_event": one or more events break a rule. The message is one
//    sentence ("3 of 10 events are invalid" for batches); details carry a JSON Pointer per
//    problem: "/targets/0/id" for a single event, "/events/3/targets/0/id" for the
//    {"events": [...]} form, "/3/targets/0/id" for bare arrays and NDJSON (0-based position
//    in the batch, blank NDJSON lines not counted);
//  * kTooLarge "event_too_large": the body is a single event whose canonical size exceeds
//    event_limits.max_event_bytes (in a batch that is an "invalid_event" detail instead).
// Nesting beyond event_limits.max_depth within an event is an "invalid_event" detail, except
// when it is so deep that the body itself fails to parse (more than max_depth + 2 levels for
// kJson, max_depth for an NDJSON line): then it is "invalid_json", with the same path and a
// message naming max_depth.
//
// The drafts are as DecodeEvent describes, except that content_hash is only computed when
// it can matter: for an event that has an idempotency_key, and for a lone event object
// (single == true), which may still get its key from an Idempotency-Key header. Other
// drafts have an empty content_hash; whoever gives such a draft an idempotency key later
// must call ComputeContentHash.
//
// The body is read once into a compact per-thread tape (domain/json_tape.h), one event at a
// time for the usual batch shapes, and each event is validated and written in canonical
// form from it, without building a boost::json tree.
Result<DecodedBatch> DecodeEventsBody(std::string_view body, BodyFormat format,
                                      const EventLimits& event_limits,
                                      const RequestLimits& request_limits,
                                      const DecodeContext& ctx);

// Validates one parsed event and builds its draft. Appends one ErrorDetail per problem to
// *errors, with paths prefixed by `path_prefix` (e.g. "/events/3"; "" for a lone event), and
// returns nullopt if there was any.
//
// The draft: fields filled for indexing; members = canonical JSON (RFC 8785) of each
// top-level member present, sorted by name, with organization_id always present (implied by
// the key if the body has none), occurred_at re-rendered as a 6-digit UTC timestamp, and
// "source" = ctx.source_json; idempotency_key taken out of the members; content_hash =
// SHA-256 of the canonical object formed by all members except "source" (the event's
// "canonical size" that max_event_bytes limits is the length of that object); approx_size =
// that size plus room for source, id, seq and received_at.
std::optional<EventDraft> DecodeEvent(const boost::json::value& event, const EventLimits& limits,
                                      const DecodeContext& ctx, const std::string& path_prefix,
                                      std::vector<ErrorDetail>* errors);

// Sets draft->content_hash to the SHA-256 of the canonical object formed by all of its
// members except "source" (the value DecodeEvent computes). Call it after giving a draft
// from DecodeEventsBody an idempotency key (e.g. from the Idempotency-Key header) unless
// its content_hash is already set. Cost: one SHA-256 over the event's canonical size.
void ComputeContentHash(EventDraft* draft);

}  // namespace annals
