#include "domain/time.h"

#include <array>
#include <cstring>

#include "domain/canonical_json.h"

namespace annals {
namespace {

constexpr int64_t kMicrosPerSecond = 1000000;
constexpr int64_t kMicrosPerDay = 86400 * kMicrosPerSecond;

struct CivilDate {
  int64_t year;
  int month;  // 1-12
  int day;    // 1-31
};

// Inverse of DaysFromCivil. Works in 400-year cycles ("eras") of 146097 days whose years
// start on March 1st, so that the leap day is the last day of a cycle year.
CivilDate CivilFromDays(int64_t days) {
  const int64_t shifted = days + 719468;  // days since 0000-03-01
  const int64_t era = (shifted >= 0 ? shifted : shifted - 146096) / 146097;
  const int64_t day_of_era = shifted - era * 146097;  // [0, 146096]
  const int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) /
      365;  // [0, 399]
  const int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);  // [0, 365]
  const int64_t month_from_march = (5 * day_of_year + 2) / 153;                // [0, 11]
  const int day = static_cast<int>(day_of_year - (153 * month_from_march + 2) / 5 + 1);
  const int month =
      static_cast<int>(month_from_march < 10 ? month_from_march + 3 : month_from_march - 9);
  const int64_t year = year_of_era + era * 400 + (month <= 2 ? 1 : 0);
  return CivilDate{year, month, day};
}

