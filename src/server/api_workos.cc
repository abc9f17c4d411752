// The WorkOS-compatible API (PRODUCT.md capability 10; docs/api.md "WorkOS compatibility"):
// POST /audit_logs/events, action schemas, organization retention and portal links, served
// at WorkOS' own paths so that the official SDKs work by changing only their base URL. Every
// answer on these paths takes WorkOS' shapes: errors go through workos/errors.h, never
// through the native ErrorResponse, and every 2xx is a JSON body.
//
// Events take the native path: the same decoder and limits, organizations, idempotency
// machinery and ingestor as POST /v1/events, plus WorkOS' rule that context.location is
// required. Action schemas (workos/schema_registry.h) are enforced on both paths.
#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cstring>

#include "common/sha256.h"
#include "domain/canonical_json.h"
#include "domain/json.h"
#include "domain/json_fields.h"
#include "domain/time.h"
#include "retention/retention.h"
#include "server/api_internal.h"
#include "workos/action_schema.h"
#include "workos/errors.h"
#include "workos/portal.h"
#include "workos/retention_period.h"
#include "workos/schema_registry.h"

namespace annals {

namespace {

namespace json = boost::json;
using workos::WorkosErrorResponse;

// The "source" of events that arrive through POST /audit_logs/events.
constexpr char kWorkosSourceJson[] = R"({"interface":"workos","kind":"api"})";

// WorkOS lists: limit 1-100 (default 10).
constexpr size_t kWorkosMaxLimit = 100;
constexpr size_t kWorkosDefaultLimit = 10;

Status OrganizationNotFound(const std::string& id) {
  return Status::NotFound("Organization not found: '" + id + "'.", "organization_not_found");
}

Status NotAvailable(const char* what) {
  return Status::Unavailable(std::string(what) + " are not available on this server",
                             "not_ready");
}

Status RequireJsonBody(const HttpRequest& req) {
  const std::string media = MediaType(req);
  if (media == "application/json") return Status::Ok();
  return Status(Code::kUnsupportedMedia, "unsupported_media_type",
                "Content-Type must be application/json, got '" +
                    (media.empty() ? std::string("none") : media) + "'");
}

// The organization named by a WorkOS route: it must exist and be the key's own (or any, for a
// platform key). Another tenant's organization looks exactly like a missing one.
Result<std::string> WorkosOrganization(const OrgRegistry& orgs, const Principal& who,
                                       const std::string& id) {
  if (id.empty() || !who.CanSee(id) || !orgs.Exists(id)) return OrganizationNotFound(id);
  return id;
}

// A valid event action (the event decoder's rule): 1 to max_length of [a-z0-9_.-], not under
// the reserved "annals.".
std::optional<std::string> ActionProblem(const std::string& action, size_t max_length) {
  if (action.empty()) return "the action must not be empty";
  if (action.size() > max_length) {
    return "the action is " + std::to_string(action.size()) + " characters; the limit is " +
           std::to_string(max_length);
  }
  for (char ch : action) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                    ch == '.' || ch == '-';
    if (!ok) return std::string("the action may only contain a-z, 0-9, '_', '.' and '-'");
  }
  if (action.rfind("annals.", 0) == 0) {
    return std::string("actions starting with \"annals.\" are reserved for annals itself");
  }
  return std::nullopt;
}

std::string RetentionJson(const RetentionPolicy& policy) {
  std::string body = "{\"retention_period_in_days\":";
  body += policy.max_event_age_us
              ? std::to_string(workos::RetentionDaysFromMicros(*policy.max_event_age_us))
              : "null";
  body += '}';
  return body;
}

// --- WorkOS list pagination ---

// limit (1-100, default 10), order (asc, or desc and normal: newest first; default desc),
// and one of before/after, each an opaque cursor from list_metadata.
struct WorkosPageQuery {
  size_t limit = kWorkosDefaultLimit;
  bool ascending = false;
  std::optional<std::string> after;
  std::optional<std::string> before;
};

Result<WorkosPageQuery> ParseWorkosPageQuery(const HttpRequest& req) {
  WorkosPageQuery q;
  std::vector<ErrorDetail> errors;
  std::vector<std::string> seen;
  for (const auto& [name, value] : req.query) {
    const std::string path = "/query/" + name;
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      errors.push_back({path, name + " may be given only once"});
      continue;
    }
    seen.push_back(name);
    if (name == "limit") {
      size_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size() || n < 1 ||
          n > kWorkosMaxLimit) {
        errors.push_back({path, "limit must be an integer from 1 to 100"});
      } else {
        q.limit = n;
      }
    } else if (name == "order") {
      if (value == "asc") {
        q.ascending = true;
      } else if (value != "desc" && value != "normal") {
        errors.push_back({path, "order must be asc, desc or normal"});
      }
    } else if (name == "after" || name == "before") {
      if (value.empty()) {
        errors.push_back({path, name + " must be a cursor from list_metadata"});
      } else {
        (name == "after" ? q.after : q.before) = value;
      }
    } else {
      errors.push_back({path, "unknown query parameter '" + name +
                                  "' (allowed: limit, order, before, after)"});
    }
  }
  if (q.after && q.before) errors.push_back({"/query/before", "give either after or before"});
  if (!errors.empty()) {
    std::string message = errors.size() == 1 ? errors.front().message
                                             : "the query parameters are invalid";
    return Status::InvalidArgument(std::move(message), "invalid_request", std::move(errors));
  }
  return q;
}

