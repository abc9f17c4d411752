#include "server/api.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <utility>

#include "common/sha256.h"
#include "domain/canonical_json.h"
#include "domain/time.h"
#include "server/api_internal.h"
#include "server/metrics.h"
#include "server/openapi.h"
#include "workos/errors.h"

namespace annals {

namespace {

std::vector<std::string> SplitPattern(const std::string& pattern) {
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= pattern.size()) {
    size_t end = pattern.find('/', start);
    if (end == std::string::npos) end = pattern.size();
    out.push_back(pattern.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool Matches(const Api::Route& r, const std::vector<std::string>& segments,
             std::vector<std::string>* params) {
  if (r.segments.size() != segments.size()) return false;
  params->clear();
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& p = r.segments[i];
    if (!p.empty() && p.front() == '{') {
      if (segments[i].empty()) return false;
      params->push_back(segments[i]);
    } else if (p != segments[i]) {
      return false;
    }
  }
  return true;
}

HttpResponse MethodNotAllowed(const std::string& allow,
                              HttpResponse (*error_response)(const Status&)) {
  HttpResponse r = error_response(Status(Code::kInvalidArgument, "method_not_allowed",
                                         "this path accepts only " + allow));
  r.status = 405;
  r.headers.emplace_back("Allow", allow);
  return r;
}

Result<std::string> BearerToken(const HttpRequest& request) {
  std::optional<std::string> auth = request.Header("authorization");
  if (!auth) {
    return Status::Unauthenticated("an API key is required: send Authorization: Bearer <key>");
  }
  constexpr std::string_view kBearer = "bearer ";
  if (auth->size() <= kBearer.size() ||
      !std::equal(kBearer.begin(), kBearer.end(), auth->begin(),
                  [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
    return Status::Unauthenticated("the Authorization header must be 'Bearer <key>'");
  }
  std::string key = auth->substr(kBearer.size());
  while (!key.empty() && key.front() == ' ') key.erase(key.begin());
  while (!key.empty() && key.back() == ' ') key.pop_back();
  if (key.empty()) return Status::Unauthenticated("the Authorization header carries no key");
  return key;
}

const char* ScopeName(uint8_t scope) {
  switch (scope) {
    case kScopeEventsWrite: return "events:write";
    case kScopeEventsRead: return "events:read";
    case kScopeAdmin: return "admin";
    default: return "?";
  }
}

}  // namespace

HttpResponse JsonResponse(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse PurgedResponse(const std::string& code, const std::string& message,
                            TimestampUs purged_at, const std::string& extra_members) {
  std::string body = "{\"error\":{\"code\":";
  AppendJsonString(code, &body);
  body += ",\"message\":";
  AppendJsonString(message, &body);
  body += ",\"purged_at\":";
  AppendJsonTimeOrNull(purged_at, &body);
  if (!extra_members.empty()) body += "," + extra_members;
  body += "}}";
  return JsonResponse(410, std::move(body));
}

std::string EncodeIdCursor(const std::string& id) { return Base64UrlEncode("id:" + id); }

Result<IdPageQuery> ParseIdPageQuery(const HttpRequest& req,
                                     const std::vector<std::string>& extra) {
  IdPageQuery q;
  q.extra.resize(extra.size());
  std::vector<ErrorDetail> errors;
  for (const auto& [name, value] : req.query) {
    const std::string path = "/query/" + name;
    if (name == "limit") {
      size_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size() || n < 1 || n > 1000) {
        errors.push_back({path, "limit must be an integer from 1 to 1000"});
      }
      q.limit = n;
    } else if (name == "after" || name == "before") {
      std::optional<std::string> raw = Base64UrlDecode(value);
      if (!raw || raw->size() <= 3 || raw->compare(0, 3, "id:") != 0) {
        return Status::InvalidArgument("the " + name + " cursor is malformed", "invalid_cursor",
                                       {{path, "malformed cursor"}});
      }
      (name == "after" ? q.after_id : q.before_id) = raw->substr(3);
    } else {
      auto it = std::find(extra.begin(), extra.end(), name);
      if (it == extra.end()) {
        errors.push_back({path, "unknown query parameter '" + name + "'"});
      } else if (q.extra[it - extra.begin()]) {
        errors.push_back({path, name + " may be given only once"});
      } else {
        q.extra[it - extra.begin()] = value;
      }
    }
  }
  if (!q.after_id.empty() && !q.before_id.empty()) {
    errors.push_back({"/query/before", "give either after or before, not both"});
  }
  if (!errors.empty()) {
    std::string msg = errors.size() == 1 ? errors[0].message
                                         : std::to_string(errors.size()) +
                                               " query parameters are invalid";
    return Status::InvalidArgument(msg, "invalid_request", std::move(errors));
  }
  return q;
}

std::string IdPageJson(const std::vector<std::string>& items_json,
                       const std::vector<std::string>& ids, bool more_before, bool more_after) {
  std::string body = "{\"data\":[";
  for (size_t i = 0; i < items_json.size(); ++i) {
    if (i) body += ',';
    body += items_json[i];
  }
  body += ']';
  std::optional<std::string> before, after;
  if (more_before && !ids.empty()) before = EncodeIdCursor(ids.front());
  if (more_after && !ids.empty()) after = EncodeIdCursor(ids.back());
  AppendListMetadata(before, after, &body);
  return body;
}

void AppendListMetadata(const std::optional<std::string>& before,
                        const std::optional<std::string>& after, std::string* body) {
  *body += ",\"list_metadata\":{\"before\":";
  if (before) {
    AppendJsonString(*before, body);
  } else {
    *body += "null";
  }
  *body += ",\"after\":";
  if (after) {
    AppendJsonString(*after, body);
  } else {
    *body += "null";
  }
  *body += "}}";
}

Api::Api(ApiOptions options, ApiDeps deps) : options_(std::move(options)), deps_(std::move(deps)) {
  auto add = [](std::vector<Route>* to, std::string method, std::string pattern, uint8_t scope,
                bool authenticated, void (Api::*handler)(Call&)) {
    Route r;
    r.method = std::move(method);
    r.segments = SplitPattern(pattern);
    r.pattern = std::move(pattern);
    r.scope = scope;
    r.authenticated = authenticated;
    r.handler = handler;
    to->push_back(std::move(r));
  };
  for (std::vector<Route>* to : {&routes_, &ops_routes_}) {
    add(to, "GET", "/healthz", 0, false, &Api::Health);
    add(to, "GET", "/readyz", 0, false, &Api::Ready);
    add(to, "GET", "/metrics", 0, false, &Api::MetricsText);
  }
  add(&routes_, "GET", "/v1/openapi.json", 0, true, &Api::OpenApi);
  add(&routes_, "POST", "/v1/events", kScopeEventsWrite, true, &Api::PostEvents);
  add(&routes_, "GET", "/v1/events", kScopeEventsRead, true, &Api::ListEvents);
  add(&routes_, "GET", "/v1/events/stream", kScopeEventsRead, true, &Api::StreamEvents);
  add(&routes_, "GET", "/v1/events/{id}", kScopeEventsRead, true, &Api::GetEvent);
  add(&routes_, "GET", "/v1/items/{type}/{id}", kScopeEventsRead, true, &Api::GetItem);
  add(&routes_, "GET", "/v1/items/{type}/{id}/history", kScopeEventsRead, true, &Api::ItemHistory);
  add(&routes_, "GET", "/v1/items/{type}/{id}/state", kScopeEventsRead, true, &Api::ItemState);
  add(&routes_, "GET", "/v1/items/{type}/{id}/diff", kScopeEventsRead, true, &Api::ItemDiff);
  add(&routes_, "POST", "/v1/orgs", kScopeAdmin, true, &Api::CreateOrg);
  add(&routes_, "GET", "/v1/orgs", kScopeAdmin, true, &Api::ListOrgs);
  add(&routes_, "GET", "/v1/orgs/{id}", kScopeAdmin, true, &Api::GetOrg);
  add(&routes_, "PATCH", "/v1/orgs/{id}", kScopeAdmin, true, &Api::PatchOrg);
  add(&routes_, "POST", "/v1/api-keys", kScopeAdmin, true, &Api::CreateKey);
  add(&routes_, "GET", "/v1/api-keys", kScopeAdmin, true, &Api::ListKeys);
  add(&routes_, "GET", "/v1/api-keys/{id}", kScopeAdmin, true, &Api::GetKey);
  add(&routes_, "DELETE", "/v1/api-keys/{id}", kScopeAdmin, true, &Api::RevokeKey);
  add(&routes_, "POST", "/v1/backup", kScopeAdmin, true, &Api::Backup);
  add(&routes_, "GET", "/v1/sources", kScopeAdmin, true, &Api::ListSources);
  add(&routes_, "GET", "/v1/retention", kScopeEventsRead, true, &Api::GetRetention);
  add(&routes_, "PUT", "/v1/retention", kScopeAdmin, true, &Api::PutRetention);
  add(&routes_, "POST", "/v1/retention/purge", kScopeAdmin, true, &Api::PurgeNow);
  add(&routes_, "PUT", "/v1/items/{type}/{id}/hold", kScopeAdmin, true, &Api::SetItemHold);
  add(&routes_, "POST", "/v1/exports", kScopeEventsRead, true, &Api::CreateExport);
  add(&routes_, "GET", "/v1/exports", kScopeEventsRead, true, &Api::ListExports);
  add(&routes_, "GET", "/v1/exports/{id}", kScopeEventsRead, true, &Api::GetExport);
  // Authorized by the URL's signature, so a browser or curl can fetch it without a key.
  add(&routes_, "GET", "/v1/exports/{id}/download", 0, false, &Api::DownloadExport);
  add(&routes_, "GET", "/v1/tree/key", 0, true, &Api::GetTreeKey);
  add(&routes_, "GET", "/v1/tree/keys", 0, true, &Api::ListTreeKeys);
  add(&routes_, "POST", "/v1/tree/keys/rotate", kScopeAdmin, true, &Api::RotateTreeKey);
  add(&routes_, "GET", "/v1/tree/head", kScopeEventsRead, true, &Api::GetTreeHead);
  add(&routes_, "GET", "/v1/tree/heads", kScopeEventsRead, true, &Api::ListTreeHeads);
  add(&routes_, "GET", "/v1/tree/proof/inclusion", kScopeEventsRead, true,
      &Api::GetInclusionProof);
  add(&routes_, "GET", "/v1/tree/proof/consistency", kScopeEventsRead, true,
      &Api::GetConsistencyProof);
  add(&routes_, "POST", "/v1/streams", kScopeAdmin, true, &Api::CreateStream);
  add(&routes_, "GET", "/v1/streams", kScopeAdmin, true, &Api::ListStreams);
  add(&routes_, "GET", "/v1/streams/{id}", kScopeAdmin, true, &Api::GetStream);
  add(&routes_, "PATCH", "/v1/streams/{id}", kScopeAdmin, true, &Api::PatchStream);
  add(&routes_, "DELETE", "/v1/streams/{id}", kScopeAdmin, true, &Api::DeleteStream);
  add(&routes_, "POST", "/v1/streams/{id}/pause", kScopeAdmin, true, &Api::PauseStream);
  add(&routes_, "POST", "/v1/streams/{id}/resume", kScopeAdmin, true, &Api::ResumeStream);
  add(&routes_, "POST", "/v1/streams/{id}/replay", kScopeAdmin, true, &Api::ReplayStream);
  add(&routes_, "POST", "/v1/streams/{id}/test", kScopeAdmin, true, &Api::TestStream);
  add(&routes_, "GET", "/v1/streams/{id}/dead-letters", kScopeAdmin, true, &Api::ListDeadLetters);
  add(&routes_, "POST", "/v1/streams/{id}/dead-letters/{dead_letter}/redrive", kScopeAdmin, true,
      &Api::RedriveDeadLetter);
  add(&routes_, "DELETE", "/v1/streams/{id}/dead-letters/{dead_letter}", kScopeAdmin, true,
      &Api::DeleteDeadLetter);
  add(&routes_, "POST", "/v1/sources/dynamodb/{name}", kScopeEventsWrite, true,
      &Api::PostDynamoDbBatch);
  add(&routes_, "POST", "/v1/sources/sqs/{name}", kScopeEventsWrite, true, &Api::PostSqsBatch);

  // --- WorkOS-compatible API (api_workos.cc), at WorkOS' own paths ---
  add(&routes_, "POST", "/audit_logs/events", kScopeEventsWrite, true, &Api::WorkosCreateEvent);
  add(&routes_, "GET", "/audit_logs/actions", kScopeEventsRead, true, &Api::WorkosListActions);
  add(&routes_, "POST", "/audit_logs/actions/{action}/schemas", kScopeAdmin, true,
      &Api::WorkosCreateSchema);
  add(&routes_, "GET", "/audit_logs/actions/{action}/schemas", kScopeEventsRead, true,
      &Api::WorkosListSchemas);
  add(&routes_, "GET", "/organizations/{id}/audit_logs_retention", kScopeAdmin, true,
      &Api::WorkosGetRetention);
  add(&routes_, "PUT", "/organizations/{id}/audit_logs_retention", kScopeAdmin, true,
      &Api::WorkosPutRetention);
  add(&routes_, "POST", "/portal/generate_link", kScopeAdmin, true, &Api::WorkosGenerateLink);
  add(&routes_, "POST", "/audit_logs/exports", kScopeEventsRead, true, &Api::WorkosCreateExport);
  add(&routes_, "GET", "/audit_logs/exports/{id}", kScopeEventsRead, true, &Api::WorkosGetExport);
  add(&routes_, "GET", "/portal/{intent}", 0, false, &Api::WorkosOpenPortal);
}

Api::~Api() = default;

std::vector<RouteInfo> Api::Routes() const {
  std::vector<RouteInfo> out;
  for (const Route& r : routes_) out.push_back({r.method, r.pattern, r.authenticated});
  return out;
}

void Api::Handle(HttpRequest&& request, Responder respond) {
  Dispatch(routes_, std::move(request), std::move(respond));
}

void Api::HandleOps(HttpRequest&& request, Responder respond) {
  Dispatch(ops_routes_, std::move(request), std::move(respond));
}

void Api::Dispatch(const std::vector<Route>& routes, HttpRequest&& request, Responder respond) {
  // Literal segments win over placeholders ("/v1/events/stream" over "/v1/events/{id}"):
  // routes are listed with literals first.
  std::vector<std::string> params;
  const Route* path_match = nullptr;
  const Route* match = nullptr;
  std::string allow;
  const bool head = request.method == "HEAD";
  for (const Route& r : routes) {
    if (!Matches(r, request.segments, &params)) continue;
    if (path_match != nullptr && path_match->segments != r.segments) continue;
    path_match = &r;
    if (!allow.empty()) allow += ", ";
    allow += r.method;
    if (r.method == request.method || (head && r.method == "GET" && !r.authenticated)) {
      match = &r;
      break;
    }
  }
  if (match != nullptr) Matches(*match, request.segments, &params);

  // The WorkOS-compatible paths answer every error in WorkOS' shape (workos/errors.h).
  HttpResponse (*const error_response)(const Status&) =
      workos::IsWorkosApiPath(request.target) ? &workos::WorkosErrorResponse : &ErrorResponse;
  std::string route_label = match != nullptr ? match->pattern : "unmatched";
  auto call = std::make_shared<Call>();
  auto key_id = std::make_shared<std::string>();  // set once authenticated
  const bool access_log = deps_.logger != nullptr && deps_.logger->DebugEnabled();
  if (deps_.metrics != nullptr || access_log) {
    // Access log (debug level): every field is client-controlled and escaped by the logger.
    LogFields fields;
    if (access_log) {
      fields = {{"method", request.method},
                {"path", request.target.substr(0, request.target.find('?'))},
                {"route", route_label},
                {"remote", request.remote_address},
                {"user_agent", request.Header("user-agent").value_or("")}};
    }
    respond = [respond = std::move(respond), metrics = deps_.metrics, route_label,
               method = request.method, logger = access_log ? deps_.logger : nullptr,
               fields = std::move(fields), started = std::chrono::steady_clock::now(),
               key_id = key_id](HttpResponse r) mutable {
      if (metrics != nullptr) metrics->ObserveHttpRequest(method, route_label, r.status);
      if (logger != nullptr) {
        fields.emplace_back("status", std::to_string(r.status));
        fields.emplace_back("key_id", *key_id);
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - started)
                            .count();
        fields.emplace_back("duration_us", std::to_string(us));
        logger->Debug("request", fields);
      }
      respond(std::move(r));
    };
  }

  // On the main listener an unknown path needs a key too (401 before 404, so that routes
  // are not probed anonymously); the operations listener has public routes only.
  const bool main_listener = &routes == &routes_;
  if ((path_match == nullptr && main_listener) ||
      (path_match != nullptr && path_match->authenticated)) {
    Result<std::string> token = BearerToken(request);
    if (!token.ok()) return respond(error_response(token.status()));
    Result<Principal> who = deps_.keys->Authenticate(*token);
    if (!who.ok()) return respond(error_response(who.status()));
    call->who = std::move(who).value();
    *key_id = call->who.key_id;
  }
  if (path_match == nullptr) {
    const std::string path = request.target.substr(0, request.target.find('?'));
    return respond(error_response(
        Status::NotFound("no such endpoint: " + request.method + " " + path)));
  }
  if (match == nullptr) return respond(MethodNotAllowed(allow, error_response));
  if (match->authenticated) {
    if (match->scope != 0 && !call->who.Has(static_cast<Scope>(match->scope))) {
      return respond(error_response(Status(
          Code::kPermissionDenied, "insufficient_scope",
          std::string("this API key lacks the '") + ScopeName(match->scope) +
              "' scope needed for " + match->method + " " + match->pattern)));
    }
    if (deps_.rate_limiter != nullptr) {
      Status limited = deps_.rate_limiter->Acquire(call->who.key_id);
      if (!limited.ok()) return respond(error_response(limited));
    }
  }
  call->req = std::move(request);
  call->respond = std::move(respond);
  call->params = std::move(params);
  (this->*(match->handler))(*call);
}

void Api::Health(Call& c) { c.respond(JsonResponse(200, "{\"status\":\"ok\"}")); }

void Api::Ready(Call& c) {
  if (shutting_down_.load()) {
    return c.respond(
        ErrorResponse(Status::Unavailable("annals is shutting down", "shutting_down", 5)));
  }
  Status health = deps_.ingestor->Health();
  if (!health.ok()) return c.respond(ErrorResponse(health));
  c.respond(JsonResponse(200, "{\"status\":\"ready\"}"));
}

void Api::OpenApi(Call& c) { c.respond(JsonResponse(200, std::string(OpenApiDocument()))); }


void Api::MetricsText(Call& c) {
  if (deps_.metrics == nullptr) {
    return c.respond(ErrorResponse(Status::NotFound("metrics are not enabled")));
  }
  HttpResponse r;
  r.status = 200;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = deps_.metrics->Render();
  c.respond(std::move(r));
}

MetaAuditEntry Api::AuditEntry(const Call& c, std::string organization_id,
                               std::string action) const {
  MetaAuditEntry e;
  e.organization_id = std::move(organization_id);
  e.action = std::move(action);
  e.actor = c.who;
  e.remote_address = c.req.remote_address;
  e.user_agent = c.req.Header("user-agent").value_or("");
  return e;
}

void Api::AuditThenRespond(Call& c, MetaAuditEntry entry, HttpResponse response,
                           HttpResponse (*error_response)(const Status&)) {
  const std::string action = entry.action;
  if (error_response == nullptr) error_response = &ErrorResponse;
  deps_.audit->Record(entry, [respond = c.respond, response = std::move(response),
                              logger = deps_.logger, action, error_response](Status s) mutable {
    if (!s.ok()) {
      logger->Error("a change was applied but its meta-audit event could not be stored",
                    {{"action", action}, {"error", s.message()}});
      Status err(s.code() == Code::kInternal ? Code::kInternal : Code::kUnavailable,
                 "audit_failed",
                 "the change was applied, but its meta-audit event could not be stored: " +
                     s.message());
      if (s.retry_after_seconds()) err.set_retry_after_seconds(*s.retry_after_seconds());
      return respond(error_response(err));
    }
    respond(std::move(response));
  });
}

Result<std::string> Api::ResolveOrganization(const Principal& who, const std::string& requested,
                                             bool required) const {
  if (!who.platform()) {
    if (!requested.empty() && requested != who.organization_id) {
      return Status::NotFound("no organization with id '" + requested + "'",
                              "organization_not_found");
    }
    return who.organization_id;
  }
  if (requested.empty()) {
    if (required) {
      return Status::InvalidArgument("organization_id is required with a platform key",
                                     "invalid_request",
                                     {{"/query/organization_id", "organization_id is required"}});
    }
    return std::string();
  }
  if (!deps_.orgs->Exists(requested)) {
    return Status::NotFound("no organization with id '" + requested + "'",
                            "organization_not_found");
  }
  return requested;
}

}  // namespace annals
