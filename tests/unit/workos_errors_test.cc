// The WorkOS error mapper (workos/errors.h): one test per mapping, and the pieces it uses;
// plus the WorkOS retention periods (workos/retention_period.h).
#include "workos/errors.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "workos/retention_period.h"

namespace annals::workos {
namespace {

namespace json = boost::json;

json::object Body(const HttpResponse& r) {
  EXPECT_EQ(r.content_type, "application/json");
  json::value v = json::parse(r.body);
  EXPECT_TRUE(v.is_object()) << r.body;
  // Never annals' native shape: the Node SDK turns an "error" member into OauthException.
  EXPECT_FALSE(v.as_object().contains("error")) << r.body;
  EXPECT_FALSE(v.as_object().contains("error_description")) << r.body;
  return v.as_object();
}

std::optional<std::string> Header(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return std::nullopt;
}

TEST(WorkosErrorsTest, InvalidEventIs400InvalidAuditLogEventWithInstancePaths) {
  HttpResponse r = WorkosErrorResponse(Status::InvalidArgument(
      "the event is invalid", "invalid_event",
      {{"/targets/0/id", "targets[0].id is required"},
       {"/metadata/a~1b", "metadata values must be strings, numbers or booleans"}}));
  EXPECT_EQ(r.status, 400);
  json::object b = Body(r);
  EXPECT_EQ(b.at("code").as_string(), "invalid_audit_log_event");
  EXPECT_EQ(b.at("message").as_string(),
            "Invalid Audit Log event: targets[0].id is required (and 1 more problem).");
  const json::array& errors = b.at("errors").as_array();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].at("instancePath").as_string(), "/targets/0/id");
  EXPECT_EQ(errors[0].at("field").as_string(), "targets.0.id");
  EXPECT_EQ(errors[0].at("code").as_string(), "targets[0].id is required");
  EXPECT_EQ(errors[1].at("instancePath").as_string(), "/metadata/a~1b");
  EXPECT_EQ(errors[1].at("field").as_string(), "metadata.a/b");
}

TEST(WorkosErrorsTest, InvalidJsonIs400) {
  HttpResponse r = WorkosErrorResponse(Status::InvalidArgument(
      "invalid JSON at line 1, column 5", "invalid_json", {{"", "invalid JSON"}}));
  EXPECT_EQ(r.status, 400);
  json::object b = Body(r);
  EXPECT_EQ(b.at("code").as_string(), "invalid_json");
  EXPECT_EQ(b.at("message").as_string(), "invalid JSON at line 1, column 5");
  ASSERT_EQ(b.at("errors").as_array().size(), 1u);
  EXPECT_FALSE(b.at("errors").at(0).as_object().contains("instancePath"));
}

TEST(WorkosErrorsTest, ReversedExportRangeIs400) {
  HttpResponse r = WorkosErrorResponse(Status::InvalidArgument(
      "Invalid date range: range_start must be before range_end",
      "invalid_audit_log_export_range_date", {{"/range_end", "range_end must be after range_start"}}));
  EXPECT_EQ(r.status, 400);
  json::object b = Body(r);
  EXPECT_EQ(b.at("code").as_string(), "invalid_audit_log_export_range_date");
  EXPECT_EQ(b.at("errors").at(0).at("field").as_string(), "range_end");
}

TEST(WorkosErrorsTest, OtherInvalidArgumentsAre422WithFieldsAndSentences) {
  HttpResponse r = WorkosErrorResponse(Status::InvalidArgument(
      "limit must be an integer from 1 to 100", "invalid_request",
      {{"/query/limit", "limit must be an integer from 1 to 100"}}));
  EXPECT_EQ(r.status, 422);
  json::object b = Body(r);
  EXPECT_EQ(b.at("code").as_string(), "invalid_request");
  EXPECT_EQ(b.at("message").as_string(), "limit must be an integer from 1 to 100");
  EXPECT_EQ(b.at("errors").at(0).at("field").as_string(), "limit");
  EXPECT_EQ(b.at("errors").at(0).at("code").as_string(), "limit must be an integer from 1 to 100");
  // Without details there is no "errors" member.
  HttpResponse plain = WorkosErrorResponse(Status::InvalidArgument("bad", "invalid_schema"));
  EXPECT_EQ(plain.status, 422);
  EXPECT_FALSE(Body(plain).contains("errors"));
}

TEST(WorkosErrorsTest, UnauthenticatedIs401WithChallenge) {
  HttpResponse r = WorkosErrorResponse(Status::Unauthenticated("the API key is not valid"));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Body(r).at("code").as_string(), "unauthorized");
  EXPECT_EQ(Header(r, "WWW-Authenticate"), "Bearer");
}

TEST(WorkosErrorsTest, PermissionDeniedIs403) {
  HttpResponse r = WorkosErrorResponse(
      Status(Code::kPermissionDenied, "insufficient_scope", "this API key lacks 'admin'"));
  EXPECT_EQ(r.status, 403);
  json::object b = Body(r);
  EXPECT_EQ(b.at("code").as_string(), "insufficient_scope");
  EXPECT_EQ(b.at("message").as_string(), "this API key lacks 'admin'");
}