// The page [begin, end) of a list whose items have `cursors` (in the requested order), and
// the list_metadata cursors: before = the first item's when items precede the page, after =
// the last item's when items follow it.
struct WorkosPage {
  size_t begin = 0;
  size_t end = 0;
  std::optional<std::string> before;
  std::optional<std::string> after;
};

Result<WorkosPage> SelectWorkosPage(const std::vector<std::string>& cursors,
                                    const WorkosPageQuery& q) {
  const auto position = [&](const std::string& cursor,
                            const char* name) -> Result<size_t> {
    auto it = std::find(cursors.begin(), cursors.end(), cursor);
    if (it == cursors.end()) {
      return Status::InvalidArgument(
          std::string("the ") + name + " cursor names no item of this list", "invalid_cursor",
          {{std::string("/query/") + name, "unknown cursor"}});
    }
    return static_cast<size_t>(it - cursors.begin());
  };
  WorkosPage page;
  if (q.after) {
    Result<size_t> at = position(*q.after, "after");
    if (!at.ok()) return at.status();
    page.begin = *at + 1;
    page.end = std::min(cursors.size(), page.begin + q.limit);
  } else if (q.before) {
    Result<size_t> at = position(*q.before, "before");
    if (!at.ok()) return at.status();
    page.end = *at;
    page.begin = page.end > q.limit ? page.end - q.limit : 0;
  } else {
    page.end = std::min(cursors.size(), q.limit);
  }
  if (page.begin < page.end) {
    if (page.begin > 0) page.before = cursors[page.begin];
    if (page.end < cursors.size()) page.after = cursors[page.end - 1];
  }
  return page;
}

// {"object":"list","data":[...],"list_metadata":{"before":..,"after":..}}
std::string WorkosListJson(const std::vector<std::string>& items, const WorkosPage& page) {
  std::string body = "{\"object\":\"list\",\"data\":[";
  for (size_t i = page.begin; i < page.end; ++i) {
    if (i > page.begin) body += ',';
    body += items[i];
  }
  body += ']';
  AppendListMetadata(page.before, page.after, &body);
  return body;
}

// The Idempotency-Key header of a WorkOS create: 1 to 256 printable ASCII characters.
Status CheckIdempotencyKeyHeader(const std::string& key) {
  if (ValidIdempotencyKey(key)) return Status::Ok();
  return Status::InvalidArgument(
      "the Idempotency-Key header must be 1 to 256 printable ASCII characters", "invalid_request",
      {{"/headers/idempotency-key", "Idempotency-Key must be 1 to 256 printable ASCII characters"}});
}

