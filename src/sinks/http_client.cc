#include "sinks/http_client.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <limits>

namespace annals::sinks {
namespace {

constexpr std::string_view kOws = " \t";

std::string_view Trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(kOws);
  if (begin == std::string_view::npos) return {};
  const size_t end = s.find_last_not_of(kOws);
  return s.substr(begin, end - begin + 1);
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` digits at s[*pos]; advances *pos.
std::optional<int> Digits(std::string_view s, size_t* pos, size_t n) {
  if (*pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[*pos + i];
    if (!IsDigit(c)) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  return v;
}

bool Literal(std::string_view s, size_t* pos, std::string_view lit) {
  if (s.substr(*pos, lit.size()) != lit) return false;
  *pos += lit.size();
  return true;
}

// A month name (three letters, as HTTP-dates spell them) → 1..12.
std::optional<unsigned> Month(std::string_view s, size_t* pos) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (Literal(s, pos, kMonths[i])) return static_cast<unsigned>(i + 1);
  }
  return std::nullopt;
}

// Skips a day name: the three-letter form when `long_form` is false, else the full English
// name (RFC 850 dates).
bool DayName(std::string_view s, size_t* pos, bool long_form) {
  static constexpr std::array<std::string_view, 7> kShort = {"Mon", "Tue", "Wed", "Thu",
                                                             "Fri", "Sat", "Sun"};
  static constexpr std::array<std::string_view, 7> kLong = {
      "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
  for (std::string_view name : long_form ? kLong : kShort) {
    if (Literal(s, pos, name)) return true;
  }
  return false;
}

// "HH:MM:SS" → seconds of the day.
std::optional<int> TimeOfDay(std::string_view s, size_t* pos) {
  const std::optional<int> h = Digits(s, pos, 2);
  if (!h || !Literal(s, pos, ":")) return std::nullopt;
  const std::optional<int> m = Digits(s, pos, 2);
  if (!m || !Literal(s, pos, ":")) return std::nullopt;
  const std::optional<int> sec = Digits(s, pos, 2);
  // 60 is a leap second; HTTP-dates allow it (RFC 9110 §5.6.7).
  if (!sec || *h > 23 || *m > 59 || *sec > 60) return std::nullopt;
  return *h * 3600 + *m * 60 + *sec;
}

// Seconds since the epoch of a calendar date and time, or nullopt for an impossible date.
std::optional<int64_t> EpochSeconds(int year, unsigned month, unsigned day, int time_of_day) {
  const std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{month},
                                        std::chrono::day{day}};
  if (!ymd.ok()) return std::nullopt;
  const int64_t days = std::chrono::sys_days(ymd).time_since_epoch().count();
  return days * 86400 + time_of_day;
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<int64_t> ParseImfFixdate(std::string_view s) {
  size_t pos = 0;
  if (!DayName(s, &pos, false) || !Literal(s, &pos, ", ")) return std::nullopt;
  const std::optional<int> day = Digits(s, &pos, 2);
  if (!day || !Literal(s, &pos, " ")) return std::nullopt;
  const std::optional<unsigned> month = Month(s, &pos);
  if (!month || !Literal(s, &pos, " ")) return std::nullopt;
  const std::optional<int> year = Digits(s, &pos, 4);
  if (!year || !Literal(s, &pos, " ")) return std::nullopt;
  const std::optional<int> tod = TimeOfDay(s, &pos);
  if (!tod || !Literal(s, &pos, " GMT") || pos != s.size()) return std::nullopt;
  return EpochSeconds(*year, *month, static_cast<unsigned>(*day), *tod);
}

// RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT". A two-digit year more than 50 years in the
// future is read as the most recent past year with those digits (RFC 9110 §5.6.7).
std::optional<int64_t> ParseRfc850(std::string_view s, TimestampUs now) {
  size_t pos = 0;
  if (!DayName(s, &pos, true) || !Literal(s, &pos, ", ")) return std::nullopt;
  const std::optional<int> day = Digits(s, &pos, 2);
  if (!day || !Literal(s, &pos, "-")) return std::nullopt;
  const std::optional<unsigned> month = Month(s, &pos);
  if (!month || !Literal(s, &pos, "-")) return std::nullopt;
  const std::optional<int> yy = Digits(s, &pos, 2);
  if (!yy || !Literal(s, &pos, " ")) return std::nullopt;
  const std::optional<int> tod = TimeOfDay(s, &pos);
  if (!tod || !Literal(s, &pos, " GMT") || pos != s.size()) return std::nullopt;
  const auto now_days = std::chrono::floor<std::chrono::days>(
      std::chrono::sys_time<std::chrono::microseconds>(std::chrono::microseconds(now)));
  const int this_year = static_cast<int>(std::chrono::year_month_day(now_days).year());
  int year = this_year - this_year % 100 + *yy;
  if (year > this_year + 50) year -= 100;
  return EpochSeconds(year, *month, static_cast<unsigned>(*day), *tod);
}

// asctime: "Sun Nov  6 08:49:37 1994" (the day padded with a space when it has one digit).
std::optional<int64_t> ParseAsctime(std::string_view s) {
  size_t pos = 0;
  if (!DayName(s, &pos, false) || !Literal(s, &pos, " ")) return std::nullopt;
  const std::optional<unsigned> month = Month(s, &pos);
  if (!month || !Literal(s, &pos, " ")) return std::nullopt;
  int day = 0;
  if (pos + 2 > s.size()) return std::nullopt;
  if (s[pos] == ' ') {
    ++pos;
    const std::optional<int> d = Digits(s, &pos, 1);
    if (!d) return std::nullopt;
    day = *d;
  } else {
    const std::optional<int> d = Digits(s, &pos, 2);
    if (!d) return std::nullopt;
    day = *d;
  }
  if (!Literal(s, &pos, " ")) return std::nullopt;
  const std::optional<int> tod = TimeOfDay(s, &pos);
  if (!tod || !Literal(s, &pos, " ")) return std::nullopt;
  const std::optional<int> year = Digits(s, &pos, 4);
  if (!year || pos != s.size()) return std::nullopt;
  return EpochSeconds(*year, *month, static_cast<unsigned>(day), *tod);
}

// Delays are capped so that arithmetic on them cannot overflow; no destination means more.
constexpr int64_t kMaxDelaySeconds = int64_t{365} * 24 * 3600;

}  // namespace

std::optional<std::string_view> HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value,
                                                         TimestampUs now) {
  const std::string_view v = Trim(value);
  if (v.empty()) return std::nullopt;
  // delta-seconds (a leading '-' is tolerated and means "now").
  const bool negative = v.front() == '-';
  const std::string_view digits = negative ? v.substr(1) : v;
  if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos) {
    if (negative) return std::chrono::milliseconds(0);
    int64_t seconds = 0;
    for (char c : digits) {
      seconds = seconds * 10 + (c - '0');
      if (seconds > kMaxDelaySeconds) {
        seconds = kMaxDelaySeconds;
        break;
      }
    }
    return std::chrono::milliseconds(seconds * 1000);
  }
  std::optional<int64_t> at = ParseImfFixdate(v);
  if (!at) at = ParseRfc850(v, now);
  if (!at) at = ParseAsctime(v);
  if (!at) return std::nullopt;
  const int64_t delay_us = *at * 1000000 - now;
  if (delay_us <= 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(std::min(delay_us / 1000, kMaxDelaySeconds * 1000));
}

}  // namespace annals::sinks
