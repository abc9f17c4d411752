// GET /v1/sources: the configured change-capture sources and their state.
#include "domain/canonical_json.h"
#include "domain/time.h"
#include "server/api_internal.h"
#include "sources/source.h"

namespace annals {

std::string SourceStatusJson(const SourceStatus& s) {
  std::string out = "{\"events_stored\":" + std::to_string(s.events_stored);
  out += ",\"kind\":";
  AppendJsonString(s.kind, &out);
  out += ",\"lag_bytes\":";
  out += s.lag_bytes ? std::to_string(*s.lag_bytes) : "null";
  out += ",\"lag_seconds\":";
  if (s.lag_seconds) {
    AppendJsonNumber(*s.lag_seconds, &out);
  } else {
    out += "null";
  }
  out += ",\"last_error\":";
  if (s.last_error.empty()) {
    out += "null";
  } else {
    AppendJsonString(s.last_error, &out);
  }
  out += ",\"last_error_at\":";
  AppendJsonTimeOrNull(s.last_error_at, &out);
  out += ",\"last_event_at\":";
  AppendJsonTimeOrNull(s.last_event_at, &out);
  out += ",\"last_success_at\":";
  AppendJsonTimeOrNull(s.last_success_at, &out);
  out += ",\"name\":";
  AppendJsonString(s.name, &out);
  out += ",\"position\":";
  if (s.position.empty()) {
    out += "null";
  } else {
    AppendJsonString(s.position, &out);
  }
  out += ",\"records_failed\":" + std::to_string(s.records_failed);
  out += ",\"state\":";
  AppendJsonString(s.state, &out);
  out += '}';
  return out;
}

void Api::ListSources(Call& c) {
  if (!c.who.platform()) {
    return c.respond(ErrorResponse(Status(Code::kPermissionDenied, "insufficient_scope",
                                          "sources are platform-wide; use a platform key")));
  }
  if (!c.req.query.empty()) {
    const std::string& name = c.req.query.front().first;
    return c.respond(ErrorResponse(Status::InvalidArgument(
        "unknown query parameter '" + name + "' (sources takes none)", "invalid_request",
        {{"/query/" + name, "unknown query parameter '" + name + "'"}})));
  }
  std::string body = "{\"data\":[";
  if (deps_.sources != nullptr) {
    bool first = true;
    for (const SourceStatus& s : deps_.sources->List()) {
      if (!first) body += ',';
      first = false;
      body += SourceStatusJson(s);
    }
  }
  body += "]}";
  c.respond(JsonResponse(200, std::move(body)));
}

}  // namespace annals
