// Log streams: /v1/streams and its sub-resources (docs/api.md "Log streams",
// docs/streams.md). Every route needs the admin scope; an organization's admin key manages
// its own organization's streams, a platform admin key any organization's.
#include <boost/json.hpp>
#include <string>
#include <vector>

#include "domain/canonical_json.h"
#include "domain/json_fields.h"
#include "domain/time.h"
#include "query/event_query.h"
#include "server/api_internal.h"
#include "streams/stream_manager.h"

namespace annals {

namespace {

namespace json = boost::json;
using streams::BatchPolicy;
using streams::DeadLetter;
using streams::StreamInfo;

Status NoStreams() {
  return Status::Unavailable("log streams are not available on this server", "not_ready");
}

Status RefuseQuery(const HttpRequest& req, std::initializer_list<std::string_view> allowed) {
  for (const auto& [name, value] : req.query) {
    bool ok = false;
    for (std::string_view a : allowed) ok = ok || name == a;
    if (!ok) {
      return Status::InvalidArgument("unknown query parameter '" + name + "'", "invalid_request",
                                     {{"/query/" + name, "unknown query parameter '" + name + "'"}});
    }
  }
  return Status::Ok();
}

std::string QueryValue(const HttpRequest& req, std::string_view name) {
  for (const auto& [n, v] : req.query) {
    if (n == name) return v;
  }
  return "";
}

// Reads {"max_events", "max_bytes", "max_delay_ms"} over `base`.
void ReadBatch(const json::value& v, BatchPolicy* b, std::vector<ErrorDetail>* errors) {
  if (!v.is_object()) {
    errors->push_back({"/batch", "batch must be an object"});
    return;
  }
  for (const auto& [key, value] : v.as_object()) {
    const std::string path = "/batch/" + std::string(key);
    if (!value.is_int64() && !value.is_uint64()) {
      errors->push_back({path, std::string(key) + " must be an integer"});
      continue;
    }
    const int64_t n = value.is_int64() ? value.as_int64() : static_cast<int64_t>(value.as_uint64());
    if (n < 0) {
      errors->push_back({path, std::string(key) + " must not be negative"});
    } else if (key == "max_events") {
      b->max_events = static_cast<size_t>(n);
    } else if (key == "max_bytes") {
      b->max_bytes = static_cast<size_t>(n);
    } else if (key == "max_delay_ms") {
      b->max_delay = std::chrono::milliseconds(n);
    } else {
      errors->push_back({path, "unknown member '" + std::string(key) +
                                   "' (max_events, max_bytes, max_delay_ms)"});
    }
  }
}

void ReadFilter(const json::value& v, EventFilter* f, std::vector<ErrorDetail>* errors) {
  if (!v.is_object()) {
    errors->push_back({"/filter", "filter must be an object"});
    return;
  }
  for (const auto& [key, value] : v.as_object()) {
    bool known = false;
    for (std::string_view name : kFilterMemberNames) known = known || key == name;
    if (!known) {
      errors->push_back({"/filter/" + std::string(key),
                         "unknown filter '" + std::string(key) +
                             "' (action, actor_id, target_type, target_id)"});
    }
  }
  ReadFilterMembers(v.as_object(), "/filter", f, errors);
}

// `ca_file` names a file on the annals server: an operator's setting. An organization's key
// gives the CA inline (`ca_pem`) instead, and cannot probe the server's files.
void CheckServerFiles(const Principal& who, const json::object* config,
                      std::vector<ErrorDetail>* errors) {
  if (who.platform() || config == nullptr || !config->contains("ca_file")) return;
  errors->push_back({"/config/ca_file",
                     "ca_file names a file on the annals server and needs a platform key; give "
                     "the certificates inline as ca_pem"});
}

Status Invalid(std::vector<ErrorDetail> details) {
  std::string message = details.front().message;
  return Status::InvalidArgument(std::move(message), "invalid_request", std::move(details));
}

}  // namespace

std::string Api::StreamJson(const StreamInfo& s) const {
  std::string body = "{\"batch\":{\"max_bytes\":" + std::to_string(s.spec.batch.max_bytes) +
                     ",\"max_delay_ms\":" + std::to_string(s.spec.batch.max_delay.count()) +
                     ",\"max_events\":" + std::to_string(s.spec.batch.max_events) + "}";
  body += ",\"config\":";
  AppendCanonical(json::value(deps_.streams->RedactedConfig(s.spec)), &body);
  body += ",\"consecutive_failures\":" + std::to_string(s.consecutive_failures);
  body += ",\"created_at\":";
  AppendJsonTimeOrNull(s.created_at, &body);
  body += ",\"dead_letters\":" + std::to_string(s.dead_letters);
  body += ",\"delivered_events\":" + std::to_string(s.delivered_events);
  body += ",\"delivered_seq\":" + std::to_string(s.delivered_seq);
  body += ",\"filter\":";
  AppendFilterMembersJson(s.spec.filter, &body);
  body += ",\"id\":";
  AppendJsonString(s.id, &body);
  body += ",\"lag\":{\"events\":" + std::to_string(s.lag_events) + ",\"seconds\":";
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.3f", s.lag_seconds);
  body += seconds;
  body += "},\"last_error\":";
  if (s.last_error.empty()) {
    body += "null";
  } else {
    AppendJsonString(s.last_error, &body);
  }
  body += ",\"last_error_at\":";
  AppendJsonTimeOrNull(s.last_error.empty() ? 0 : s.last_error_at, &body);
  body += ",\"last_http_status\":";
  body += s.last_http_status != 0 ? std::to_string(s.last_http_status) : "null";
  body += ",\"last_success_at\":";
  AppendJsonTimeOrNull(s.last_success_at, &body);
  body += ",\"name\":";
  AppendJsonString(s.spec.name, &body);
  body += ",\"next_attempt_at\":";
  AppendJsonTimeOrNull(s.next_attempt_at, &body);
  body += ",\"object\":\"stream\",\"organization_id\":";
  AppendJsonString(s.spec.organization_id, &body);
  body += ",\"state\":";
  AppendJsonString(streams::StreamStateName(s.state), &body);
  body += ",\"type\":";
  AppendJsonString(s.spec.type, &body);
  body += ",\"updated_at\":";
  AppendJsonTimeOrNull(s.updated_at, &body);
  body += '}';
  return body;
}

namespace {

std::string DeadLetterJson(const DeadLetter& d) {
  std::string body = "{\"at\":";
  AppendJsonTimeOrNull(d.at, &body);
  body += ",\"attempts\":" + std::to_string(d.attempts);
  body += ",\"detail\":";
  AppendJsonString(d.detail, &body);
  body += ",\"events\":" + std::to_string(d.events);
  body += ",\"first_seq\":" + std::to_string(d.first_seq);
  body += ",\"http_status\":";
  body += d.http_status != 0 ? std::to_string(d.http_status) : "null";
  body += ",\"id\":";
  AppendJsonString(d.id, &body);
  body += ",\"last_seq\":" + std::to_string(d.last_seq);
  body += ",\"object\":\"dead_letter\",\"reason\":";
  AppendJsonString(d.reason, &body);
  body += ",\"redriving\":";
  body += d.redriving ? "true" : "false";
  body += '}';
  return body;
}

}  // namespace

void Api::CreateStream(Call& c) {
  if (deps_.streams == nullptr) return c.respond(ErrorResponse(NoStreams()));
  if (Status q = RefuseQuery(c.req, {}); !q.ok()) return c.respond(ErrorResponse(q));
  Result<json::object> body = ParseRequestObject(
      c.req.body, {"organization_id", "name", "type", "config", "filter", "batch"});
  if (!body.ok()) return c.respond(ErrorResponse(body.status()));
  FieldReader fields(*body);
  streams::StreamSpec spec;
  std::string requested_org;
  if (fields.Has("organization_id")) {
    requested_org = fields.String("organization_id", 256, false).value_or("");
  }
  spec.name = fields.String("name", 200, true).value_or("");
  spec.type = fields.String("type", 32, true).value_or("");
  std::vector<ErrorDetail> errors;
  if (const json::value* config = fields.Raw("config")) {
    if (config->is_object()) {
      spec.config = config->as_object();
    } else {
      errors.push_back({"/config", "config must be an object"});
    }
  } else {
    errors.push_back({"/config", "config is required"});
  }
  CheckServerFiles(c.who, &spec.config, &errors);
  if (const json::value* filter = fields.Raw("filter")) ReadFilter(*filter, &spec.filter, &errors);
  if (const json::value* batch = fields.Raw("batch")) ReadBatch(*batch, &spec.batch, &errors);
  if (Status bad = fields.Finish(); !bad.ok() || !errors.empty()) {
    std::vector<ErrorDetail> details = bad.details();
    details.insert(details.end(), errors.begin(), errors.end());
    return c.respond(ErrorResponse(Invalid(std::move(details))));
  }
  Result<std::string> org = ResolveOrganization(c.who, requested_org, true);
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  spec.organization_id = *org;
  Result<StreamInfo> created = deps_.streams->Create(std::move(spec), c.who.key_id);
  if (!created.ok()) return c.respond(ErrorResponse(created.status()));
  MetaAuditEntry e = AuditEntry(c, *org, "annals.stream.created");
  e.targets.push_back({"stream", created->id, created->spec.name});
  e.metadata["type"] = created->spec.type;
  AuditThenRespond(c, std::move(e), JsonResponse(201, StreamJson(*created)));
}

void Api::ListStreams(Call& c) {
  if (deps_.streams == nullptr) return c.respond(ErrorResponse(NoStreams()));
  Result<IdPageQuery> q = ParseIdPageQuery(c.req, {"organization_id"});
  if (!q.ok()) return c.respond(ErrorResponse(q.status()));
  Result<std::string> org = ResolveOrganization(c.who, q->extra[0].value_or(""), false);
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  Result<std::vector<StreamInfo>> all = deps_.streams->List(*org);
  if (!all.ok()) return c.respond(ErrorResponse(all.status()));
  // Oldest first: `after` pages to newer streams, `before` to older ones.
  size_t begin = 0, end = all->size();
  if (!q->after_id.empty()) {
    while (begin < end && (*all)[begin].id <= q->after_id) ++begin;
  }
  if (!q->before_id.empty()) {
    while (end > begin && (*all)[end - 1].id >= q->before_id) --end;
    begin = std::max(begin, end > q->limit ? end - q->limit : size_t{0});
  }
  end = std::min(end, begin + q->limit);
  std::vector<std::string> items, ids;
  for (size_t i = begin; i < end; ++i) {
    items.push_back(StreamJson((*all)[i]));
    ids.push_back((*all)[i].id);
  }
  c.respond(JsonResponse(200, IdPageJson(items, ids, begin > 0, end < all->size())));
}

// The organization a call on /v1/streams/{id}… is scoped to: the key's own, or for a
// platform key the optional ?organization_id= ("" = any).
Result<std::string> Api::StreamScope(const Call& c) const {
  ANNALS_RETURN_IF_ERROR(RefuseQuery(c.req, {"organization_id"}));
  return ResolveOrganization(c.who, QueryValue(c.req, "organization_id"), false);
}

void Api::GetStream(Call& c) {
  if (deps_.streams == nullptr) return c.respond(ErrorResponse(NoStreams()));
  Result<std::string> org = StreamScope(c);
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  Result<StreamInfo> s = deps_.streams->Get(*org, c.params[0]);
  if (!s.ok()) return c.respond(ErrorResponse(s.status()));
  c.respond(JsonResponse(200, StreamJson(*s)));
}

void Api::PatchStream(Call& c) {
  if (deps_.streams == nullptr) return c.respond(ErrorResponse(NoStreams()));
  Result<std::string> org = StreamScope(c);
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  Result<json::object> body =
      ParseRequestObject(c.req.body, {"name", "type", "config", "filter", "batch"});
  if (!body.ok()) return c.respond(ErrorResponse(body.status()));
  Result<StreamInfo> current = deps_.streams->Get(*org, c.params[0]);
  if (!current.ok()) return c.respond(ErrorResponse(current.status()));
  FieldReader fields(*body);
  streams::StreamUpdate update;
  std::vector<ErrorDetail> errors;
  if (fields.Has("name")) update.name = fields.String("name", 200, true);
  if (fields.Has("type")) {
    std::optional<std::string> type = fields.String("type", 32, true);
    if (type && *type != current->spec.type) {
      errors.push_back({"/type", "a stream's type cannot change; create a new stream"});
    }
  }
  if (const json::value* config = fields.Raw("config")) {
    if (config->is_object()) {
      update.config = config->as_object();
      CheckServerFiles(c.who, &*update.config, &errors);
    } else {
      errors.push_back({"/config", "config must be an object"});
    }
  }
  if (const json::value* filter = fields.Raw("filter")) {
    EventFilter f;
    ReadFilter(*filter, &f, &errors);
    update.filter = std::move(f);
  }
  if (const json::value* batch = fields.Raw("batch")) {
    BatchPolicy b = current->spec.batch;
    ReadBatch(*batch, &b, &errors);
    update.batch = b;
  }
  if (Status bad = fields.Finish(); !bad.ok() || !errors.empty()) {
    std::vector<ErrorDetail> details = bad.details();
    details.insert(details.end(), errors.begin(), errors.end());
    return c.respond(ErrorResponse(Invalid(std::move(details))));
  }
  json::array changed;
  for (const auto& [key, value] : *body) changed.emplace_back(key);
  Result<StreamInfo> s =
      deps_.streams->Update(current->spec.organization_id, c.params[0], std::move(update));
  if (!s.ok()) return c.respond(ErrorResponse(s.status()));
  MetaAuditEntry e = AuditEntry(c, s->spec.organization_id, "annals.stream.updated");
  e.targets.push_back({"stream", s->id, s->spec.name});
  std::string members;
  for (const auto& m : changed) {
    if (!members.empty()) members += ",";
    members += std::string(m.as_string());
  }
  e.metadata["changed"] = members;  // member names only: never config values
  AuditThenRespond(c, std::move(e), JsonResponse(200, StreamJson(*s)));
}

void Api::DeleteStream(Call& c) {
  if (deps_.streams == nullptr) return c.respond(ErrorResponse(NoStreams()));
  Result<std::string> org = StreamScope(c);
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  Result<StreamInfo> s = deps_.streams->Get(*org, c.params[0]);
  if (!s.ok()) return c.respond(ErrorResponse(s.status()));
  if (Status d = deps_.streams->Delete(s->spec.organization_id, s->id); !d.ok()) {
    return c.respond(ErrorResponse(d));
  }
  MetaAuditEntry e = AuditEntry(c, s->spec.organization_id, "annals.stream.deleted");
  e.targets.push_back({"stream", s->id, s->spec.name});
  e.metadata["type"] = s->spec.type;
  HttpResponse r;
  r.status = 204;
  AuditThenRespond(c, std::move(e), std::move(r));
}

void Api::PauseStream(Call& c) { SetStreamPaused(c, true); }
void Api::ResumeStream(Call& c) { SetStreamPaused(c, false); }

void Api::SetStreamPaused(Call& c, bool paused) {
  if (deps_.streams == nullptr) return c.respond(ErrorResponse(NoStreams()));
  Result<std::string> org = StreamScope(c);
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  if (Result<json::object> body = ParseRequestObject(c.req.body, {}, true); !body.ok()) {
    return c.respond(ErrorResponse(body.status()));
  }
  Result<StreamInfo> s = deps_.streams->SetPaused(*org, c.params[0], paused);
  if (!s.ok()) return c.respond(ErrorResponse(s.status()));
  MetaAuditEntry e = AuditEntry(c, s->spec.organization_id,
                                paused ? "annals.stream.paused" : "annals.stream.resumed");
  e.targets.push_back({"stream", s->id, s->spec.name});
  Result<StreamInfo> fresh = deps_.streams->Get(*org, c.params[0]);
  AuditThenRespond(c, std::move(e), JsonResponse(200, StreamJson(fresh.ok() ? *fresh : *s)));
}

void Api::ReplayStream(Call& c) {
  if (deps_.streams == nullptr) return c.respond(ErrorResponse(NoStreams()));
  Result<std::string> org = StreamScope(c);
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  Result<json::object> body = ParseRequestObject(c.req.body, {"from_seq", "from_time"});
  if (!body.ok()) return c.respond(ErrorResponse(body.status()));
  FieldReader fields(*body);
  std::optional<uint64_t> from_seq;
  std::optional<TimestampUs> from_time;
  std::vector<ErrorDetail> errors;
  if (const json::value* v = fields.Raw("from_seq")) {
    if (v->is_uint64() || (v->is_int64() && v->as_int64() >= 1)) {
      from_seq = v->to_number<uint64_t>();
    } else {
      errors.push_back({"/from_seq", "from_seq must be an integer of at least 1"});
    }
  }
  if (fields.Has("from_time")) {
    bool is_null = false;
    from_time = fields.TimeOrNull("from_time", &is_null);
  }
  if (fields.Has("from_seq") == fields.Has("from_time")) {
    errors.push_back({"", "give exactly one of from_seq and from_time"});
  }
  if (Status bad = fields.Finish(); !bad.ok() || !errors.empty()) {
    std::vector<ErrorDetail> details = bad.details();
    details.insert(details.end(), errors.begin(), errors.end());
    return c.respond(ErrorResponse(Invalid(std::move(details))));
  }
  Result<StreamInfo> s = deps_.streams->Replay(*org, c.params[0], from_seq, from_time);
  if (!s.ok()) return c.respond(ErrorResponse(s.status()));
  MetaAuditEntry e = AuditEntry(c, s->spec.organization_id, "annals.stream.replayed");
  e.targets.push_back({"stream", s->id, s->spec.name});
  e.metadata["from_seq"] = s->delivered_seq + 1;
  AuditThenRespond(c, std::move(e), JsonResponse(200, StreamJson(*s)));
}

void Api::TestStream(Call& c) {
  if (deps_.streams == nullptr) return c.respond(ErrorResponse(NoStreams()));
  Result<std::string> org = StreamScope(c);
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  if (Result<json::object> body = ParseRequestObject(c.req.body, {}, true); !body.ok()) {
    return c.respond(ErrorResponse(body.status()));
  }
  deps_.streams->Test(*org, c.params[0],
                      [respond = c.respond](Result<streams::TestDelivery> t) {
                        if (!t.ok()) return respond(ErrorResponse(t.status()));
                        const sinks::DeliveryResult& r = t->result;
                        std::string body = "{\"delivered\":";
                        body += r.outcome == sinks::DeliveryOutcome::kDelivered ? "true" : "false";
                        body += ",\"detail\":";
                        AppendJsonString(r.detail, &body);
                        char ms[32];
                        std::snprintf(ms, sizeof ms, "%.1f", t->seconds * 1000);
                        body += ",\"duration_ms\":";
                        body += ms;
                        body += ",\"http_status\":";
                        body += r.http_status ? std::to_string(r.http_status) : "null";
                        body += ",\"outcome\":";
                        AppendJsonString(sinks::DeliveryOutcomeName(r.outcome), &body);
                        body += '}';
                        respond(JsonResponse(200, std::move(body)));
                      });
}

void Api::ListDeadLetters(Call& c) {
  if (deps_.streams == nullptr) return c.respond(ErrorResponse(NoStreams()));
  Result<std::string> org = StreamScope(c);
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  Result<std::vector<DeadLetter>> all = deps_.streams->DeadLetters(*org, c.params[0]);
  if (!all.ok()) return c.respond(ErrorResponse(all.status()));
  std::string body = "{\"data\":[";
  for (size_t i = 0; i < all->size(); ++i) {
    if (i) body += ',';
    body += DeadLetterJson((*all)[i]);
  }
  body += "]}";
  c.respond(JsonResponse(200, std::move(body)));
}

void Api::RedriveDeadLetter(Call& c) {
  if (deps_.streams == nullptr) return c.respond(ErrorResponse(NoStreams()));
  Result<std::string> org = StreamScope(c);
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  Result<StreamInfo> s = deps_.streams->Get(*org, c.params[0]);
  if (!s.ok()) return c.respond(ErrorResponse(s.status()));
  Result<DeadLetter> d = deps_.streams->Redrive(*org, c.params[0], c.params[1]);
  if (!d.ok()) return c.respond(ErrorResponse(d.status()));
  MetaAuditEntry e = AuditEntry(c, s->spec.organization_id, "annals.stream.dead_letter_redriven");
  e.targets.push_back({"stream", s->id, s->spec.name});
  e.metadata["dead_letter"] = d->id;
  AuditThenRespond(c, std::move(e), JsonResponse(202, DeadLetterJson(*d)));
}

void Api::DeleteDeadLetter(Call& c) {
  if (deps_.streams == nullptr) return c.respond(ErrorResponse(NoStreams()));
  Result<std::string> org = StreamScope(c);
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  Result<StreamInfo> s = deps_.streams->Get(*org, c.params[0]);
  if (!s.ok()) return c.respond(ErrorResponse(s.status()));
  if (Status d = deps_.streams->DeleteDeadLetter(*org, c.params[0], c.params[1]); !d.ok()) {
    return c.respond(ErrorResponse(d));
  }
  MetaAuditEntry e = AuditEntry(c, s->spec.organization_id, "annals.stream.dead_letter_deleted");
  e.targets.push_back({"stream", s->id, s->spec.name});
  e.metadata["dead_letter"] = c.params[1];
  HttpResponse r;
  r.status = 204;
  AuditThenRespond(c, std::move(e), std::move(r));
}

}  // namespace annals