bool IsLeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t year, int month) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && IsLeapYear(year)) return 29;
  return kDays[static_cast<size_t>(month - 1)];
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` digits at text[pos...]; false if any is not a digit.
bool ReadDigits(std::string_view text, size_t pos, size_t n, int* out) {
  if (pos + n > text.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = text[pos + i];
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

Status Invalid(std::string message) {
  return Status::InvalidArgument(std::move(message), "invalid_timestamp");
}

const char kFormatHint[] =
    "must be an RFC 3339 timestamp such as 2026-11-29T02:03:04Z or "
    "2026-11-29T02:03:04.123456+01:00";

// Appends `v` (>= 0) zero-padded to at least `width` digits.
void AppendPadded(std::string* out, int64_t v, int width) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  while (n < width) buf[n++] = '0';
  while (n > 0) out->push_back(buf[--n]);
}

// Writes `v` (0 <= v < 10^width) as exactly `width` digits at p.
void WriteFixed(char* p, int64_t v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

char* WriteFormatted(TimestampUs us, int fraction_digits, char* p) {
  int64_t days = us / kMicrosPerDay;
  int64_t rem = us % kMicrosPerDay;
  if (rem < 0) {
    rem += kMicrosPerDay;
    --days;
  }
  const CivilDate date = CivilFromDays(days);
  const int64_t seconds_of_day = rem / kMicrosPerSecond;
  const int64_t micros = rem % kMicrosPerSecond;

  if (date.year >= 0 && date.year <= 9999) {
    // Fast path: fixed layout "YYYY-MM-DDThh:mm:ss.ffffffZ".
    WriteFixed(p, date.year, 4);
    p[4] = '-';
    WriteFixed(p + 5, date.month, 2);
    p[7] = '-';
    WriteFixed(p + 8, date.day, 2);
    p[10] = 'T';
    WriteFixed(p + 11, seconds_of_day / 3600, 2);
    p[13] = ':';
    WriteFixed(p + 14, seconds_of_day / 60 % 60, 2);
    p[16] = ':';
    WriteFixed(p + 17, seconds_of_day % 60, 2);
    p[19] = '.';
    // The fraction is floored: micros / 1000 for milliseconds.
    WriteFixed(p + 20, fraction_digits == 6 ? micros : micros / 1000, fraction_digits);
    p[20 + fraction_digits] = 'Z';
    return p + 21 + fraction_digits;
  }
  std::string out;
  out.push_back(date.year < 0 ? '-' : '+');
  AppendPadded(&out, date.year < 0 ? -date.year : date.year, 4);
  out.push_back('-');
  AppendPadded(&out, date.month, 2);
  out.push_back('-');
  AppendPadded(&out, date.day, 2);
  out.push_back('T');
  AppendPadded(&out, seconds_of_day / 3600, 2);
  out.push_back(':');
  AppendPadded(&out, seconds_of_day / 60 % 60, 2);
  out.push_back(':');
  AppendPadded(&out, seconds_of_day % 60, 2);
  out.push_back('.');
  AppendPadded(&out, fraction_digits == 6 ? micros : micros / 1000, fraction_digits);
  out.push_back('Z');
  std::memcpy(p, out.data(), out.size());
  return p + out.size();
}

std::string Format(TimestampUs us, int fraction_digits) {
  char buf[kMaxRfc3339Bytes];
  return std::string(buf, WriteFormatted(us, fraction_digits, buf));
}

}  // namespace

int64_t DaysFromCivil(int64_t year, int month, int day) {
  // Count years from March so February (and its leap day) ends the year.
  const int64_t y = month <= 2 ? year - 1 : year;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t year_of_era = y - era * 400;                               // [0, 399]
  const int64_t month_from_march = month > 2 ? month - 3 : month + 9;      // [0, 11]
  const int64_t day_of_year = (153 * month_from_march + 2) / 5 + day - 1;  // [0, 365]
  const int64_t day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;  // [0, 146096]
  return era * 146097 + day_of_era - 719468;
}

Result<TimestampUs> ParseRfc3339(std::string_view text) {
  // YYYY-MM-DDThh:mm:ss is 19 characters; the shortest valid input adds "Z".
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (text.size() < 20 || !ReadDigits(text, 0, 4, &year) || text[4] != '-' ||
      !ReadDigits(text, 5, 2, &month) || text[7] != '-' || !ReadDigits(text, 8, 2, &day) ||
      (text[10] != 'T' && text[10] != 't') || !ReadDigits(text, 11, 2, &hour) || text[13] != ':' ||
      !ReadDigits(text, 14, 2, &minute) || text[16] != ':' || !ReadDigits(text, 17, 2, &second)) {
    return Invalid(kFormatHint);
  }
  size_t pos = 19;
  int64_t micros = 0;
  if (text[pos] == '.') {
    ++pos;
    const size_t start = pos;
    while (pos < text.size() && IsDigit(text[pos])) ++pos;
    const size_t digits = pos - start;
    if (digits == 0)
      return Invalid(std::string(kFormatHint) + " (a '.' must be followed by digits)");
    if (digits > 6) {
      return Invalid(
          "has " + std::to_string(digits) +
          " fractional second digits; microseconds (6 digits) are the maximum precision");
    }
    for (size_t i = 0; i < 6; ++i) {
      micros = micros * 10 + (i < digits ? text[start + i] - '0' : 0);
    }
  }
  int64_t offset_minutes = 0;
  if (pos >= text.size()) return Invalid(std::string(kFormatHint) + " (the time zone is missing)");
  const char zone = text[pos];
  if (zone == 'Z' || zone == 'z') {
    ++pos;
  } else if (zone == '+' || zone == '-') {
    int off_hour = 0, off_minute = 0;
    if (!ReadDigits(text, pos + 1, 2, &off_hour) || pos + 3 >= text.size() ||
        text[pos + 3] != ':' || !ReadDigits(text, pos + 4, 2, &off_minute)) {
      return Invalid(std::string(kFormatHint) + " (the offset must be +hh:mm or -hh:mm)");
    }
    if (off_hour > 23 || off_minute > 59) {
      return Invalid("has a time zone offset out of range (at most 23:59)");
    }
    offset_minutes = (zone == '+' ? 1 : -1) * (off_hour * 60 + off_minute);
    pos += 6;
  } else {
    return Invalid(std::string(kFormatHint) + " (the time zone must be Z or +hh:mm / -hh:mm)");
  }
  if (pos != text.size())
    return Invalid(std::string(kFormatHint) + " (unexpected text after the time zone)");

  if (year < 1) return Invalid("has year 0000; years must be 0001-9999");
  if (month < 1 || month > 12)
    return Invalid("has month " + std::to_string(month) + "; months are 01-12");
  if (day < 1 || day > DaysInMonth(year, month)) {
    return Invalid("has day " + std::to_string(day) + ", which does not exist in " +
                   std::to_string(year) + "-" + (month < 10 ? "0" : "") + std::to_string(month));
  }
  if (hour > 23) return Invalid("has hour " + std::to_string(hour) + "; hours are 00-23");
  if (minute > 59) return Invalid("has minute " + std::to_string(minute) + "; minutes are 00-59");
  if (second == 60) return Invalid("has second 60; leap seconds are not supported");
  if (second > 59) return Invalid("has second " + std::to_string(second) + "; seconds are 00-59");

  const int64_t local_seconds =
      DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  const int64_t utc = (local_seconds - offset_minutes * 60) * kMicrosPerSecond + micros;
  // 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z.
  static const int64_t kMin = DaysFromCivil(1, 1, 1) * kMicrosPerDay;
  static const int64_t kEnd = DaysFromCivil(10000, 1, 1) * kMicrosPerDay;
  if (utc < kMin || utc >= kEnd) {
    return Invalid("is outside years 0001-9999 once converted to UTC");
  }
  return utc;
}

std::string FormatRfc3339Micros(TimestampUs us) { return Format(us, 6); }

char* WriteRfc3339Micros(TimestampUs us, char* out) { return WriteFormatted(us, 6, out); }

std::string FormatRfc3339Millis(TimestampUs us) { return Format(us, 3); }

void AppendJsonTimeOrNull(TimestampUs t, std::string* out) {
  if (t == 0) {
    *out += "null";
  } else {
    AppendJsonString(FormatRfc3339Micros(t), out);
  }
}

}  // namespace annals
