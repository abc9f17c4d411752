#include "workos/retention_period.h"

#include <charconv>
#include <string>

namespace annals::workos {

std::optional<int64_t> RetentionPeriodDays(std::string_view period) {
  const size_t underscore = period.find('_');
  if (underscore == std::string_view::npos || underscore == 0 || underscore > 2) {
    return std::nullopt;
  }
  const std::string_view digits = period.substr(0, underscore);
  if (digits.front() == '0') return std::nullopt;
  int n = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || p != digits.data() + digits.size()) return std::nullopt;
  const std::string_view unit = period.substr(underscore + 1);
  if (n >= 1 && n <= 11 && unit == (n == 1 ? "MONTH" : "MONTHS")) return int64_t{30} * n;
  if (n >= 1 && n <= 10 && unit == (n == 1 ? "YEAR" : "YEARS")) return int64_t{365} * n;
  return std::nullopt;
}

int64_t RetentionDaysFromMicros(int64_t max_event_age_us) {
  if (max_event_age_us <= 0) return 0;
  return (max_event_age_us + kMicrosPerDay - 1) / kMicrosPerDay;
}

}  // namespace annals::workos
