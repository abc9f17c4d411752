#include "retention/retention.h"

#include <boost/json.hpp>
#include <charconv>
#include <set>
#include <utility>

#include "storage/key_encoding.h"

namespace annals {

namespace {

constexpr int64_t kSecond = 1000000;
constexpr int64_t kMaxRetentionUs = 100LL * 366 * 86400 * kSecond;

std::string PolicyName(const std::string& org) { return "retention/" + org; }

std::string HoldPrefix(const std::string& org) {
  std::string name = "item_hold/";
  storage::AppendString(&name, org);
  return name;
}

std::string HoldName(const std::string& org, const std::string& type, const std::string& id) {
  std::string name = HoldPrefix(org);
  storage::AppendString(&name, type);
  storage::AppendString(&name, id);
  return name;
}

Status Malformed(const std::string& what) {
  return Status::Internal("a malformed " + what + " in the store");
}

}  // namespace

std::optional<int64_t> ParseRetentionDuration(const std::string& text) {
  if (text.size() < 2) return std::nullopt;
  const char unit = text.back();
  int64_t mult = 0;
  switch (unit) {
    case 's': mult = kSecond; break;
    case 'm': mult = 60 * kSecond; break;
    case 'h': mult = 3600 * kSecond; break;
    case 'd': mult = 86400 * kSecond; break;
    default: return std::nullopt;
  }
  const std::string digits = text.substr(0, text.size() - 1);
  if (digits.empty() || digits.size() > 12) return std::nullopt;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  int64_t n = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (n > kMaxRetentionUs / mult) return std::nullopt;
  return n * mult;
}

std::string FormatRetentionDuration(int64_t us) {
  const std::pair<int64_t, char> units[] = {
      {86400 * kSecond, 'd'}, {3600 * kSecond, 'h'}, {60 * kSecond, 'm'}, {kSecond, 's'}};
  for (const auto& [size, unit] : units) {
    if (us != 0 && us % size == 0) return std::to_string(us / size) + unit;
  }
  return std::to_string(us / kSecond) + "s";
}

Retention::Retention(Store* store, const Clock* clock, RetentionOptions options)
    : store_(store), clock_(clock), options_(options) {}

Result<RetentionPolicy> Retention::GetPolicy(const std::string& organization_id) {
  RetentionPolicy policy;
  policy.deleted_items_keep_for_us = options_.default_deleted_items_keep_for_us;
  Result<std::optional<std::string>> raw = store_->GetMeta(PolicyName(organization_id));
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return policy;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(**raw, ec);
  if (ec || !v.is_object()) return Malformed("retention policy");
  const boost::json::object& o = v.as_object();
  const auto* keep = o.if_contains("deleted_items_keep_for_us");
  const auto* age = o.if_contains("max_event_age_us");
  const auto* hold = o.if_contains("legal_hold");
  const auto* updated = o.if_contains("updated_at");
  if (keep == nullptr || !keep->is_int64() || age == nullptr ||
      !(age->is_null() || age->is_int64()) || hold == nullptr || !hold->is_bool() ||
      updated == nullptr || !updated->is_int64()) {
    return Malformed("retention policy");
  }
  policy.deleted_items_keep_for_us = keep->as_int64();
  if (age->is_int64()) policy.max_event_age_us = age->as_int64();
  policy.legal_hold = hold->as_bool();
  policy.updated_at = updated->as_int64();
  return policy;
}

Result<RetentionPolicy> Retention::PutPolicy(const std::string& organization_id,
                                             RetentionPolicy policy) {
  policy.updated_at = clock_->NowMicros();
  boost::json::object o;
  o["deleted_items_keep_for_us"] = policy.deleted_items_keep_for_us;
  if (policy.max_event_age_us) {
    o["max_event_age_us"] = *policy.max_event_age_us;
  } else {
    o["max_event_age_us"] = nullptr;
  }
  o["legal_hold"] = policy.legal_hold;
  o["updated_at"] = policy.updated_at;
  ANNALS_RETURN_IF_ERROR(store_->PutMeta(PolicyName(organization_id), boost::json::serialize(o)));
  return policy;
}

Result<std::optional<ItemHold>> Retention::GetItemHold(const std::string& organization_id,
                                                       const std::string& type,
                                                       const std::string& id) {
  Result<std::optional<std::string>> raw = store_->GetMeta(HoldName(organization_id, type, id));
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return std::optional<ItemHold>();
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(**raw, ec);
  const boost::json::object* o = ec ? nullptr : v.if_object();
  if (o != nullptr && o->contains("lifted")) return std::optional<ItemHold>();
  const auto* since = o ? o->if_contains("since") : nullptr;
  const auto* reason = o ? o->if_contains("reason") : nullptr;
  if (since == nullptr || !since->is_int64() || reason == nullptr || !reason->is_string()) {
    return Malformed("item hold");
  }
  return std::optional<ItemHold>(ItemHold{since->as_int64(), std::string(reason->as_string())});
}

Status Retention::SetItemHold(const std::string& organization_id, const std::string& type,
                              const std::string& id, bool hold, const std::string& reason) {
  std::lock_guard lock(holds_mu_);
  const std::string name = HoldName(organization_id, type, id);
  if (!hold) {
    // A lifted hold is an entry that says so: metadata has no delete, and purges read
    // only live holds.
    Result<std::optional<ItemHold>> current = GetItemHold(organization_id, type, id);
    if (!current.ok()) return current.status();
    if (!current->has_value()) return Status::Ok();
    return store_->PutMeta(name, "{\"lifted\":true}");
  }
  ItemHold h{clock_->NowMicros(), reason};
  Result<std::optional<ItemHold>> current = GetItemHold(organization_id, type, id);
  if (current.ok() && current->has_value()) h.since = (*current)->since;
  boost::json::object o;
  o["since"] = h.since;
  o["reason"] = h.reason;
  return store_->PutMeta(name, boost::json::serialize(o));
}

Result<PurgeRun> Retention::Purge(const std::string& organization_id) {
  std::lock_guard lock(purge_mu_);
  PurgeRun run;
  run.organization_id = organization_id;
  run.purged_at = clock_->NowMicros();
  Result<RetentionPolicy> policy = GetPolicy(organization_id);
  if (!policy.ok()) return policy.status();
  if (policy->legal_hold) {
    run.skipped_for_legal_hold = true;
    return run;
  }
  // Live item holds of the organization, read once for the pass.
  auto held = std::make_shared<std::set<std::pair<std::string, std::string>>>();
  const std::string prefix = HoldPrefix(organization_id);
  std::string after;
  for (;;) {
    Result<std::vector<std::pair<std::string, std::string>>> page =
        store_->ListMeta(prefix, after, 1024);
    if (!page.ok()) return page.status();
    for (const auto& [name, value] : *page) {
      if (value.find("\"since\"") == std::string::npos) continue;  // lifted
      std::string_view rest(name);
      rest.remove_prefix(prefix.size());
      std::string type, id;
      if (!storage::ConsumeString(&rest, &type) || !storage::ConsumeString(&rest, &id) ||
          !rest.empty()) {
        return Malformed("item hold name");
      }
      held->emplace(std::move(type), std::move(id));
    }
    if (page->size() < 1024) break;
    after = page->back().first;
  }
  PurgeRequest request;
  request.organization_id = organization_id;
  request.purged_at = run.purged_at;
  request.deleted_before = run.purged_at - policy->deleted_items_keep_for_us;
  if (policy->max_event_age_us) {
    request.occurred_before = run.purged_at - *policy->max_event_age_us;
  }
  if (!held->empty()) {
    request.held = [held](const std::string& type, const std::string& id) {
      return held->count({type, id}) != 0;
    };
  }
  run.deleted_before = request.deleted_before;
  run.occurred_before = request.occurred_before;
  Result<PurgeCounts> counts = store_->Purge(request);
  if (!counts.ok()) return counts.status();
  run.counts = *counts;
  return run;
}

}  // namespace annals
