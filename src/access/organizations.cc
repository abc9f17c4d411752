#include "access/organizations.h"

#include <boost/json.hpp>

#include "domain/canonical_json.h"
#include "domain/ids.h"
#include "domain/json.h"
#include "domain/time.h"

namespace annals {

namespace {

constexpr std::string_view kPrefix = "org/";

Result<Organization> ParseRecord(std::string_view name, const std::string& text) {
  auto corrupt = [&](const std::string& why) {
    return Status::Internal("the stored organization '" + std::string(name) +
                            "' is malformed: " + why);
  };
  Result<boost::json::value> v = ParseStrictJson(text, 64);
  if (!v.ok()) return corrupt(v.status().message());
  if (!v->is_object()) return corrupt("not an object");
  const boost::json::object& o = v->as_object();
  Organization org;
  const auto* id = o.if_contains("id");
  const auto* nm = o.if_contains("name");
  const auto* ext = o.if_contains("external_id");
  const auto* created = o.if_contains("created_at");
  const auto* updated = o.if_contains("updated_at");
  const auto* settings = o.if_contains("settings");
  if (!id || !id->is_string() || !nm || !nm->is_string() || !created || !created->is_string() ||
      !updated || !updated->is_string() || !settings || !settings->is_object() || !ext ||
      !(ext->is_null() || ext->is_string())) {
    return corrupt("missing or mistyped fields");
  }
  org.id = std::string(id->as_string());
  org.name = std::string(nm->as_string());
  if (ext->is_string()) org.external_id = std::string(ext->as_string());
  Result<TimestampUs> c = ParseRfc3339(std::string_view(created->as_string()));
  Result<TimestampUs> u = ParseRfc3339(std::string_view(updated->as_string()));
  if (!c.ok() || !u.ok()) return corrupt("bad timestamps");
  org.created_at = *c;
  org.updated_at = *u;
  org.settings_json = Canonical(*settings);
  return org;
}

}  // namespace

bool ValidOrganizationId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum) continue;
    if (i == 0) return false;
    if (c != '_' && c != '.' && c != ':' && c != '@' && c != '-') return false;
  }
  return true;
}

std::string OrganizationJson(const Organization& org) {
  std::string out = "{\"created_at\":";
  AppendJsonString(FormatRfc3339Micros(org.created_at), &out);
  out += ",\"external_id\":";
  if (org.external_id) {
    AppendJsonString(*org.external_id, &out);
  } else {
    out += "null";
  }
  out += ",\"id\":";
  AppendJsonString(org.id, &out);
  out += ",\"name\":";
  AppendJsonString(org.name, &out);
  out += ",\"settings\":";
  out += org.settings_json;
  out += ",\"updated_at\":";
  AppendJsonString(FormatRfc3339Micros(org.updated_at), &out);
  out += '}';
  return out;
}

Result<std::unique_ptr<OrgRegistry>> OrgRegistry::Load(Store* store, const Clock* clock) {
  std::unique_ptr<OrgRegistry> r(new OrgRegistry(store, clock));
  Result<std::vector<std::pair<std::string, std::string>>> all =
      store->ListMeta(std::string(kPrefix), "", 0);
  if (!all.ok()) return all.status();
  for (const auto& [name, value] : *all) {
    Result<Organization> org = ParseRecord(name, value);
    if (!org.ok()) return org.status();
    std::string id = org->id;
    r->orgs_.emplace(std::move(id), std::move(org).value());
  }
  // Data written before organizations were resources (or restored from a bare store) has
  // events for organizations without records: those get default records.
  Result<std::vector<std::string>> with_events = store->OrganizationsWithEvents();
  if (!with_events.ok()) return with_events.status();
  for (const std::string& id : *with_events) {
    if (r->Exists(id)) continue;
    Organization org;
    org.id = id;
    org.name = id;
    org.created_at = org.updated_at = clock->NowMicros();
    ANNALS_RETURN_IF_ERROR(r->Persist(org));
    r->orgs_.emplace(id, std::move(org));
  }
  if (!r->Exists(kPlatformOrganization)) {
    Organization platform;
    platform.id = std::string(kPlatformOrganization);
    platform.name = "annals platform";
    platform.created_at = platform.updated_at = clock->NowMicros();
    ANNALS_RETURN_IF_ERROR(r->Persist(platform));
    r->orgs_.emplace(platform.id, std::move(platform));
  }
  return r;
}

