// /v1/orgs and /v1/api-keys.
#include <boost/json.hpp>
#include <utility>

#include "domain/canonical_json.h"
#include "domain/json_fields.h"
#include "domain/time.h"
#include "server/api_internal.h"

namespace annals {

namespace {

constexpr size_t kMaxNameLength = 256;
constexpr size_t kMaxSettingsBytes = 16 << 10;

Status OrgNotFound(const std::string& id) {
  return Status::NotFound("no organization with id '" + id + "'", "organization_not_found");
}

Status KeyNotFound(const std::string& id) {
  return Status::NotFound("no API key with id '" + id + "'", "api_key_not_found");
}

// settings: a JSON object of at most kMaxSettingsBytes canonical bytes.
std::optional<std::string> ReadSettings(FieldReader* fields) {
  const boost::json::value* v = fields->Raw("settings");
  if (v == nullptr) return std::nullopt;
  if (!v->is_object()) {
    fields->Fail("settings", "settings must be a JSON object");
    return std::nullopt;
  }
  std::string canonical = Canonical(*v);
  if (canonical.size() > kMaxSettingsBytes) {
    fields->Fail("settings", "settings is " + std::to_string(canonical.size()) +
                                 " bytes as canonical JSON; the limit is " +
                                 std::to_string(kMaxSettingsBytes));
    return std::nullopt;
  }
  return canonical;
}

std::string JoinScopes(uint8_t scopes) {
  std::string out;
  for (const std::string& s : ScopeNames(scopes)) {
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

}  // namespace

// ---- organizations ----------------------------------------------------------------------

void Api::CreateOrg(Call& c) {
  if (!c.who.platform()) {
    return c.respond(ErrorResponse(Status(Code::kPermissionDenied, "insufficient_scope",
                                          "only platform keys can create organizations")));
  }
  Result<boost::json::object> body =
      ParseRequestObject(c.req.body, {"id", "name", "external_id", "settings"}, true);
  if (!body.ok()) return c.respond(ErrorResponse(body.status()));
  FieldReader fields(*body);
  OrganizationCreate create;
  create.id = fields.String("id", 128, false);
  create.name = fields.String("name", kMaxNameLength, false);
  create.external_id = fields.String("external_id", kMaxNameLength, false);
  if (std::optional<std::string> settings = ReadSettings(&fields)) create.settings_json = *settings;
  Status bad = fields.Finish();
  if (!bad.ok()) return c.respond(ErrorResponse(bad));
  Result<Organization> org = deps_.orgs->Create(std::move(create));
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  MetaAuditEntry e =
      AuditEntry(c, std::string(kPlatformOrganization), "annals.organization.created");
  e.targets.push_back({"organization", org->id, org->name});
  AuditThenRespond(c, std::move(e), JsonResponse(201, OrganizationJson(*org)));
}

void Api::ListOrgs(Call& c) {
  Result<IdPageQuery> q = ParseIdPageQuery(c.req);
  if (!q.ok()) return c.respond(ErrorResponse(q.status()));
  std::vector<Organization> data;
  bool more_before = false, more_after = false;
  if (c.who.platform()) {
    OrgRegistry::Page page = deps_.orgs->List(q->after_id, q->before_id, q->limit);
    data = std::move(page.data);
    more_before = page.more_before;
    more_after = page.more_after;
  } else if (std::optional<Organization> own = deps_.orgs->Get(c.who.organization_id)) {
    // An organization key sees exactly its own organization.
    const bool after_ok = q->after_id.empty() || own->id > q->after_id;
    const bool before_ok = q->before_id.empty() || own->id < q->before_id;
    if (after_ok && before_ok) data.push_back(std::move(*own));
  }
  std::vector<std::string> items, ids;
  for (const Organization& o : data) {
    items.push_back(OrganizationJson(o));
    ids.push_back(o.id);
  }
  c.respond(JsonResponse(200, IdPageJson(items, ids, more_before, more_after)));
}

void Api::GetOrg(Call& c) {
  const std::string& id = c.params[0];
  std::optional<Organization> org = c.who.CanSee(id) ? deps_.orgs->Get(id) : std::nullopt;
  if (!org) return c.respond(ErrorResponse(OrgNotFound(id)));
  c.respond(JsonResponse(200, OrganizationJson(*org)));
}

void Api::PatchOrg(Call& c) {
  const std::string id = c.params[0];
  if (!c.who.CanSee(id) || !deps_.orgs->Exists(id)) {
    return c.respond(ErrorResponse(OrgNotFound(id)));
  }
  Result<boost::json::object> body =
      ParseRequestObject(c.req.body, {"name", "external_id", "settings"});
  if (!body.ok()) return c.respond(ErrorResponse(body.status()));
  if (body->empty()) {
    return c.respond(ErrorResponse(Status::InvalidArgument(
        "nothing to change: give name, external_id or settings", "invalid_request",
        {{"", "empty patch"}})));
  }
  FieldReader fields(*body);
  OrganizationPatch patch;
  patch.name = fields.String("name", kMaxNameLength, false);
  patch.external_id = fields.StringOrNull("external_id", kMaxNameLength, &patch.clear_external_id);
  patch.settings_json = ReadSettings(&fields);
  Status bad = fields.Finish();
  if (!bad.ok()) return c.respond(ErrorResponse(bad));
  Result<Organization> org = deps_.orgs->Update(id, patch);
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  std::string changed;
  for (const auto& member : *body) {
    if (!changed.empty()) changed += ' ';
    changed += std::string(member.key());
  }
  MetaAuditEntry e = AuditEntry(c, id, "annals.organization.updated");
  e.targets.push_back({"organization", org->id, org->name});
  e.metadata["changed"] = changed;
  AuditThenRespond(c, std::move(e), JsonResponse(200, OrganizationJson(*org)));
}

// ---- API keys -------------------------------------------------------------------------

void Api::CreateKey(Call& c) {
  Result<boost::json::object> body = ParseRequestObject(
      c.req.body, {"name", "kind", "organization_id", "scopes", "expires_at"});
  if (!body.ok()) return c.respond(ErrorResponse(body.status()));
  FieldReader fields(*body);
  ApiKeyCreate create;
  create.created_by = c.who.key_id;
  std::optional<std::string> name = fields.String("name", kMaxNameLength, true);
  std::optional<std::string> kind = fields.String("kind", 32, false);
  std::optional<std::string> org = fields.String("organization_id", 128, false);
  std::optional<std::vector<std::string>> scopes =
      fields.StringSet("scopes", {"events:write", "events:read", "admin"}, true);
  bool no_expiry = false;
  std::optional<TimestampUs> expires = fields.TimeOrNull("expires_at", &no_expiry);
  const bool platform_kind = kind && *kind == "platform";
  if (kind && *kind != "platform" && *kind != "organization") {
    fields.Fail("kind", "kind must be \"organization\" (the default) or \"platform\"");
  }
  if (platform_kind && org) {
    fields.Fail("organization_id", "a platform key belongs to no organization");
  }
  if (expires && *expires <= deps_.clock->NowMicros()) {
    fields.Fail("expires_at", "expires_at must be in the future");
  }
  Status bad = fields.Finish();
  if (!bad.ok()) return c.respond(ErrorResponse(bad));
  if (!platform_kind && !org && c.who.platform()) {
    return c.respond(ErrorResponse(Status::InvalidArgument(
        "organization_id is required for an organization key; for a key over every "
        "organization, send \"kind\": \"platform\"",
        "invalid_request", {{"/organization_id", "organization_id is required"}})));
  }
  if (platform_kind && !c.who.platform()) {
    return c.respond(ErrorResponse(Status(Code::kPermissionDenied, "insufficient_scope",
                                          "only platform keys can create platform keys")));
  }
  if (!platform_kind) {
    Result<std::string> resolved = ResolveOrganization(c.who, org.value_or(""), true);
    if (!resolved.ok()) return c.respond(ErrorResponse(resolved.status()));
    if (*resolved == kPlatformOrganization) {
      return c.respond(ErrorResponse(Status::InvalidArgument(
          "the organization 'annals' holds annals' own events; create a platform key with "
          "events:read to read it",
          "invalid_request", {{"/organization_id", "reserved organization"}})));
    }
    create.organization_id = *resolved;
  }
  create.name = *name;
  for (const std::string& s : *scopes) create.scopes |= ScopeFromName(s);
  create.expires_at = expires.value_or(0);
  Result<std::pair<ApiKey, std::string>> made = deps_.keys->Create(create);
  if (!made.ok()) return c.respond(ErrorResponse(made.status()));
  const ApiKey& key = made->first;
  MetaAuditEntry e = AuditEntry(
      c, key.platform() ? std::string(kPlatformOrganization) : key.organization_id,
      "annals.api_key.created");
  e.targets.push_back({"api_key", key.id, key.name});
  e.metadata["kind"] = key.platform() ? "platform" : "organization";
  e.metadata["scopes"] = JoinScopes(key.scopes);
  if (key.expires_at != 0) e.metadata["expires_at"] = FormatRfc3339Micros(key.expires_at);
  AuditThenRespond(c, std::move(e), JsonResponse(201, ApiKeyJson(key, &made->second)));
}

void Api::ListKeys(Call& c) {
  Result<IdPageQuery> q = ParseIdPageQuery(c.req, {"organization_id"});
  if (!q.ok()) return c.respond(ErrorResponse(q.status()));
  std::string org;
  if (q->extra[0] || !c.who.platform()) {
    Result<std::string> resolved = ResolveOrganization(c.who, q->extra[0].value_or(""), false);
    if (!resolved.ok()) return c.respond(ErrorResponse(resolved.status()));
    org = *resolved;
  }
  KeyRegistry::Page page = deps_.keys->List(org, q->after_id, q->before_id, q->limit);
  std::vector<std::string> items, ids;
  for (const ApiKey& k : page.data) {
    items.push_back(ApiKeyJson(k));
    ids.push_back(k.id);
  }
  c.respond(JsonResponse(200, IdPageJson(items, ids, page.more_before, page.more_after)));
}

void Api::GetKey(Call& c) {
  const std::string& id = c.params[0];
  std::optional<ApiKey> key = deps_.keys->Get(id);
  if (!key || (!c.who.platform() && key->organization_id != c.who.organization_id)) {
    return c.respond(ErrorResponse(KeyNotFound(id)));
  }
  c.respond(JsonResponse(200, ApiKeyJson(*key)));
}

void Api::RevokeKey(Call& c) {
  const std::string id = c.params[0];
  std::optional<ApiKey> key = deps_.keys->Get(id);
  if (!key || (!c.who.platform() && key->organization_id != c.who.organization_id)) {
    return c.respond(ErrorResponse(KeyNotFound(id)));
  }
  const bool already = key->revoked_at != 0;
  Result<ApiKey> revoked = deps_.keys->Revoke(id);
  if (!revoked.ok()) return c.respond(ErrorResponse(revoked.status()));
  if (already) return c.respond(JsonResponse(200, ApiKeyJson(*revoked)));
  MetaAuditEntry e = AuditEntry(
      c, revoked->platform() ? std::string(kPlatformOrganization) : revoked->organization_id,
      "annals.api_key.revoked");
  e.targets.push_back({"api_key", revoked->id, revoked->name});
  AuditThenRespond(c, std::move(e), JsonResponse(200, ApiKeyJson(*revoked)));
}

}  // namespace annals
