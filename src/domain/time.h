// RFC 3339 timestamps <-> TimestampUs (microseconds since the Unix epoch, UTC).
// Pure functions; thread-safe. No dependence on the C library's time zone or locale.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "annals/event.h"
#include "annals/status.h"

namespace annals {

// Parses an RFC 3339 date-time: YYYY-MM-DD, 'T' or 't', hh:mm:ss, an optional fraction of
// 1-6 digits, and 'Z', 'z' or a numeric offset +hh:mm / -hh:mm (converted to UTC).
// Strict: every field is range-checked (days per month including leap years, hour 00-23,
// minute and second 00-59; leap seconds are rejected), years are 0001-9999 both as written
// and after conversion to UTC, and a fraction of 7 or more digits is rejected because
// annals keeps microseconds. Errors are InvalidArgument with error code
// "invalid_timestamp" and a one-sentence message that does not echo the input.
Result<TimestampUs> ParseRfc3339(std::string_view text);

// Formats as "YYYY-MM-DDThh:mm:ss.ffffffZ" (always 6 fractional digits, UTC). Exact for every
// input, including negative (pre-1970) values, which are floored to the microsecond grid
// before the epoch. Years outside 0000-9999 (only reachable from values that ParseRfc3339
// never returns) are printed with a sign and at least 4 digits, ISO 8601 expanded style.
// Appends FormatRfc3339Micros(t) as a JSON string, or null when t is 0 ("never", "not
// set"), for API fields such as expires_at and deleted_at.
void AppendJsonTimeOrNull(TimestampUs t, std::string* out);
std::string FormatRfc3339Micros(TimestampUs us);

// Writes FormatRfc3339Micros(us) at `out`, which has room for kMaxRfc3339Bytes; returns the
// end of what was written.
inline constexpr size_t kMaxRfc3339Bytes = 40;
char* WriteRfc3339Micros(TimestampUs us, char* out);

// Like FormatRfc3339Micros but with 3 fractional digits; the value is floored to the
// millisecond (so it never shows a later time than `us`).
std::string FormatRfc3339Millis(TimestampUs us);

// Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1-12, d 1-31; not
// range-checked). Exposed for callers that build timestamps from calendar fields.
int64_t DaysFromCivil(int64_t year, int month, int day);

}  // namespace annals