std::string SchemaCursor(const std::string& action, int version) {
  return "als_" + Base64UrlEncode(action + "/" + std::to_string(version));
}

std::string ActionCursor(const std::string& action) { return "ala_" + Base64UrlEncode(action); }

// Renders the client content of a draft ({members except "source"}), the event as its
// client sent it, in canonical form.
std::string ClientJson(const EventDraft& draft) {
  size_t size = 2;
  for (const auto& [name, value] : draft.members) size += name.size() + value.size() + 4;
  std::string out;
  out.reserve(size);
  out.push_back('{');
  for (const auto& [name, value] : draft.members) {
    if (name == "source") continue;
    if (out.size() > 1) out.push_back(',');
    AppendJsonString(name, &out);
    out.push_back(':');
    out.append(value);
  }
  out.push_back('}');
  return out;
}

}  // namespace

Status CheckEventSchemas(const workos::SchemaRegistry* registry, const DecodedBatch& batch) {
  if (registry == nullptr || registry->empty()) return Status::Ok();
  std::vector<ErrorDetail> problems;
  size_t invalid = 0;
  for (size_t i = 0; i < batch.drafts.size(); ++i) {
    const EventDraft& draft = batch.drafts[i];
    std::shared_ptr<const workos::ActionSchemas> schemas = registry->Find(draft.fields.action);
    if (!schemas) continue;
    std::string prefix;
    if (!batch.single) {
      prefix = batch.path_base;
      AppendJsonPointerIndex(i, &prefix);
    }
    const workos::SchemaVersion* version = &schemas->latest();
    for (const auto& [name, value] : draft.members) {
      if (name != "version") continue;
      // The decoder accepted it: an integer of at least 1, in canonical form.
      int64_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      version = ec == std::errc() && p == value.data() + value.size() ? schemas->Find(n)
                                                                      : nullptr;
      if (version == nullptr) {
        ++invalid;
        problems.push_back(
            {prefix + "/version",
             "version " + value + " of the action '" + schemas->action +
                 "' has no schema (its schema versions are 1 to " +
                 std::to_string(schemas->versions.size()) + ")"});
      }
      break;
    }
    if (version == nullptr) continue;
    Status conforms = workos::ValidateAgainstSchema(version->schema, ClientJson(draft));
    if (conforms.ok()) continue;
    if (conforms.error_code() != "invalid_event") return conforms;
    ++invalid;
    // ValidateAgainstSchema names paths under "/event" and messages "event.<field> ...";
    // rebase both onto this event.
    for (const ErrorDetail& d : conforms.details()) {
      std::string_view rest(d.path);
      if (rest.rfind("/event", 0) == 0) rest.remove_prefix(6);
      std::string_view message(d.message);
      if (message.rfind("event.", 0) == 0) message.remove_prefix(6);
      problems.push_back({prefix + std::string(rest),
                          std::string(message) + " (schema version " +
                              std::to_string(version->version) + " of '" + schemas->action +
                              "')"});
    }
  }
  if (problems.empty()) return Status::Ok();
  std::string message;
  if (batch.single) {
    message = "the event is invalid: " + problems.front().message;
    if (problems.size() > 1) {
      message += " (and " + std::to_string(problems.size() - 1) + " more problems)";
    }
  } else {
    message = std::to_string(invalid) + " of " + std::to_string(batch.drafts.size()) +
              (batch.drafts.size() == 1 ? " event is" : " events are") + " invalid";
  }
  return Status::InvalidArgument(std::move(message), "invalid_event", std::move(problems));
}

