// Organizations as resources (PRODUCT.md capability 13): the registry every request and
// every ingested event is checked against.
//
// Records live in the store's metadata under "org/<id>" as the same canonical JSON the API
// returns; all of them are also held in memory (an organization is a few hundred bytes, so a
// platform with 100k client organizations costs tens of MiB).
//
// Thread-safety: every method may be called concurrently; lookups take a shared lock,
// writes are serialized and persisted (synced) before they become visible.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "annals/clock.h"
#include "annals/event.h"
#include "annals/status.h"
#include "annals/store.h"

namespace annals {

// The organization that holds annals' own platform-level meta-audit events. It always
// exists, and clients can neither create it nor send events to it.
inline constexpr std::string_view kPlatformOrganization = "annals";

struct Organization {
  std::string id;
  std::string name;
  std::optional<std::string> external_id;
  TimestampUs created_at = 0;
  TimestampUs updated_at = 0;
  std::string settings_json = "{}";  // a canonical JSON object
};

// The API representation (canonical JSON): {"created_at", "external_id", "id", "name",
// "settings", "updated_at"}.
std::string OrganizationJson(const Organization& org);

// 1-128 characters of [A-Za-z0-9_.:@-], starting with a letter or digit.
bool ValidOrganizationId(std::string_view id);

struct OrganizationCreate {
  std::optional<std::string> id;  // generated ("org_" + ULID) when absent
  std::optional<std::string> name;  // defaults to the id
  std::optional<std::string> external_id;
  std::string settings_json = "{}";
};

struct OrganizationPatch {
  std::optional<std::string> name;
  bool clear_external_id = false;
  std::optional<std::string> external_id;
  std::optional<std::string> settings_json;
};

class OrgRegistry {
 public:
  // Loads every organization and creates the platform organization on first start, and a
  // default record for any organization that has events but no record.
  // `store` and `clock` must outlive the registry.
  static Result<std::unique_ptr<OrgRegistry>> Load(Store* store, const Clock* clock);

  // kInvalidArgument for a malformed id, kConflict "organization_exists" when taken.
  Result<Organization> Create(OrganizationCreate create);
  // kNotFound "organization_not_found".
  Result<Organization> Update(const std::string& id, const OrganizationPatch& patch);
  std::optional<Organization> Get(std::string_view id) const;
  bool Exists(std::string_view id) const;
  // Creates `id` with default fields if it does not exist yet; returns the organization and
  // whether this call created it.
  Result<std::pair<Organization, bool>> Ensure(const std::string& id);

  // Organizations in id order, after `after_id` or before `before_id` (exclusive; at most
  // one of them set), at most `limit`. `more_after`/`more_before` say whether the listing
  // continues in that direction.
  struct Page {
    std::vector<Organization> data;
    bool more_before = false;
    bool more_after = false;
  };
  Page List(const std::string& after_id, const std::string& before_id, size_t limit) const;
  size_t size() const;

 private:
  OrgRegistry(Store* store, const Clock* clock) : store_(store), clock_(clock) {}
  Status Persist(const Organization& org);

  Store* const store_;
  const Clock* const clock_;
  std::mutex write_mu_;  // serializes writers (check-then-persist)
  mutable std::shared_mutex mu_;
  std::map<std::string, Organization, std::less<>> orgs_;  // guarded by mu_
};

}  // namespace annals
