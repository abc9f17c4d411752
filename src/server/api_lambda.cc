// POST /v1/sources/dynamodb/{name}, POST /v1/sources/sqs/{name}: change-capture batches
// pushed by AWS Lambda, answered with Lambda's partial batch response.
//
// Each record is decoded and validated on the request thread (sources/dynamodb/,
// sources/sqs/), then stored as a submission of its own, all queued in record order, so
// the ingestor's group commit writes them together while a record that cannot be stored
// (an idempotency conflict, say) fails alone. The answer waits until every submission is
// durable or refused.
#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <unordered_set>
#include <utility>

#include "domain/canonical_json.h"
#include "domain/event_decoder.h"
#include "server/api_internal.h"
#include "sources/dynamodb/dynamodb_stream.h"
#include "sources/push_source.h"
#include "sources/sqs/sqs_messages.h"

namespace annals {

namespace {

// Failures logged per batch; the rest are counted in one line.
constexpr size_t kLoggedFailuresPerBatch = 20;

bool IsJsonMediaType(const HttpRequest& req) {
  std::string ct = req.Header("content-type").value_or("");
  std::string media = ct.substr(0, ct.find(';'));
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.back()))) media.pop_back();
  std::transform(media.begin(), media.end(), media.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return media == "application/json";
}

void AppendErrorObject(const Status& s, std::string* out) {
  *out += "{\"code\":";
  AppendJsonString(s.error_code().empty() ? "error" : s.error_code(), out);
  *out += ",\"message\":";
  AppendJsonString(s.message(), out);
  if (!s.details().empty()) {
    *out += ",\"details\":[";
    for (size_t i = 0; i < s.details().size(); ++i) {
      if (i) *out += ',';
      *out += "{\"path\":";
      AppendJsonString(s.details()[i].path, out);
      *out += ",\"message\":";
      AppendJsonString(s.details()[i].message, out);
      *out += '}';
    }
    *out += ']';
  }
  *out += '}';
}

// One line for logs and the source's last_error.
std::string Describe(const std::string& item_identifier, const Status& s) {
  std::string out = "record " + item_identifier + ": ";
  if (!s.details().empty() && !s.details().front().path.empty()) {
    out += s.details().front().path + ": " + s.details().front().message;
  } else {
    out += s.message();
  }
  return out;
}

struct RecordOutcome {
  bool done = false;
  Status error;  // OK once stored
  Ack ack;
  TimestampUs occurred_at = 0;
};

// Collects the outcomes of one batch's submissions; the last one to finish answers.
struct LambdaBatchState {
  std::mutex mu;
  std::vector<std::string> item_identifiers;
  std::vector<RecordOutcome> outcomes;  // guarded by mu once submissions begin
  size_t outstanding = 1;               // guarded by mu; the submitting thread holds one
  std::string kind;
  std::string source_name;
  PushSource* status = nullptr;
  std::shared_ptr<Logger> logger;
  const Clock* clock = nullptr;
  Responder respond;

  // Marks record i finished; returns true when it was the last outstanding one.
  bool Complete(size_t i, Result<std::vector<Ack>> result) {
    std::lock_guard<std::mutex> lock(mu);
    RecordOutcome& o = outcomes[i];
    o.done = true;
    if (result.ok() && result->size() == 1) {
      o.ack = std::move(result->front());
    } else {
      o.error = result.ok() ? Status::Internal("the ingestor acknowledged no event")
                            : result.status();
    }
    return --outstanding == 0;
  }

  bool Release() {
    std::lock_guard<std::mutex> lock(mu);
    return --outstanding == 0;
  }