Status OrgRegistry::Persist(const Organization& org) {
  return store_->PutMeta(std::string(kPrefix) + org.id, OrganizationJson(org));
}

Result<Organization> OrgRegistry::Create(OrganizationCreate create) {
  std::lock_guard write(write_mu_);
  Organization org;
  if (create.id) {
    if (!ValidOrganizationId(*create.id)) {
      return Status::InvalidArgument(
          "the organization id must be 1 to 128 characters of letters, digits and _ . : @ -, "
          "starting with a letter or digit",
          "invalid_request", {{"/id", "invalid organization id"}});
    }
    org.id = *create.id;
  } else {
    IdGenerator ids;
    org.id = "org_" + ids.NextEventId(clock_->NowMicros()).substr(4);
  }
  if (Exists(org.id)) {
    return Status::Conflict("an organization with id '" + org.id + "' already exists",
                            "organization_exists");
  }
  org.name = create.name.value_or(org.id);
  org.external_id = std::move(create.external_id);
  org.settings_json = std::move(create.settings_json);
  org.created_at = org.updated_at = clock_->NowMicros();
  ANNALS_RETURN_IF_ERROR(Persist(org));
  std::unique_lock lock(mu_);
  orgs_.emplace(org.id, org);
  return org;
}

Result<std::pair<Organization, bool>> OrgRegistry::Ensure(const std::string& id) {
  if (std::optional<Organization> existing = Get(id)) {
    return std::pair(std::move(*existing), false);
  }
  OrganizationCreate create;
  create.id = id;
  Result<Organization> made = Create(std::move(create));
  if (made.ok()) return std::pair(std::move(made).value(), true);
  if (made.status().code() == Code::kConflict) {  // created concurrently
    if (std::optional<Organization> existing = Get(id)) {
      return std::pair(std::move(*existing), false);
    }
  }
  return made.status();
}

Result<Organization> OrgRegistry::Update(const std::string& id, const OrganizationPatch& patch) {
  std::lock_guard write(write_mu_);
  std::optional<Organization> current = Get(id);
  if (!current) {
    return Status::NotFound("no organization with id '" + id + "'", "organization_not_found");
  }
  Organization org = std::move(*current);
  if (patch.name) org.name = *patch.name;
  if (patch.clear_external_id) org.external_id.reset();
  if (patch.external_id) org.external_id = patch.external_id;
  if (patch.settings_json) org.settings_json = *patch.settings_json;
  org.updated_at = std::max(clock_->NowMicros(), org.updated_at);
  ANNALS_RETURN_IF_ERROR(Persist(org));
  std::unique_lock lock(mu_);
  orgs_[org.id] = org;
  return org;
}

std::optional<Organization> OrgRegistry::Get(std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = orgs_.find(id);
  if (it == orgs_.end()) return std::nullopt;
  return it->second;
}

bool OrgRegistry::Exists(std::string_view id) const {
  std::shared_lock lock(mu_);
  return orgs_.find(id) != orgs_.end();
}

size_t OrgRegistry::size() const {
  std::shared_lock lock(mu_);
  return orgs_.size();
}

OrgRegistry::Page OrgRegistry::List(const std::string& after_id, const std::string& before_id,
                                    size_t limit) const {
  std::shared_lock lock(mu_);
  Page page;
  if (!before_id.empty()) {
    auto end = orgs_.lower_bound(before_id);
    auto begin = end;
    size_t n = 0;
    while (begin != orgs_.begin() && n < limit) {
      --begin;
      ++n;
    }
    for (auto it = begin; it != end; ++it) page.data.push_back(it->second);
    page.more_before = begin != orgs_.begin();
    page.more_after = end != orgs_.end();
    return page;
  }
  auto it = after_id.empty() ? orgs_.begin() : orgs_.upper_bound(after_id);
  page.more_before = it != orgs_.begin();
  for (; it != orgs_.end() && page.data.size() < limit; ++it) page.data.push_back(it->second);
  page.more_after = it != orgs_.end();
  return page;
}

}  // namespace annals