void Api::WorkosCreateEvent(Call& c) {
  const auto fail = [&c](const Status& s) { c.respond(WorkosErrorResponse(s)); };
  if (shutting_down_.load()) {
    return fail(Status::Unavailable("annals is shutting down", "shutting_down", 5));
  }
  if (Status json_body = RequireJsonBody(c.req); !json_body.ok()) return fail(json_body);
  if (c.req.body.size() > options_.request_limits.max_request_bytes) {
    return fail(Status(Code::kTooLarge, "request_too_large",
                       "the request body is " + std::to_string(c.req.body.size()) +
                           " bytes; the limit is " +
                           std::to_string(options_.request_limits.max_request_bytes)));
  }
  // The event sits one level down; its own depth is checked by the decoder.
  Result<json::value> parsed =
      ParseStrictJson(c.req.body, std::min(options_.event_limits.max_depth + 2,
                                           kMaxSupportedJsonDepth));
  if (!parsed.ok()) return fail(parsed.status());
  if (!parsed->is_object()) {
    return fail(Status::InvalidArgument(
        "the body must be a JSON object: {\"organization_id\": \"...\", \"event\": {...}}",
        "invalid_request", {{"", "must be an object"}}));
  }
  json::object& body = parsed->get_object();
  std::vector<ErrorDetail> problems;
  for (const auto& [name, value] : body) {
    if (name != "organization_id" && name != "event") {
      std::string path;
      AppendJsonPointerToken(name, &path);
      problems.push_back({std::move(path), "unknown field (allowed: organization_id, event)"});
    }
  }
  const json::value* org_value = body.if_contains("organization_id");
  if (org_value == nullptr) {
    problems.push_back({"/organization_id", "organization_id is required"});
  } else if (!org_value->is_string() || org_value->get_string().empty()) {
    problems.push_back({"/organization_id", "organization_id must be a non-empty string"});
  }
  json::value* event = body.if_contains("event");
  if (event == nullptr) {
    problems.push_back({"/event", "event is required"});
  } else if (!event->is_object()) {
    problems.push_back({"/event", "event must be an object"});
  }
  if (!problems.empty()) {
    std::string message = problems.size() == 1 ? problems.front().message
                                               : "the request is invalid";
    return fail(Status::InvalidArgument(std::move(message), "invalid_request",
                                        std::move(problems)));
  }
  const std::string org(org_value->get_string());
  if (!c.who.CanSee(org)) return fail(OrganizationNotFound(org));

  // Paths of event problems are relative to the event, as WorkOS reports them.
  json::object& fields = event->get_object();
  if (fields.contains("organization_id")) {
    problems.push_back({"/organization_id", "organization_id goes next to the event, not "
                                            "inside it"});
  }
  if (fields.contains("idempotency_key")) {
    problems.push_back({"/idempotency_key",
                        "send the idempotency key in the Idempotency-Key header"});
  }
  if (!problems.empty()) {
    return fail(Status::InvalidArgument("the event is invalid", "invalid_event",
                                        std::move(problems)));
  }
  fields["organization_id"] = org;
  DecodeContext ctx;
  ctx.implied_organization_id = c.who.organization_id;
  ctx.now = deps_.clock->NowMicros();
  ctx.source_json = kWorkosSourceJson;
  ctx.require_context_location = true;
  std::optional<EventDraft> draft =
      DecodeEvent(*event, options_.event_limits, ctx, "", &problems);
  if (!draft) {
    return fail(Status::InvalidArgument("the event is invalid", "invalid_event",
                                        std::move(problems)));
  }
  DecodedBatch batch;
  batch.single = true;
  batch.drafts.push_back(std::move(*draft));
  Status orgs = CheckEventOrganizations(c, &batch);
  if (!orgs.ok()) {
    if (orgs.code() == Code::kNotFound) return fail(OrganizationNotFound(org));
    if (orgs.code() == Code::kInvalidArgument) {
      // The reserved organization, or an id that [orgs] auto_create cannot make: request
      // problems, not event ones.
      return fail(Status::InvalidArgument(orgs.message(), "invalid_request", orgs.details()));
    }
    return fail(orgs);
  }
  Status schemas = CheckEventSchemas(deps_.schemas, batch);
  if (!schemas.ok()) return fail(schemas);

  if (std::optional<std::string> key = c.req.Header("idempotency-key")) {
    if (Status valid = CheckIdempotencyKeyHeader(*key); !valid.ok()) return fail(valid);
    // DecodeEvent computed the content hash that tells a retry from a conflicting reuse.
    batch.drafts[0].idempotency_key = *key;
  }
  deps_.ingestor->Submit(std::move(batch.drafts),
                         [respond = std::move(c.respond)](Result<std::vector<Ack>> acks) {
                           if (!acks.ok()) return respond(WorkosErrorResponse(acks.status()));
                           respond(JsonResponse(201, "{\"success\":true}"));
                         });
}