  void Finish() {
    // Every submission has finished: no more writers of `outcomes`.
    const TimestampUs now = clock->NowMicros();
    uint64_t stored = 0;
    uint64_t failed = 0;
    bool any_acked = false;
    const Status* unavailable = nullptr;
    TimestampUs last_event_at = 0;
    std::string first_error;
    size_t logged = 0;
    for (size_t i = 0; i < outcomes.size(); ++i) {
      const RecordOutcome& o = outcomes[i];
      if (o.error.ok()) {
        any_acked = true;
        if (!o.ack.duplicate) {
          ++stored;
          last_event_at = std::max(last_event_at, o.occurred_at);
        }
        continue;
      }
      ++failed;
      if (o.error.code() == Code::kUnavailable && unavailable == nullptr) unavailable = &o.error;
      const std::string line = Describe(item_identifiers[i], o.error);
      if (first_error.empty()) first_error = line;
      if (logger != nullptr && logged < kLoggedFailuresPerBatch) {
        ++logged;
        const std::string path = o.error.details().empty() ? "" : o.error.details().front().path;
        logger->Warn("a change-capture record was not stored",
                     {{"source", kind + "/" + source_name},
                      {"record", item_identifiers[i]},
                      {"code", o.error.error_code()},
                      {"path", path},
                      {"error", o.error.details().empty() ? o.error.message()
                                                          : o.error.details().front().message}});
      }
    }
    if (logger != nullptr && logged < failed) {
      logger->Warn("more change-capture records of the batch were not stored",
                   {{"source", kind + "/" + source_name},
                    {"not_logged", std::to_string(failed - logged)}});
    }
    // Nothing stored and the store could not take it: the whole batch is retried.
    if (!any_acked && unavailable != nullptr) {
      status->RecordBatch(0, outcomes.size(), 0, now, first_error);
      respond(ErrorResponse(*unavailable));
      return;
    }
    status->RecordBatch(stored, failed, last_event_at, now, first_error);

    std::string body = "{\"batchItemFailures\":[";
    bool first = true;
    for (size_t i = 0; i < outcomes.size(); ++i) {
      if (outcomes[i].error.ok()) continue;
      if (!first) body += ',';
      first = false;
      body += "{\"itemIdentifier\":";
      AppendJsonString(item_identifiers[i], &body);
      body += '}';
    }
    body += "],\"records\":[";
    for (size_t i = 0; i < outcomes.size(); ++i) {
      if (i) body += ',';
      body += "{\"itemIdentifier\":";
      AppendJsonString(item_identifiers[i], &body);
      const RecordOutcome& o = outcomes[i];
      if (o.error.ok()) {
        body += ",\"id\":";
        AppendJsonString(o.ack.id, &body);
        body += ",\"seq\":";
        body += std::to_string(o.ack.seq);
      } else {
        body += ",\"error\":";
        AppendErrorObject(o.error, &body);
      }
      body += '}';
    }
    body += "]}";
    HttpResponse r;
    r.status = 200;
    r.body = std::move(body);
    respond(std::move(r));
  }
};

Status NotAttempted() {
  return Status(Code::kConflict, "not_attempted",
                "not attempted: an earlier record of the same item (DynamoDB) or message group "
                "(SQS FIFO) failed in this batch, and their changes are stored in order; it is "
                "stored when Lambda retries");
}

}  // namespace

Status Api::CheckRecordOrganization(const Call& c, size_t index, EventDraft* draft,
                                    std::map<std::string, Status>* checked) {
  const std::string& org = draft->fields.organization_id;
  const std::string path = "/Records/" + std::to_string(index);
  if (!c.who.platform() && org != c.who.organization_id) {
    return Status::InvalidArgument(
        "the record belongs to organization '" + org + "', not to the API key's organization",
        "invalid_event", {{path, "organization_id does not match the organization of the API key"}});
  }
  auto it = checked->find(org);
  if (it == checked->end()) {
    DecodedBatch one;
    one.single = true;
    one.drafts.push_back(std::move(*draft));
    Status s = CheckEventOrganizations(c, &one);
    *draft = std::move(one.drafts.front());
    it = checked->emplace(org, std::move(s)).first;
  }
  if (it->second.ok()) return Status::Ok();
  // The same answer as for a single event, addressed to the record.
  std::vector<ErrorDetail> details;
  for (const ErrorDetail& d : it->second.details()) details.push_back({path, d.message});
  return Status(it->second.code(), it->second.error_code(), it->second.message(),
                std::move(details));
}

Result<SourceBatchContext> Api::LambdaBatchContext(const Call& c) const {
  if (shutting_down_.load()) {
    return Status::Unavailable("annals is shutting down", "shutting_down", 5);
  }
  if (!IsJsonMediaType(c.req)) {
    return Status(Code::kUnsupportedMedia, "unsupported_media_type",
                  "Content-Type must be application/json");
  }
  SourceBatchContext context;
  context.idempotency_ttl_us = deps_.push_sources->idempotency_ttl_us();
  context.now = deps_.clock->NowMicros();
  context.implied_organization_id = c.who.organization_id;
  return context;
}

