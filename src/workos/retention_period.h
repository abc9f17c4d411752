// WorkOS audit-log retention periods (GET/PUT /organizations/{id}/audit_logs_retention) and
// their mapping onto annals' retention policy, whose max_event_age they set:
//   "1_MONTH" .. "11_MONTHS"  -> 30 days per month   (e.g. "3_MONTHS" = 90 days)
//   "1_YEAR"  .. "10_YEARS"   -> 365 days per year   (e.g. "2_YEARS" = 730 days)
//   retention_period_in_days N -> N days (1 .. kMaxRetentionDays)
// and back: a max_event_age answers as retention_period_in_days, in whole days (rounded up
// when the native policy was set to a duration that is not a whole number of days), or null
// when events are kept for ever.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace annals::workos {

// annals' longest duration (ParseRetentionDuration's limit) in days.
inline constexpr int64_t kMaxRetentionDays = 36500;
inline constexpr int64_t kMicrosPerDay = 86400LL * 1000000;

// Days of a WorkOS retention period name, or nullopt for any other text (exact spelling:
// "1_MONTH", "2_MONTHS".."11_MONTHS", "1_YEAR", "2_YEARS".."10_YEARS").
std::optional<int64_t> RetentionPeriodDays(std::string_view period);

// max_event_age in whole days, rounded up.
int64_t RetentionDaysFromMicros(int64_t max_event_age_us);

}  // namespace annals::workos
