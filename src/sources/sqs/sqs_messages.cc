#include "sources/sqs/sqs_messages.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <utility>
#include <vector>

#include "domain/canonical_json.h"
#include "domain/json.h"
#include "sources/record_errors.h"
#include "sources/source_event.h"

namespace annals {

namespace json = boost::json;

namespace {

bool ValidMessageId(std::string_view id) {
  if (id.empty() || id.size() > 256) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::string Md5Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_md5(), nullptr) != 1) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

// Re-bases an error's details (paths relative to `prefix`'s target) into the request body.
Status Rebase(const Status& s, const std::string& prefix) {
  std::vector<ErrorDetail> details;
  for (const ErrorDetail& d : s.details()) details.push_back({prefix + d.path, d.message});
  if (details.empty()) details.push_back({prefix, s.message()});
  return Status(s.code(), s.error_code(), s.message(), std::move(details));
}

bool IsFifo(const json::object& record) {
  const json::value* arn = record.if_contains("eventSourceARN");
  if (arn == nullptr || !arn->is_string()) return false;
  std::string_view a = arn->get_string();
  return a.size() >= 5 && a.substr(a.size() - 5) == ".fifo";
}

std::string OrderingKey(const json::object& record) {
  if (!IsFifo(record)) return "";
  const json::value* attributes = record.if_contains("attributes");
  if (attributes != nullptr && attributes->is_object()) {
    const json::value* group = attributes->get_object().if_contains("MessageGroupId");
    if (group != nullptr && group->is_string()) {
      return "group " + std::string(group->get_string());
    }
  }
  return "fifo";
}

}  // namespace

Result<MappedMessage> MapSqsRecord(const json::object& record, const SqsSourceConfig& config,
                                   const EventLimits& limits, const SourceBatchContext& context,
                                   const std::string& path) {
  const std::string message_id(record.at("messageId").get_string());  // checked by the envelope
  const std::string body_path = Child(path, "body");
  const json::value* body = record.if_contains("body");
  if (body == nullptr || !body->is_string()) {
    return RecordError(body_path, "the message body must be a string holding one event as JSON");
  }
  const json::value* md5 = record.if_contains("md5OfBody");
  if (md5 != nullptr && md5->is_string() && !md5->get_string().empty()) {
    std::string expected(md5->get_string());
    std::transform(expected.begin(), expected.end(), expected.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (Md5Hex(body->get_string()) != expected) {
      return RecordError(Child(path, "md5OfBody"),
                         "md5OfBody does not match the body: the message was altered");
    }
  }
  Result<json::value> parsed = ParseStrictJson(body->get_string(), limits.max_depth + 2);
  if (!parsed.ok()) return Rebase(parsed.status(), body_path);
  if (!parsed->is_object()) {
    return RecordError(body_path, "the message body must be a JSON object: one event");
  }
  json::object& object = parsed->get_object();

  MappedMessage out;
  if (object.contains("event") && !object.contains("action")) {
    // WorkOS's shape: {"organization_id": "...", "event": {...}}.
    for (const auto& [name, value] : object) {
      if (name != "organization_id" && name != "event") {
        return RecordError(Child(body_path, name),
                           "unknown member '" + std::string(name.substr(0, 64)) +
                               "': a WorkOS-shaped message has only organization_id and event");
      }
    }
    out.event_path = Child(body_path, "event");
    json::value& event = object["event"];
    if (!event.is_object()) {
      return RecordError(out.event_path, "event must be an object", "invalid_event");
    }
    if (event.get_object().contains("organization_id")) {
      return RecordError(Child(out.event_path, "organization_id"),
                         "in a WorkOS-shaped message organization_id goes next to event, not "
                         "inside it",
                         "invalid_event");
    }
    out.event = std::move(event.get_object());
    if (const json::value* org = object.if_contains("organization_id")) {
      out.event["organization_id"] = *org;
    }
  } else {
    out.event_path = body_path;
    out.event = std::move(object);
  }
  if (out.event.contains("idempotency_key")) {
    return RecordError(Child(out.event_path, "idempotency_key"),
                       "the messageId is the idempotency key of an SQS message; leave "
                       "idempotency_key out of the body",
                       "invalid_event");
  }
  if (!out.event.contains("organization_id")) {
    if (!config.organization.empty()) {
      out.event["organization_id"] = config.organization;
    } else if (!context.implied_organization_id.empty()) {
      out.event["organization_id"] = context.implied_organization_id;
    }
  }
  json::object source;
  source["kind"] = "sqs";
  source["name"] = config.name;
  source["message_id"] = message_id;
  out.source_json = Canonical(source);
  out.idempotency_key = "sqs " + config.name + " " + message_id;
  return out;
}

Result<LambdaBatch> DecodeSqsEvent(std::string_view body, const SqsSourceConfig& config,
                                   const EventLimits& limits, const SourceBatchContext& context) {
  Result<json::value> parsed = ParseStrictJson(body, limits.max_depth + 8);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_object()) {
    return EnvelopeError("", "the body must be an SQS event as AWS Lambda receives it: "
                             "{\"Records\": [...]}");
  }
  const json::value* records = parsed->get_object().if_contains("Records");
  if (records == nullptr) {
    return EnvelopeError("/Records", "the body has no Records: it must be an SQS event as AWS "
                                     "Lambda receives it, {\"Records\": [...]}");
  }
  if (!records->is_array()) return EnvelopeError("/Records", "Records must be an array of messages");
  const json::array& list = records->get_array();
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = Child("/Records", i);
    if (!list[i].is_object()) return EnvelopeError(path, "a record must be an object");
    const json::object& r = list[i].get_object();
    const json::value* source = r.if_contains("eventSource");
    if (source != nullptr && source->is_string() && source->get_string() == "aws:dynamodb") {
      return EnvelopeError(Child(path, "eventSource"),
                           "this is a DynamoDB stream event (eventSource aws:dynamodb); post it "
                           "to /v1/sources/dynamodb/{name}");
    }
    if (source == nullptr || !source->is_string() || source->get_string() != "aws:sqs") {
      return EnvelopeError(Child(path, "eventSource"),
                           "not an SQS message: eventSource must be aws:sqs");
    }
    const json::value* id = r.if_contains("messageId");
    if (id == nullptr || !id->is_string() || !ValidMessageId(id->get_string())) {
      return EnvelopeError(Child(path, "messageId"),
                           "a message needs its messageId (1 to 256 printable ASCII characters; "
                           "the id Lambda's partial batch response names it by)");
    }
  }
  LambdaBatch batch;
  batch.records.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = Child("/Records", i);
    const json::object& r = list[i].get_object();
    LambdaRecord out;
    out.item_identifier = r.at("messageId").get_string();
    out.ordering_key = OrderingKey(r);
    Result<MappedMessage> mapped = MapSqsRecord(r, config, limits, context, path);
    if (!mapped.ok()) {
      out.draft = mapped.status();
      batch.records.push_back(std::move(out));
      continue;
    }
    SourceDraftSpec spec;
    spec.source_json = std::move(mapped->source_json);
    spec.idempotency_key = std::move(mapped->idempotency_key);
    spec.idempotency_ttl_us = context.idempotency_ttl_us;
    spec.now = context.now;
    Result<EventDraft> draft =
        MakeSourceDraft(json::value(std::move(mapped->event)), limits, spec);
    out.draft = draft.ok() ? std::move(draft) : Result<EventDraft>(Rebase(draft.status(), mapped->event_path));
    batch.records.push_back(std::move(out));
  }
  return batch;
}

}  // namespace annals