void Api::WorkosCreateSchema(Call& c) {
  const auto fail = [&c](const Status& s) { c.respond(WorkosErrorResponse(s)); };
  if (!c.who.platform()) {
    return fail(Status(Code::kPermissionDenied, "platform_key_required",
                       "action schemas are platform-wide: creating one needs a platform key "
                       "with the 'admin' scope"));
  }
  if (deps_.schemas == nullptr) return fail(NotAvailable("action schemas"));
  const std::string& action = c.params[0];
  if (std::optional<std::string> problem =
          ActionProblem(action, options_.event_limits.max_action_length)) {
    return fail(Status::InvalidArgument(*problem, "invalid_action", {{"/action", *problem}}));
  }
  if (Status json_body = RequireJsonBody(c.req); !json_body.ok()) return fail(json_body);
  Result<workos::ActionSchema> schema = workos::ParseActionSchema(c.req.body);
  if (!schema.ok()) {
    const Status& s = schema.status();
    if (s.error_code() == "invalid_schema" && !s.details().empty()) {
      std::string message = s.details().size() == 1
                                ? "the action schema is invalid: " + s.details().front().message
                                : "the action schema is invalid (" +
                                      std::to_string(s.details().size()) + " problems)";
      return fail(Status::InvalidArgument(std::move(message), "invalid_schema", s.details()));
    }
    return fail(s);
  }
  const size_t targets = schema->targets.size();
  std::shared_ptr<const workos::SchemaVersion> made;
  if (std::optional<std::string> key = c.req.Header("idempotency-key")) {
    if (Status valid = CheckIdempotencyKeyHeader(*key); !valid.ok()) return fail(valid);
    // A retry with the same key and body answers as the first call did, creating nothing.
    Result<workos::SchemaRegistry::Created> created = deps_.schemas->CreateIdempotent(
        action, *std::move(schema), *key, HexEncode(Sha256(action + "\n" + c.req.body)),
        options_.idempotency_window_us);
    if (!created.ok()) return fail(created.status());
    if (created->replayed) {
      const workos::SchemaVersion& v = *created->version;
      return c.respond(
          JsonResponse(201, workos::ActionSchemaJson(v.schema, v.version, v.created_at)));
    }
    made = std::move(created->version);
  } else {
    Result<std::shared_ptr<const workos::SchemaVersion>> created =
        deps_.schemas->Create(action, *std::move(schema));
    if (!created.ok()) return fail(created.status());
    made = *std::move(created);
  }
  const workos::SchemaVersion& v = *made;
  MetaAuditEntry e = AuditEntry(c, std::string(kPlatformOrganization), "annals.schema.created");
  e.targets.push_back({"audit_log_action", action, ""});
  e.metadata["version"] = v.version;
  e.metadata["target_types"] = static_cast<int64_t>(targets);
  AuditThenRespond(c, std::move(e),
                   JsonResponse(201, workos::ActionSchemaJson(v.schema, v.version, v.created_at)),
                   &WorkosErrorResponse);
}

