// Retention: GET/PUT /v1/retention, POST /v1/retention/purge, PUT /v1/items/{type}/{id}/hold,
// and the item view's hold and purge fields.
#include <boost/json.hpp>

#include "domain/canonical_json.h"
#include "domain/json_fields.h"
#include "domain/time.h"
#include "retention/retention.h"
#include "server/api_internal.h"
#include "server/retention_job.h"
#include "server/tail.h"

namespace annals {

namespace {

// The organization_id query parameter, the only one these routes take.
Result<std::string> OrganizationQuery(const HttpRequest& req, const char* route) {
  std::string org;
  for (const auto& [name, value] : req.query) {
    if (name != "organization_id") {
      return Status::InvalidArgument(
          "unknown query parameter '" + name + "' (" + route + " takes organization_id)",
          "invalid_request", {{"/query/" + name, "unknown query parameter '" + name + "'"}});
    }
    org = value;
  }
  return org;
}

std::string PolicyJson(const std::string& org, const RetentionPolicy& p) {
  std::string body = "{\"deleted_items_keep_for\":";
  AppendJsonString(FormatRetentionDuration(p.deleted_items_keep_for_us), &body);
  body += ",\"legal_hold\":";
  body += p.legal_hold ? "true" : "false";
  body += ",\"max_event_age\":";
  if (p.max_event_age_us) {
    AppendJsonString(FormatRetentionDuration(*p.max_event_age_us), &body);
  } else {
    body += "null";
  }
  body += ",\"organization_id\":";
  AppendJsonString(org, &body);
  body += ",\"updated_at\":";
  AppendJsonTimeOrNull(p.updated_at, &body);
  body += '}';
  return body;
}

Status NoRetention() {
  return Status::Unavailable("retention is not available on this server", "not_ready");
}

}  // namespace

Result<std::string> Api::ItemJson(const ItemRecord& r) {
  bool held = false;
  TimestampUs hold_since = 0;
  TimestampUs purge_after = 0;
  if (deps_.retention != nullptr) {
    Result<std::optional<ItemHold>> hold =
        deps_.retention->GetItemHold(r.organization_id, r.type, r.id);
    if (!hold.ok()) return hold.status();
    Result<RetentionPolicy> policy = deps_.retention->GetPolicy(r.organization_id);
    if (!policy.ok()) return policy.status();
    if (hold->has_value()) hold_since = (*hold)->since;
    held = hold->has_value() || policy->legal_hold;
    if (r.deleted_at != 0 && !held) purge_after = r.deleted_at + policy->deleted_items_keep_for_us;
  }
  std::string body = "{\"created_at\":";
  AppendJsonTimeOrNull(r.first_seen, &body);
  body += ",\"deleted_at\":";
  AppendJsonTimeOrNull(r.deleted_at, &body);
  body += ",\"first_seq\":" + std::to_string(r.first_seq);
  body += ",\"id\":";
  AppendJsonString(r.id, &body);
  body += ",\"last_seq\":" + std::to_string(r.last_seq);
  body += ",\"legal_hold\":";
  body += held ? "true" : "false";
  body += ",\"legal_hold_since\":";
  AppendJsonTimeOrNull(hold_since, &body);
  body += ",\"organization_id\":";
  AppendJsonString(r.organization_id, &body);
  body += ",\"purge_after\":";
  AppendJsonTimeOrNull(purge_after, &body);
  body += ",\"type\":";
  AppendJsonString(r.type, &body);
  body += ",\"updated_at\":";
  AppendJsonTimeOrNull(r.last_seen, &body);
  body += ",\"version_count\":" + std::to_string(r.event_count);
  body += '}';
  return body;
}

HttpResponse Api::MissingItem(const std::string& organization_id, const std::string& type,
                              const std::string& id) {
  Result<std::optional<TimestampUs>> purged =
      deps_.store->GetItemPurgedAt(organization_id, type, id);
  if (!purged.ok()) return ErrorResponse(purged.status());
  if (purged->has_value()) {
    return PurgedResponse("item_purged",
                          "the history of item " + type + "/" + id + " was purged by retention",
                          **purged, "");
  }
  return ErrorResponse(
      Status::NotFound("no item " + type + "/" + id + " in this organization", "item_not_found"));
}

std::optional<ItemRecord> Api::FindItem(Call& c, const std::string& organization_id,
                                        const std::string& type, const std::string& id) {
  Result<std::optional<ItemRecord>> item = deps_.store->GetItem(organization_id, type, id);
  if (!item.ok()) {
    c.respond(ErrorResponse(item.status()));
    return std::nullopt;
  }
  if (!item->has_value()) c.respond(MissingItem(organization_id, type, id));
  return std::move(*item);
}

void Api::GetRetention(Call& c) {
  if (deps_.retention == nullptr) return c.respond(ErrorResponse(NoRetention()));
  Result<std::string> org = OrganizationQuery(c.req, "retention");
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  Result<std::string> resolved = ResolveOrganization(c.who, *org, true);
  if (!resolved.ok()) return c.respond(ErrorResponse(resolved.status()));
  Result<RetentionPolicy> policy = deps_.retention->GetPolicy(*resolved);
  if (!policy.ok()) return c.respond(ErrorResponse(policy.status()));
  c.respond(JsonResponse(200, PolicyJson(*resolved, *policy)));
}

void Api::PutRetention(Call& c) {
  if (deps_.retention == nullptr) return c.respond(ErrorResponse(NoRetention()));
  Result<std::string> org = OrganizationQuery(c.req, "retention");
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  Result<std::string> resolved = ResolveOrganization(c.who, *org, true);
  if (!resolved.ok()) return c.respond(ErrorResponse(resolved.status()));
  Result<boost::json::object> body = ParseRequestObject(
      c.req.body, {"deleted_items_keep_for", "max_event_age", "legal_hold", "organization_id"});
  if (!body.ok()) return c.respond(ErrorResponse(body.status()));
  Result<RetentionPolicy> current = deps_.retention->GetPolicy(*resolved);
  if (!current.ok()) return c.respond(ErrorResponse(current.status()));
  RetentionPolicy policy = *current;
  FieldReader fields(*body);
  const char* kDurationHelp = " must be a duration like \"180d\", \"12h\", \"30m\" or \"90s\"";
  if (fields.Has("organization_id")) {
    std::optional<std::string> in_body = fields.String("organization_id", 256, false);
    if (in_body && *in_body != *resolved) {
      fields.Fail("organization_id", "organization_id in the body must match the query's");
    }
  }
  if (fields.Has("deleted_items_keep_for")) {
    std::optional<std::string> d = fields.String("deleted_items_keep_for", 32, true);
    std::optional<int64_t> us = d ? ParseRetentionDuration(*d) : std::nullopt;
    if (d && !us) {
      fields.Fail("deleted_items_keep_for", std::string("deleted_items_keep_for") + kDurationHelp);
    } else if (us) {
      policy.deleted_items_keep_for_us = *us;
    }
  }
  if (fields.Has("max_event_age")) {
    bool is_null = false;
    std::optional<std::string> d = fields.StringOrNull("max_event_age", 32, &is_null);
    if (is_null) {
      policy.max_event_age_us.reset();
    } else {
      std::optional<int64_t> us = d ? ParseRetentionDuration(*d) : std::nullopt;
      if (d && (!us || *us == 0)) {
        fields.Fail("max_event_age", std::string("max_event_age") + kDurationHelp +
                                         " (greater than zero) or null");
      } else if (us) {
        policy.max_event_age_us = *us;
      }
    }
  }
  if (fields.Has("legal_hold")) {
    if (std::optional<bool> b = fields.Bool("legal_hold")) policy.legal_hold = *b;
  }
  Status bad = fields.Finish();
  if (!bad.ok()) return c.respond(ErrorResponse(bad));
  Result<RetentionPolicy> saved = deps_.retention->PutPolicy(*resolved, policy);
  if (!saved.ok()) return c.respond(ErrorResponse(saved.status()));
  MetaAuditEntry e = AuditEntry(c, *resolved, "annals.retention.updated");
  e.targets.push_back({"organization", *resolved, ""});
  e.metadata["deleted_items_keep_for"] = FormatRetentionDuration(saved->deleted_items_keep_for_us);
  e.metadata["max_event_age"] =
      saved->max_event_age_us ? FormatRetentionDuration(*saved->max_event_age_us) : "none";
  e.metadata["legal_hold"] = saved->legal_hold;
  AuditThenRespond(c, std::move(e), JsonResponse(200, PolicyJson(*resolved, *saved)));
}

void Api::PurgeNow(Call& c) {
  if (deps_.retention == nullptr) return c.respond(ErrorResponse(NoRetention()));
  Result<std::string> org = OrganizationQuery(c.req, "retention/purge");
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  Result<std::string> resolved = ResolveOrganization(c.who, *org, true);
  if (!resolved.ok()) return c.respond(ErrorResponse(resolved.status()));
  if (!c.req.body.empty() && c.req.body != "{}") {
    return c.respond(ErrorResponse(
        Status::InvalidArgument("this request takes no body", "invalid_request")));
  }
  Result<PurgeRun> run = deps_.retention->Purge(*resolved);
  if (!run.ok()) return c.respond(ErrorResponse(run.status()));
  if (run->counts.events > 0 && deps_.tail != nullptr) deps_.tail->ForgetRecent();
  std::string body = "{\"events_purged\":" + std::to_string(run->counts.events);
  body += ",\"items_purged\":" + std::to_string(run->counts.items);
  body += ",\"organization_id\":";
  AppendJsonString(*resolved, &body);
  body += ",\"purged_at\":";
  AppendJsonTimeOrNull(run->purged_at, &body);
  body += ",\"skipped_for_legal_hold\":";
  body += run->skipped_for_legal_hold ? "true" : "false";
  body += '}';
  MetaAuditEntry e = PurgeAuditEntry(*run, c.who, "request");
  e.remote_address = c.req.remote_address;
  e.user_agent = c.req.Header("user-agent").value_or("");
  AuditThenRespond(c, std::move(e), JsonResponse(200, std::move(body)));
}

void Api::SetItemHold(Call& c) {
  if (deps_.retention == nullptr) return c.respond(ErrorResponse(NoRetention()));
  const std::string& type = c.params[0];
  const std::string& id = c.params[1];
  Result<std::string> org = OrganizationQuery(c.req, "hold");
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  Result<std::string> resolved = ResolveOrganization(c.who, *org, true);
  if (!resolved.ok()) return c.respond(ErrorResponse(resolved.status()));
  Result<boost::json::object> body = ParseRequestObject(c.req.body, {"legal_hold", "reason"});
  if (!body.ok()) return c.respond(ErrorResponse(body.status()));
  FieldReader fields(*body);
  std::optional<bool> hold = fields.Bool("legal_hold");
  if (!fields.Has("legal_hold")) fields.Fail("legal_hold", "legal_hold (true or false) is required");
  std::optional<std::string> reason = fields.String("reason", 500, false);
  Status bad = fields.Finish();
  if (!bad.ok()) return c.respond(ErrorResponse(bad));
  std::optional<ItemRecord> item = FindItem(c, *resolved, type, id);
  if (!item) return;
  Status set = deps_.retention->SetItemHold(*resolved, type, id, *hold, reason.value_or(""));
  if (!set.ok()) return c.respond(ErrorResponse(set));
  Result<std::string> view = ItemJson(*item);
  if (!view.ok()) return c.respond(ErrorResponse(view.status()));
  MetaAuditEntry e = AuditEntry(
      c, *resolved, *hold ? "annals.item.legal_hold_set" : "annals.item.legal_hold_lifted");
  e.targets.push_back({type, id, ""});
  if (reason) e.metadata["reason"] = *reason;
  AuditThenRespond(c, std::move(e), JsonResponse(200, std::move(*view)));
}

}  // namespace annals
