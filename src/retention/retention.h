// Retention (PRODUCT.md capability 6): per-organization policies, legal holds on
// organizations and on single items, and the purge pass that applies them to the store.
//
// Policies live in store metadata ("retention/<org>"), item holds in "item_hold/<org,type,id>"
// (docs/storage.md "meta"). An organization without a policy of its own has the default
// (RetentionOptions). Purges remove the history of items deleted longer ago than
// deleted_items_keep_for, and events older than max_event_age when set; a legal hold on the
// organization stops both, a hold on an item keeps it and every event that names it.
//
// Thread-safety: every method may be called concurrently. Purge passes are serialized.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "annals/clock.h"
#include "annals/status.h"
#include "annals/store.h"

namespace annals {

struct RetentionPolicy {
  int64_t deleted_items_keep_for_us = 180LL * 86400 * 1000000;
  std::optional<int64_t> max_event_age_us;  // unset: events are kept for ever
  bool legal_hold = false;
  TimestampUs updated_at = 0;  // 0: never set (the default policy)
};

struct RetentionOptions {
  // The policy of organizations that have none of their own.
  int64_t default_deleted_items_keep_for_us = 180LL * 86400 * 1000000;
};

struct ItemHold {
  TimestampUs since = 0;
  std::string reason;
};

// What one purge pass of one organization did.
struct PurgeRun {
  std::string organization_id;
  TimestampUs purged_at = 0;
  PurgeCounts counts;
  bool skipped_for_legal_hold = false;
  std::optional<TimestampUs> deleted_before;
  std::optional<TimestampUs> occurred_before;
};

// "<n>s", "<n>m", "<n>h" or "<n>d" (n >= 0, at most ~100 years) -> microseconds.
std::optional<int64_t> ParseRetentionDuration(const std::string& text);
// The inverse, in the largest unit that is exact ("180d", "90m", "0s").
std::string FormatRetentionDuration(int64_t us);

class Retention {
 public:
  // `store` and `clock` must outlive this object.
  Retention(Store* store, const Clock* clock, RetentionOptions options);

  Result<RetentionPolicy> GetPolicy(const std::string& organization_id);
  // Stores the policy (updated_at is set to now) and returns it.
  Result<RetentionPolicy> PutPolicy(const std::string& organization_id, RetentionPolicy policy);

  // The hold on an item, if any.
  Result<std::optional<ItemHold>> GetItemHold(const std::string& organization_id,
                                              const std::string& type, const std::string& id);
  // Sets (hold = true, keeping `since` when already held) or lifts the hold.
  Status SetItemHold(const std::string& organization_id, const std::string& type,
                     const std::string& id, bool hold, const std::string& reason);

  TimestampUs Now() const { return clock_->NowMicros(); }

  // One purge pass over the organization with the clock's now.
  Result<PurgeRun> Purge(const std::string& organization_id);

 private:
  Store* const store_;
  const Clock* const clock_;
  const RetentionOptions options_;
  std::mutex purge_mu_;  // one purge pass at a time
  std::mutex holds_mu_;  // serializes hold read-modify-writes
};

}  // namespace annals