void Api::WorkosListSchemas(Call& c) {
  const auto fail = [&c](const Status& s) { c.respond(WorkosErrorResponse(s)); };
  if (deps_.schemas == nullptr) return fail(NotAvailable("action schemas"));
  Result<WorkosPageQuery> q = ParseWorkosPageQuery(c.req);
  if (!q.ok()) return fail(q.status());
  const std::string& action = c.params[0];
  std::shared_ptr<const workos::ActionSchemas> schemas = deps_.schemas->Find(action);
  if (!schemas) {
    return fail(Status::NotFound("Audit Log Action not found: '" + action + "'.",
                                 "action_not_found"));
  }
  std::vector<std::string> cursors;
  std::vector<std::string> items;
  const size_t n = schemas->versions.size();
  for (size_t k = 0; k < n; ++k) {
    const workos::SchemaVersion& v = *schemas->versions[q->ascending ? k : n - 1 - k];
    cursors.push_back(SchemaCursor(action, v.version));
    items.push_back(workos::ActionSchemaJson(v.schema, v.version, v.created_at));
  }
  Result<WorkosPage> page = SelectWorkosPage(cursors, *q);
  if (!page.ok()) return fail(page.status());
  c.respond(JsonResponse(200, WorkosListJson(items, *page)));
}

void Api::WorkosListActions(Call& c) {
  const auto fail = [&c](const Status& s) { c.respond(WorkosErrorResponse(s)); };
  if (deps_.schemas == nullptr) return fail(NotAvailable("action schemas"));
  Result<WorkosPageQuery> q = ParseWorkosPageQuery(c.req);
  if (!q.ok()) return fail(q.status());
  std::vector<std::shared_ptr<const workos::ActionSchemas>> actions = deps_.schemas->List();
  // By creation (the first schema's), then name; newest first unless order=asc.
  std::sort(actions.begin(), actions.end(), [&](const auto& a, const auto& b) {
    const TimestampUs ta = a->versions.front()->created_at;
    const TimestampUs tb = b->versions.front()->created_at;
    if (ta != tb) return q->ascending ? ta < tb : ta > tb;
    return q->ascending ? a->action < b->action : a->action > b->action;
  });
  std::vector<std::string> cursors;
  std::vector<std::string> items;
  for (const auto& a : actions) {
    const workos::SchemaVersion& latest = a->latest();
    cursors.push_back(ActionCursor(a->action));
    std::string item = "{\"object\":\"audit_log_action\",\"name\":";
    AppendJsonString(a->action, &item);
    item += ",\"schema\":";
    item += workos::ActionSchemaJson(latest.schema, latest.version, latest.created_at);
    item += ",\"created_at\":";
    AppendJsonString(FormatRfc3339Millis(a->versions.front()->created_at), &item);
    item += ",\"updated_at\":";
    AppendJsonString(FormatRfc3339Millis(latest.created_at), &item);
    item += '}';
    items.push_back(std::move(item));
  }
  Result<WorkosPage> page = SelectWorkosPage(cursors, *q);
  if (!page.ok()) return fail(page.status());
  c.respond(JsonResponse(200, WorkosListJson(items, *page)));
}

void Api::WorkosGetRetention(Call& c) {
  const auto fail = [&c](const Status& s) { c.respond(WorkosErrorResponse(s)); };
  if (deps_.retention == nullptr) return fail(NotAvailable("retention settings"));
  Result<std::string> org = WorkosOrganization(*deps_.orgs, c.who, c.params[0]);
  if (!org.ok()) return fail(org.status());
  if (!c.req.query.empty()) {
    const std::string& name = c.req.query.front().first;
    return fail(Status::InvalidArgument("unknown query parameter '" + name + "'",
                                        "invalid_request",
                                        {{"/query/" + name, "this route takes no parameters"}}));
  }
  Result<RetentionPolicy> policy = deps_.retention->GetPolicy(*org);
  if (!policy.ok()) return fail(policy.status());
  c.respond(JsonResponse(200, RetentionJson(*policy)));
}