TEST(WorkosErrorsTest, NotFoundIs404WithTheMessageAsGiven) {
  HttpResponse r = WorkosErrorResponse(
      Status::NotFound("Organization not found: 'org_x'.", "organization_not_found"));
  EXPECT_EQ(r.status, 404);
  json::object b = Body(r);
  EXPECT_EQ(b.at("message").as_string(), "Organization not found: 'org_x'.");
  EXPECT_EQ(b.at("code").as_string(), "organization_not_found");
}

TEST(WorkosErrorsTest, ConflictIs409) {
  HttpResponse r = WorkosErrorResponse(
      Status::Conflict("the idempotency key 'k' was already used", "idempotency_conflict"));
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(Body(r).at("code").as_string(), "idempotency_conflict");
}

TEST(WorkosErrorsTest, GoneIs410) {
  EXPECT_EQ(WorkosErrorResponse(Status(Code::kGone, "event_purged", "purged")).status, 410);
}

TEST(WorkosErrorsTest, TooLargeIs413) {
  HttpResponse r =
      WorkosErrorResponse(Status(Code::kTooLarge, "request_too_large", "the body is too large"));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(Body(r).at("code").as_string(), "request_too_large");
}

TEST(WorkosErrorsTest, UnsupportedMediaIs415) {
  HttpResponse r = WorkosErrorResponse(
      Status(Code::kUnsupportedMedia, "unsupported_media_type", "Content-Type must be JSON"));
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(Body(r).at("code").as_string(), "unsupported_media_type");
}

TEST(WorkosErrorsTest, RateLimitedIs429RateLimitExceededWithRetryAfter) {
  Status s(Code::kRateLimited, "rate_limited", "too many requests for this API key");
  s.set_retry_after_seconds(2);
  HttpResponse r = WorkosErrorResponse(s);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(Body(r).at("code").as_string(), "rate_limit_exceeded");
  EXPECT_EQ(Header(r, "Retry-After"), "2");
}

TEST(WorkosErrorsTest, UnavailableIs503WithRetryAfter) {
  HttpResponse r = WorkosErrorResponse(Status::Unavailable("shutting down", "shutting_down", 5));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Body(r).at("code").as_string(), "shutting_down");
  EXPECT_EQ(Header(r, "Retry-After"), "5");
}

TEST(WorkosErrorsTest, InternalIs500) {
  HttpResponse r = WorkosErrorResponse(Status::Internal("the store is damaged"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(Body(r).at("code").as_string(), "internal");
  EXPECT_FALSE(Header(r, "Retry-After"));
  EXPECT_EQ(WorkosErrorCode(Status(Code::kInternal, "", "x")), "error");
}

TEST(WorkosErrorsTest, FieldFromPointer) {
  EXPECT_EQ(FieldFromPointer(""), "");
  EXPECT_EQ(FieldFromPointer("/organization_id"), "organization_id");
  EXPECT_EQ(FieldFromPointer("/targets/0/metadata/cost"), "targets.0.metadata.cost");
  EXPECT_EQ(FieldFromPointer("/query/limit"), "limit");
  EXPECT_EQ(FieldFromPointer("/headers/idempotency-key"), "idempotency-key");
  EXPECT_EQ(FieldFromPointer("/a~1b/c~0d"), "a/b.c~d");
}

TEST(WorkosErrorsTest, WorkosApiPaths) {
  for (const char* yes : {"/audit_logs", "/audit_logs/events", "/audit_logs/actions/a/schemas",
                          "/organizations/org_1/audit_logs_retention", "/portal/generate_link",
                          "/portal", "/audit_logs?x=1", "/audit_logs/"}) {
    EXPECT_TRUE(IsWorkosApiPath(yes)) << yes;
  }
  for (const char* no : {"/", "", "/v1/events", "/audit_logsx", "/portals", "/v1/portal",
                         "/organizationsX/a", "/healthz"}) {
    EXPECT_FALSE(IsWorkosApiPath(no)) << no;
  }
}

TEST(RetentionPeriodTest, NamesMapToDays) {
  EXPECT_EQ(RetentionPeriodDays("1_MONTH"), 30);
  EXPECT_EQ(RetentionPeriodDays("2_MONTHS"), 60);
  EXPECT_EQ(RetentionPeriodDays("11_MONTHS"), 330);
  EXPECT_EQ(RetentionPeriodDays("1_YEAR"), 365);
  EXPECT_EQ(RetentionPeriodDays("2_YEARS"), 730);
  EXPECT_EQ(RetentionPeriodDays("10_YEARS"), 3650);
  for (const char* bad : {"", "1", "_MONTH", "0_MONTHS", "12_MONTHS", "11_YEARS", "1_MONTHS",
                          "2_MONTH", "1_YEARS", "2_YEAR", "01_MONTH", "1_month", "1 MONTH",
                          "100_YEARS", "-1_YEAR", "1_DAY", "30"}) {
    EXPECT_FALSE(RetentionPeriodDays(bad)) << bad;
  }
}

TEST(RetentionPeriodTest, DurationsAnswerInWholeDaysRoundedUp) {
  EXPECT_EQ(RetentionDaysFromMicros(30 * kMicrosPerDay), 30);
  EXPECT_EQ(RetentionDaysFromMicros(kMicrosPerDay / 2), 1);
  EXPECT_EQ(RetentionDaysFromMicros(kMicrosPerDay + 1), 2);
  EXPECT_EQ(RetentionDaysFromMicros(0), 0);
}

}  // namespace
}  // namespace annals::workos