void Api::PostDynamoDbBatch(Call& c) {
  const std::string& name = c.params[0];
  const DynamoDbPushSource* source =
      deps_.push_sources != nullptr ? deps_.push_sources->dynamodb(name) : nullptr;
  if (source == nullptr) {
    return c.respond(ErrorResponse(
        Status::NotFound("no DynamoDB source named '" + name + "' is configured ([[sources.dynamodb]])",
                         "unknown_source")));
  }
  Result<SourceBatchContext> context = LambdaBatchContext(c);
  if (!context.ok()) return c.respond(ErrorResponse(context.status()));
  Result<LambdaBatch> batch =
      DecodeDynamoDbEvent(c.req.body, source->config, options_.event_limits, *context);
  if (!batch.ok()) return c.respond(ErrorResponse(batch.status()));
  StoreLambdaBatch(c, "dynamodb", name, std::move(batch).value(), source->status.get());
}

void Api::PostSqsBatch(Call& c) {
  const std::string& name = c.params[0];
  const SqsPushSource* source =
      deps_.push_sources != nullptr ? deps_.push_sources->sqs(name) : nullptr;
  if (source == nullptr) {
    return c.respond(ErrorResponse(Status::NotFound(
        "no SQS source named '" + name + "' is configured ([[sources.sqs]])", "unknown_source")));
  }
  Result<SourceBatchContext> context = LambdaBatchContext(c);
  if (!context.ok()) return c.respond(ErrorResponse(context.status()));
  Result<LambdaBatch> batch = DecodeSqsEvent(c.req.body, source->config, options_.event_limits,
                                             *context);
  if (!batch.ok()) return c.respond(ErrorResponse(batch.status()));
  StoreLambdaBatch(c, "sqs", name, std::move(batch).value(), source->status.get());
}

void Api::StoreLambdaBatch(Call& c, const std::string& kind, const std::string& name,
                           LambdaBatch batch, PushSource* status) {
  const size_t n = batch.records.size();
  auto state = std::make_shared<LambdaBatchState>();
  state->item_identifiers.reserve(n);
  for (LambdaRecord& r : batch.records) state->item_identifiers.push_back(r.item_identifier);
  state->outcomes.resize(n);
  state->kind = kind;
  state->source_name = name;
  state->status = status;
  state->logger = deps_.logger;
  state->clock = deps_.clock;
  state->respond = std::move(c.respond);

  // What cannot be stored is known before anything is submitted: invalid records, records
  // of organizations the key may not write, and the later records of the same item.
  std::unordered_set<std::string> failed_keys;
  std::map<std::string, Status> checked_orgs;
  std::vector<size_t> to_submit;
  to_submit.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    LambdaRecord& r = batch.records[i];
    RecordOutcome& o = state->outcomes[i];
    if (!r.ordering_key.empty() && failed_keys.count(r.ordering_key)) {
      o.error = NotAttempted();
      continue;
    }
    if (r.draft.ok()) {
      o.error = CheckRecordOrganization(c, i, &*r.draft, &checked_orgs);
      o.occurred_at = r.draft->fields.occurred_at;
    } else {
      o.error = r.draft.status();
    }
    if (!o.error.ok()) {
      if (!r.ordering_key.empty()) failed_keys.insert(r.ordering_key);
      continue;
    }
    to_submit.push_back(i);
  }

  // Submit in record order. When the ingestor refuses one at once (queue full, shutting
  // down, store failed), the later ones are not submitted: they would overtake it.
  Status refused;
  for (size_t i : to_submit) {
    if (!refused.ok()) {
      std::lock_guard<std::mutex> lock(state->mu);
      state->outcomes[i].error = refused;
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(state->mu);
      ++state->outstanding;
    }
    std::vector<EventDraft> one;
    one.push_back(std::move(batch.records[i].draft).value());
    deps_.ingestor->Submit(std::move(one), [state, i](Result<std::vector<Ack>> result) {
      if (state->Complete(i, std::move(result))) state->Finish();
    });
    std::lock_guard<std::mutex> lock(state->mu);
    const RecordOutcome& o = state->outcomes[i];
    if (o.done && o.error.code() == Code::kUnavailable) refused = o.error;
  }
  if (state->Release()) state->Finish();
}

}  // namespace annals