void Api::WorkosPutRetention(Call& c) {
  const auto fail = [&c](const Status& s) { c.respond(WorkosErrorResponse(s)); };
  if (deps_.retention == nullptr) return fail(NotAvailable("retention settings"));
  Result<std::string> org = WorkosOrganization(*deps_.orgs, c.who, c.params[0]);
  if (!org.ok()) return fail(org.status());
  if (Status json_body = RequireJsonBody(c.req); !json_body.ok()) return fail(json_body);
  Result<json::object> body =
      ParseRequestObject(c.req.body, {"retention_period", "retention_period_in_days"});
  if (!body.ok()) return fail(body.status());
  const json::value* period = body->if_contains("retention_period");
  const json::value* days = body->if_contains("retention_period_in_days");
  std::optional<int64_t> new_days;  // nullopt: keep events for ever
  std::vector<ErrorDetail> problems;
  if (period != nullptr && days != nullptr) {
    problems.push_back({"/retention_period_in_days",
                        "give either retention_period or retention_period_in_days, not both"});
  } else if (period != nullptr) {
    std::optional<int64_t> d =
        period->is_string() ? workos::RetentionPeriodDays(period->get_string()) : std::nullopt;
    if (!d) {
      problems.push_back({"/retention_period",
                          "retention_period must be one of 1_MONTH, 2_MONTHS .. 11_MONTHS, "
                          "1_YEAR, 2_YEARS .. 10_YEARS"});
    }
    new_days = d;
  } else if (days != nullptr) {
    if (days->is_int64() && days->get_int64() >= 1 &&
        days->get_int64() <= workos::kMaxRetentionDays) {
      new_days = days->get_int64();
    } else if (!days->is_null()) {
      problems.push_back({"/retention_period_in_days",
                          "retention_period_in_days must be an integer from 1 to " +
                              std::to_string(workos::kMaxRetentionDays) +
                              ", or null to keep events for ever"});
    }
  } else {
    problems.push_back({"/retention_period",
                        "give retention_period (e.g. \"1_YEAR\") or retention_period_in_days"});
  }
  if (!problems.empty()) {
    std::string message = problems.front().message;
    return fail(Status::InvalidArgument(std::move(message), "invalid_retention_period",
                                        std::move(problems)));
  }
  Result<RetentionPolicy> current = deps_.retention->GetPolicy(*org);
  if (!current.ok()) return fail(current.status());
  RetentionPolicy policy = *current;
  if (new_days) {
    policy.max_event_age_us = *new_days * workos::kMicrosPerDay;
  } else {
    policy.max_event_age_us.reset();
  }
  Result<RetentionPolicy> saved = deps_.retention->PutPolicy(*org, policy);
  if (!saved.ok()) return fail(saved.status());
  MetaAuditEntry e = AuditEntry(c, *org, "annals.retention.updated");
  e.targets.push_back({"organization", *org, ""});
  e.metadata["deleted_items_keep_for"] = FormatRetentionDuration(saved->deleted_items_keep_for_us);
  e.metadata["max_event_age"] =
      saved->max_event_age_us ? FormatRetentionDuration(*saved->max_event_age_us) : "none";
  e.metadata["legal_hold"] = saved->legal_hold;
  e.metadata["interface"] = "workos";
  AuditThenRespond(c, std::move(e), JsonResponse(200, RetentionJson(*saved)),
                   &WorkosErrorResponse);
}

