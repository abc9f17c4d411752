// SQS messages, as AWS Lambda receives them, turned into annals events
// (docs/change-capture.md "SQS"). Pure functions; thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "annals/options.h"
#include "annals/status.h"
#include "sources/push_source.h"
#include "sources/source_config.h"

namespace annals {

// The event one message body maps to, before validation.
struct MappedMessage {
  boost::json::object event;
  std::string source_json;      // {"kind":"sqs","message_id":...,"name":...}
  std::string idempotency_key;  // "sqs <source name> <messageId>"
  std::string event_path;       // JSON Pointer of the event in the request body
};

// Maps one record of an SQS Lambda event (`record` is Records[i], `path` its JSON Pointer).
// The body is one event, either in annals' own shape (as POST /v1/events takes a single
// event; organization_id may be left out when the source has a default organization or the
// API key implies one) or in WorkOS's shape {"organization_id": "...", "event": {...}}.
// Errors are kInvalidArgument with details pointing into the body as
// "/Records/<i>/body/<pointer inside the body's JSON>": "invalid_json" for a body that is
// not strict JSON, "invalid_record" for a message that is not an event, "invalid_event" for
// an event that breaks a rule (the API's rules).
Result<MappedMessage> MapSqsRecord(const boost::json::object& record, const SqsSourceConfig& config,
                                   const EventLimits& limits, const SourceBatchContext& context,
                                   const std::string& path);

// Decodes a whole Lambda SQS event ({"Records": [...]}): each message becomes a draft or the
// reason it cannot be stored. Messages of a FIFO queue (eventSourceARN ending in ".fifo")
// are ordered by their message group.
//
// The body as a whole is refused (kInvalidArgument; nothing of it may be stored) when it is
// not an SQS Lambda event: not strict JSON ("invalid_json"), not an object with a "Records"
// array, a record that is not an object, whose eventSource is not "aws:sqs" (e.g. a
// DynamoDB stream event), or that has no messageId ("invalid_request").
Result<LambdaBatch> DecodeSqsEvent(std::string_view body, const SqsSourceConfig& config,
                                   const EventLimits& limits, const SourceBatchContext& context);

}  // namespace annals
