#include "domain/time.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <string>
#include <vector>

namespace annals {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSec = 1000000;

TimestampUs ParseOk(std::string_view text) {
  Result<TimestampUs> r = ParseRfc3339(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() ? *r : 0;
}

std::string ParseError(std::string_view text) {
  Result<TimestampUs> r = ParseRfc3339(text);
  EXPECT_FALSE(r.ok()) << text << " was accepted";
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().error_code(), "invalid_timestamp");
  return r.status().message();
}

TEST(ParseRfc3339, Epoch) {
  EXPECT_EQ(ParseOk("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseOk("1970-01-01t00:00:00z"), 0);
  EXPECT_EQ(ParseOk("1970-01-01T00:00:00+00:00"), 0);
  EXPECT_EQ(ParseOk("1970-01-01T00:00:00-00:00"), 0);
}

TEST(ParseRfc3339, KnownInstants) {
  EXPECT_EQ(ParseOk("2025-11-29T02:03:04Z"), 1764381784 * kSec);
  EXPECT_EQ(ParseOk("2026-11-29T02:03:04.123Z"), 1795917784 * kSec + 123000);
  EXPECT_EQ(ParseOk("2026-11-29T02:03:04.123456Z"), 1795917784 * kSec + 123456);
  EXPECT_EQ(ParseOk("2026-11-29T02:03:04.1Z"), 1795917784 * kSec + 100000);
  EXPECT_EQ(ParseOk("2026-11-29T02:03:04.000001Z"), 1795917784 * kSec + 1);
  EXPECT_EQ(ParseOk("1900-03-01T00:00:00Z"), -2203891200LL * kSec);
  EXPECT_EQ(ParseOk("0001-01-01T00:00:00Z"), -62135596800LL * kSec);
  EXPECT_EQ(ParseOk("9999-12-31T23:59:59.999999Z"), 253402300799LL * kSec + 999999);
}

TEST(ParseRfc3339, OffsetsConvertToUtc) {
  const TimestampUs utc = ParseOk("2026-11-29T02:03:04Z");
  EXPECT_EQ(ParseOk("2026-11-29T03:03:04+01:00"), utc);
  EXPECT_EQ(ParseOk("2026-11-28T20:33:04-05:30"), utc);
  EXPECT_EQ(ParseOk("2026-11-30T01:02:04+22:59"), utc);
  EXPECT_EQ(ParseOk("2026-11-29T07:48:04.5+05:45"), utc + 500000);
}

TEST(ParseRfc3339, LeapYears) {
  ParseOk("2024-02-29T00:00:00Z");
  ParseOk("2000-02-29T00:00:00Z");
  EXPECT_THAT(ParseError("2023-02-29T00:00:00Z"), HasSubstr("day 29"));
  EXPECT_THAT(ParseError("1900-02-29T00:00:00Z"), HasSubstr("1900-02"));
  EXPECT_THAT(ParseError("2100-02-29T00:00:00Z"), HasSubstr("does not exist"));
  ParseOk("2023-02-28T23:59:59Z");
}

TEST(ParseRfc3339, FieldRanges) {
  EXPECT_THAT(ParseError("2026-00-10T00:00:00Z"), HasSubstr("month"));
  EXPECT_THAT(ParseError("2026-13-10T00:00:00Z"), HasSubstr("month"));
  EXPECT_THAT(ParseError("2026-01-00T00:00:00Z"), HasSubstr("day 0"));
  EXPECT_THAT(ParseError("2026-01-32T00:00:00Z"), HasSubstr("day 32"));
  EXPECT_THAT(ParseError("2026-04-31T00:00:00Z"), HasSubstr("day 31"));
  ParseOk("2026-04-30T00:00:00Z");
  ParseOk("2026-12-31T23:59:59Z");
  EXPECT_THAT(ParseError("2026-01-01T24:00:00Z"), HasSubstr("hour"));
  EXPECT_THAT(ParseError("2026-01-01T00:60:00Z"), HasSubstr("minute"));
  EXPECT_THAT(ParseError("2026-12-31T23:59:60Z"), HasSubstr("leap second"));
  EXPECT_THAT(ParseError("2026-12-31T23:59:61Z"), HasSubstr("second"));
  EXPECT_THAT(ParseError("0000-01-01T00:00:00Z"), HasSubstr("0001-9999"));
  EXPECT_THAT(ParseError("2026-01-01T00:00:00+24:00"), HasSubstr("offset"));
  EXPECT_THAT(ParseError("2026-01-01T00:00:00+01:60"), HasSubstr("offset"));
}

TEST(ParseRfc3339, YearRangeAppliesAfterConversion) {
  EXPECT_THAT(ParseError("0001-01-01T00:00:00+00:01"), HasSubstr("UTC"));
  EXPECT_THAT(ParseError("9999-12-31T23:59:59-00:01"), HasSubstr("UTC"));
  ParseOk("0001-01-01T00:01:00+00:01");
}

TEST(ParseRfc3339, Fraction) {
  EXPECT_THAT(ParseError("2026-11-29T02:03:04.1234567Z"),
              HasSubstr("microseconds (6 digits) are the maximum"));
  EXPECT_THAT(ParseError("2026-11-29T02:03:04.123456789Z"), HasSubstr("9 fractional"));
  EXPECT_THAT(ParseError("2026-11-29T02:03:04.Z"), HasSubstr("digits"));
}

TEST(ParseRfc3339, Syntax) {
  for (const char* bad : {"",
                          "2026",
                          "2026-11-29",
                          "2026-11-29T02:03:04",
                          "2026-11-29 02:03:04Z",
                          "2026-11-29T02:03Z",
                          "2026-1-29T02:03:04Z",
                          "2026-11-29T2:03:04Z",
                          "2026/11/29T02:03:04Z",
                          "2026-11-29T02:03:04ZZ",
                          "2026-11-29T02:03:04Z ",
                          " 2026-11-29T02:03:04Z",
                          "2026-11-29T02:03:04+0100",
                          "2026-11-29T02:03:04+01",
                          "2026-11-29T02:03:04+01:0",
                          "2026-11-29T02:03:04UTC",
                          "+2026-11-29T02:03:04Z",
                          "2026-11-29T02:03:04,5Z",
                          "２026-11-29T02:03:04Z",
                          "-001-11-29T02:03:04Z"}) {
    EXPECT_THAT(ParseError(bad), HasSubstr("RFC 3339")) << bad;
  }
}

TEST(FormatRfc3339Micros, Basics) {
  EXPECT_EQ(FormatRfc3339Micros(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339Micros(1795917784 * kSec + 123000), "2026-11-29T02:03:04.123000Z");
  EXPECT_EQ(FormatRfc3339Micros(1795917784 * kSec + 123456), "2026-11-29T02:03:04.123456Z");
  EXPECT_EQ(FormatRfc3339Micros(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatRfc3339Micros(-kSec), "1969-12-31T23:59:59.000000Z");
  EXPECT_EQ(FormatRfc3339Micros(-2203891200LL * kSec), "1900-03-01T00:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339Micros(-62135596800LL * kSec), "0001-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339Micros(253402300799LL * kSec + 999999), "9999-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatRfc3339Micros(951782400LL * kSec), "2000-02-29T00:00:00.000000Z");
}

TEST(FormatRfc3339Micros, OutsideRfc3339Years) {
  EXPECT_EQ(FormatRfc3339Micros(253402300800LL * kSec), "+10000-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339Micros(-62135596800LL * kSec - 1), "0000-12-31T23:59:59.999999Z");
  // Extremes do not crash or overflow.
  EXPECT_FALSE(FormatRfc3339Micros(INT64_MIN).empty());
  EXPECT_FALSE(FormatRfc3339Micros(INT64_MAX).empty());
  EXPECT_FALSE(FormatRfc3339Millis(INT64_MIN).empty());
}

TEST(FormatRfc3339Millis, FloorsToTheMillisecond) {
  EXPECT_EQ(FormatRfc3339Millis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Millis(1999), "1970-01-01T00:00:00.001Z");
  EXPECT_EQ(FormatRfc3339Millis(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339Millis(1795917784 * kSec + 123999), "2026-11-29T02:03:04.123Z");
}

TEST(Rfc3339, RoundTripsEveryDayAndRandomInstants) {
  const int64_t first_day = DaysFromCivil(1, 1, 1);
  const int64_t last_day = DaysFromCivil(9999, 12, 31);
  for (int64_t day = first_day; day <= last_day; ++day) {
    const TimestampUs us = day * 86400 * kSec;
    const std::string text = FormatRfc3339Micros(us);
    Result<TimestampUs> back = ParseRfc3339(text);
    ASSERT_TRUE(back.ok()) << text;
    ASSERT_EQ(*back, us) << text;
  }
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> dist(first_day * 86400 * kSec,
                                              (last_day + 1) * 86400 * kSec - 1);
  for (int i = 0; i < 100000; ++i) {
    const TimestampUs us = dist(rng);
    const std::string text = FormatRfc3339Micros(us);
    Result<TimestampUs> back = ParseRfc3339(text);
    ASSERT_TRUE(back.ok()) << text;
    ASSERT_EQ(*back, us) << text;
  }
}

TEST(DaysFromCivil, KnownDays) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(1969, 12, 31), -1);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11017);
  EXPECT_EQ(DaysFromCivil(2000, 2, 29), 11016);
  EXPECT_EQ(DaysFromCivil(1, 1, 1), -719162);
  EXPECT_EQ(DaysFromCivil(-1, 12, 31), -719163 - 366);  // year 0 is a leap year
}

TEST(WriteRfc3339Micros, MatchesFormatRfc3339Micros) {
  std::mt19937_64 rng(7);
  std::vector<TimestampUs> values = {0, -1, 1, 253402300799999999, -62135596800000000,
                                     std::numeric_limits<TimestampUs>::max(),
                                     std::numeric_limits<TimestampUs>::min()};
  for (int i = 0; i < 1000; ++i) values.push_back(static_cast<TimestampUs>(rng()));
  for (const TimestampUs us : values) {
    char buf[kMaxRfc3339Bytes];
    const char* end = WriteRfc3339Micros(us, buf);
    EXPECT_EQ(std::string(static_cast<const char*>(buf), end), FormatRfc3339Micros(us)) << us;
  }
}

}  // namespace
}  // namespace annals