void Api::WorkosGenerateLink(Call& c) {
  const auto fail = [&c](const Status& s) { c.respond(WorkosErrorResponse(s)); };
  if (deps_.portal == nullptr) return fail(NotAvailable("portal links"));
  if (Status json_body = RequireJsonBody(c.req); !json_body.ok()) return fail(json_body);
  Result<json::object> body =
      ParseRequestObject(c.req.body, {"organization", "intent", "return_url", "success_url"});
  if (!body.ok()) return fail(body.status());
  FieldReader fields(*body);
  std::optional<std::string> organization = fields.String("organization", 256, true);
  std::optional<std::string> intent = fields.String("intent", 64, true);
  for (const char* url : {"return_url", "success_url"}) {
    std::optional<std::string> value = fields.String(url, 2048, false);
    if (value && value->rfind("https://", 0) != 0 && value->rfind("http://", 0) != 0) {
      fields.Fail(url, std::string(url) + " must be an http:// or https:// URL");
    }
  }
  if (intent && !workos::PortalLinks::SupportedIntent(*intent)) {
    fields.Fail("intent",
                workos::PortalLinks::KnownWorkosIntent(*intent)
                    ? "the intent '" + *intent +
                          "' is not supported by annals (supported: audit_logs, log_streams)"
                    : "unknown intent '" + *intent + "' (supported: audit_logs, log_streams)");
  }
  Status bad = fields.Finish();
  if (!bad.ok()) {
    std::string message = bad.details().size() == 1 ? bad.details().front().message
                                                    : bad.message();
    return fail(Status::InvalidArgument(std::move(message), bad.error_code(), bad.details()));
  }
  Result<std::string> org = WorkosOrganization(*deps_.orgs, c.who, *organization);
  if (!org.ok()) return fail(org.status());
  Result<workos::PortalLink> link = deps_.portal->Generate(*org, *intent);
  if (!link.ok()) return fail(link.status());
  std::string response = "{\"link\":";
  AppendJsonString(link->link, &response);
  response += '}';
  MetaAuditEntry e = AuditEntry(c, *org, "annals.portal_link.created");
  e.targets.push_back({"organization", *org, ""});
  e.metadata["intent"] = *intent;
  e.metadata["expires_at"] = FormatRfc3339Micros(link->expires_at);
  AuditThenRespond(c, std::move(e), JsonResponse(201, std::move(response)),
                   &WorkosErrorResponse);
}

void Api::WorkosOpenPortal(Call& c) {
  const auto fail = [&c](const Status& s) {
    HttpResponse r = WorkosErrorResponse(s);
    r.headers.emplace_back("Cache-Control", "no-store");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    c.respond(std::move(r));
  };
  if (deps_.portal == nullptr) return fail(NotAvailable("portal links"));
  const std::string& intent = c.params[0];
  if (!workos::PortalLinks::SupportedIntent(intent)) {
    return fail(Status::NotFound("no portal '" + intent + "' (annals serves audit_logs and "
                                 "log_streams)"));
  }
  // A browser opens this link: parameters other than the token are not ours to refuse.
  std::optional<std::string> token;
  for (const auto& [name, value] : c.req.query) {
    if (name == "token") token = value;
  }
  if (!token) {
    return fail(Status(Code::kPermissionDenied, "invalid_token",
                       "this portal link has no token; generate a new link"));
  }
  Result<workos::PortalGrant> grant = deps_.portal->Verify(intent, *token);
  if (!grant.ok()) {
    const Status& s = grant.status();
    if (s.code() != Code::kPermissionDenied) return fail(s);
    const std::string why = s.error_code() == "token_expired"
                                ? "This portal link has expired; generate a new one."
                            : s.error_code() == "wrong_intent"
                                ? "This portal link was issued for another portal."
                                : "This portal link is not valid.";
    return fail(Status(Code::kPermissionDenied, s.error_code(), why));
  }
  if (!deps_.orgs->Exists(grant->organization_id)) {
    return fail(Status(Code::kPermissionDenied, "invalid_token",
                       "This portal link is not valid."));
  }
  std::string body = "{\"organization_id\":";
  AppendJsonString(grant->organization_id, &body);
  body += ",\"intent\":";
  AppendJsonString(grant->intent, &body);
  body += ",\"expires_at\":";
  AppendJsonString(FormatRfc3339Micros(grant->expires_at), &body);
  body += '}';
  HttpResponse r = JsonResponse(200, std::move(body));
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  c.respond(std::move(r));
}

}  // namespace annals
