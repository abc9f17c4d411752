// The S3 sink's configuration, object keys, request building and answer classification. The
// sink against a real S3 implementation is in s3_sink_s3rver_test.cc.
#include "sinks/s3/s3_sink.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "domain/time.h"
#include "gzip_test_util.h"

namespace annals::sinks::s3 {
namespace {

using ::annals::sinks::testing::Gunzip;

TimestampUs At(const char* rfc3339) {
  Result<TimestampUs> t = ParseRfc3339(rfc3339);
  EXPECT_TRUE(t.ok()) << rfc3339;
  return t.ok() ? *t : 0;
}

std::string Base64Md5(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
  unsigned char out[64];
  const int n = EVP_EncodeBlock(out, digest, static_cast<int>(len));
  return std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
}

std::string HeaderOf(const HttpHeaders& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

Result<S3Config> Parse(std::string_view json) { return ParseS3Config(boost::json::parse(json)); }

constexpr const char* kMinimal =
    R"({"bucket": "acme-audit", "region": "eu-west-1", "access_key_id": "AKIAEXAMPLE",
        "secret_access_key": "s3cr3t-value"})";

// --- configuration ---------------------------------------------------------------------

TEST(S3Config, MinimalConfigTakesTheDocumentedDefaults) {
  Result<S3Config> c = Parse(kMinimal);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->bucket, "acme-audit");
  EXPECT_EQ(c->region, "eu-west-1");
  EXPECT_EQ(c->prefix, "");
  EXPECT_EQ(c->access_key_id, "AKIAEXAMPLE");
  EXPECT_EQ(c->secret_access_key, "s3cr3t-value");
  EXPECT_EQ(c->session_token, "");
  EXPECT_EQ(c->endpoint, "");
  EXPECT_FALSE(c->path_style);
  EXPECT_EQ(c->storage_class, "");
}

TEST(S3Config, EveryFieldIsReadAndNormalized) {
  Result<S3Config> c = Parse(R"({"bucket": "logs.example", "region": "auto",
      "prefix": "/audit/org_1/", "access_key_id": "minio", "secret_access_key": "minio123",
      "session_token": "FQoGZXIvYXdzEXAMPLE==", "endpoint": "HTTPS://Store.Example.COM:443/",
      "path_style": true, "storage_class": "COLD_TIER"})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->bucket, "logs.example");
  EXPECT_EQ(c->prefix, "audit/org_1");
  EXPECT_EQ(c->session_token, "FQoGZXIvYXdzEXAMPLE==");
  EXPECT_EQ(c->endpoint, "https://store.example.com");
  EXPECT_TRUE(c->path_style);
  EXPECT_EQ(c->storage_class, "COLD_TIER");

  c = Parse(R"({"bucket": "b-1", "region": "us-east-1", "access_key_id": "k",
      "secret_access_key": "s", "endpoint": "http://127.0.0.1:9000", "path_style": true,
      "prefix": "/"})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(c->prefix, "");
  c = Parse(R"({"bucket": "b-1", "region": "us-east-1", "access_key_id": "k",
      "secret_access_key": "s", "endpoint": "http://[::1]:80", "path_style": true})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->endpoint, "http://[::1]");
  EXPECT_EQ(S3SecretFields(),
            (std::vector<std::string>{"access_key_id", "secret_access_key", "session_token"}));
}

// Replaces or adds `field` in the minimal config and returns the error paths.
std::vector<std::string> ErrorPaths(const std::string& field, const std::string& json_value,
                                    const std::string& extra = "") {
  boost::json::object obj = boost::json::parse(kMinimal).as_object();
  obj[field] = boost::json::parse(json_value);
  if (!extra.empty()) {
    const boost::json::value parsed = boost::json::parse(extra);
    for (const auto& kv : parsed.as_object()) obj[kv.key()] = kv.value();
  }
  Result<S3Config> c = ParseS3Config(obj);
  std::vector<std::string> paths;
  if (c.ok()) return paths;
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(c.status().error_code(), "invalid_stream_config");
  EXPECT_EQ(c.status().message().find("s3cr3t-value"), std::string::npos);
  for (const ErrorDetail& d : c.status().details()) {
    EXPECT_EQ(d.message.find("s3cr3t-value"), std::string::npos);
    paths.push_back(d.path);
  }
  return paths;
}

using Paths = std::vector<std::string>;

TEST(S3Config, BucketNamesFollowS3Rules) {
  for (const char* bad : {"\"ab\"", "\"My-Bucket\"", "\"-abc\"", "\"abc-\"", "\"a..b\"",
                          "\"192.168.5.4\"", "\"xn--abc\"", "\"sthree-abc\"", "\"abc-s3alias\"",
                          "\"abc--ol-s3\"", "\"a_b_c\"", "\"\"", "42", "null", "\"a.b\""}) {
    EXPECT_EQ(ErrorPaths("bucket", bad), Paths{"/config/bucket"}) << bad;
  }
  const std::string long_name(64, 'a');
  EXPECT_EQ(ErrorPaths("bucket", "\"" + long_name + "\""), Paths{"/config/bucket"});
  EXPECT_EQ(ErrorPaths("bucket", "\"" + std::string(63, 'a') + "\""), Paths{});
  // A dotted name works path-style; AWS's reserved affixes only bind AWS itself.
  EXPECT_EQ(ErrorPaths("bucket", "\"logs.example.com\"", R"({"path_style": true})"), Paths{});
  EXPECT_EQ(ErrorPaths("bucket", "\"xn--abc\"",
                       R"({"endpoint": "http://store.internal", "path_style": true})"),
            Paths{});
  // Over plain http a dotted virtual-hosted name has no certificate to break.
  EXPECT_EQ(ErrorPaths("bucket", "\"a.b.c\"", R"({"endpoint": "http://store.internal"})"), Paths{});
}

TEST(S3Config, EachFieldIsCheckedAtItsPath) {
  EXPECT_EQ(ErrorPaths("region", "\"EU West\""), Paths{"/config/region"});
  EXPECT_EQ(ErrorPaths("region", "\"\""), Paths{"/config/region"});
  EXPECT_EQ(ErrorPaths("prefix", "\"a//b\""), Paths{"/config/prefix"});
  EXPECT_EQ(ErrorPaths("prefix", "\"a/../b\""), Paths{"/config/prefix"});
  EXPECT_EQ(ErrorPaths("prefix", "\"./a\""), Paths{"/config/prefix"});
  EXPECT_EQ(ErrorPaths("prefix", "\"a\\u0001b\""), Paths{"/config/prefix"});
  EXPECT_EQ(ErrorPaths("prefix", "\"" + std::string(901, 'p') + "\""), Paths{"/config/prefix"});
  EXPECT_EQ(ErrorPaths("prefix", "\"org 1/audit+logs/ü\""), Paths{});
  EXPECT_EQ(ErrorPaths("access_key_id", "\"\""), Paths{"/config/access_key_id"});
  EXPECT_EQ(ErrorPaths("access_key_id", "\"AK/IA\""), Paths{"/config/access_key_id"});
  EXPECT_EQ(ErrorPaths("access_key_id", "\"AK IA\""), Paths{"/config/access_key_id"});
  EXPECT_EQ(ErrorPaths("secret_access_key", "123"), Paths{"/config/secret_access_key"});
  EXPECT_EQ(ErrorPaths("secret_access_key", "\"\""), Paths{"/config/secret_access_key"});
  EXPECT_EQ(ErrorPaths("session_token", "\"\""), Paths{"/config/session_token"});
  EXPECT_EQ(ErrorPaths("session_token", "\"a\\nb\""), Paths{"/config/session_token"});
  for (const char* bad : {"\"ftp://store\"", "\"https://user:pw@store\"", "\"https://store/s3\"",
                          "\"https://store?x=1\"", "\"https://store#f\"", "\"not a url\"",
                          "\"https://\"", "\"https://store:0\"", "\"https://st%41re\"", "1"}) {
    EXPECT_EQ(ErrorPaths("endpoint", bad, R"({"path_style": true})"), Paths{"/config/endpoint"})
        << bad;
  }
  EXPECT_EQ(ErrorPaths("endpoint", "\"http://10.1.2.3:9000\""), Paths{"/config/path_style"});
  EXPECT_EQ(ErrorPaths("path_style", "\"yes\""), Paths{"/config/path_style"});
  EXPECT_EQ(ErrorPaths("storage_class", "\"FAST\""), Paths{"/config/storage_class"});
  EXPECT_EQ(ErrorPaths("storage_class", "\"GLACIER_IR\""), Paths{});
  EXPECT_EQ(ErrorPaths("storage_class", "\"fast\"", R"({"endpoint": "https://store"})"),
            Paths{"/config/storage_class"});
  EXPECT_EQ(ErrorPaths("buckett", "\"x\""), Paths{"/config/buckett"});
}

TEST(S3Config, ReportsEveryProblemAndRefusesNonObjects) {
  Result<S3Config> c = Parse(R"({"bucket": "A", "secret_access_key": "s3cr3t-value",
                                 "colour": 1})");
  ASSERT_FALSE(c.ok());
  std::vector<std::string> paths;
  for (const ErrorDetail& d : c.status().details()) paths.push_back(d.path);
  std::sort(paths.begin(), paths.end());
  EXPECT_EQ(paths,
            (Paths{"/config/access_key_id", "/config/bucket", "/config/colour", "/config/region"}));
  EXPECT_NE(c.status().message().find("config/"), std::string::npos) << c.status().message();
  EXPECT_EQ(c.status().message().find("s3cr3t-value"), std::string::npos);

  for (const char* json : {"[]", "\"s3\"", "null", "7"}) {
    c = Parse(json);
    ASSERT_FALSE(c.ok()) << json;
    ASSERT_EQ(c.status().details().size(), 1u);
    EXPECT_EQ(c.status().details()[0].path, "/config");
  }
}

S3RequestSpec Spec(std::string method, std::string key, SigV4Params query = {},
                   std::string body = "", HttpHeaders headers = {}) {
  S3RequestSpec spec;
  spec.method = std::move(method);
  spec.key = std::move(key);
  spec.query = std::move(query);
  spec.body = std::move(body);
  spec.headers = std::move(headers);
  return spec;
}

// --- keys and requests -----------------------------------------------------------------

SinkEvent Event(uint64_t seq, const char* received_at) {
  SinkEvent e;
  e.seq = seq;
  e.id = "evt_" + std::to_string(seq);
  e.received_at = At(received_at);
  e.occurred_at = e.received_at;
  e.action = "finding.updated";
  e.json = R"({"action":"finding.updated","id":"evt_)" + std::to_string(seq) + R"(","seq":)" +
           std::to_string(seq) + "}";
  return e;
}

SinkBatch Batch(std::vector<SinkEvent> events) {
  SinkBatch b;
  b.stream_id = "str_1";
  b.organization_id = "org_acme";
  b.events = std::move(events);
  b.delivery_id =
      b.stream_id + ":" + std::to_string(b.first_seq()) + "-" + std::to_string(b.last_seq());
  return b;
}

TEST(S3ObjectKey, IsPrefixUtcHourOfTheFirstEventAndSeqRange) {
  const SinkBatch batch = Batch(
      {Event(1041, "2026-11-29T02:59:59.999999Z"), Event(1042, "2026-11-29T03:00:00.000001Z")});
  EXPECT_EQ(S3ObjectKey("audit/org_acme", batch),
            "audit/org_acme/2026/11/29/02/1041-1042.ndjson.gz");
  EXPECT_EQ(S3ObjectKey("", batch), "2026/11/29/02/1041-1042.ndjson.gz");
  EXPECT_EQ(S3ObjectKey("p", Batch({Event(7, "1999-01-02T23:00:00Z")})),
            "p/1999/01/02/23/7-7.ndjson.gz");
}

S3Config AwsConfig() {
  S3Config c;
  c.bucket = "acme-audit";
  c.region = "eu-west-1";
  c.access_key_id = "AKIAEXAMPLE";
  c.secret_access_key = "secret";
  return c;
}

TEST(S3Request, VirtualHostedIsTheDefaultAndTheKeyIsEncodedPerSegment) {
  S3Config config = AwsConfig();
  Result<HttpRequest> r = BuildS3Request(config, Spec("PUT", "org 1/a+b/c.ndjson.gz", {}, "x"),
                                         At("2026-01-02T03:04:05Z"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->method, "PUT");
  EXPECT_EQ(r->url, "https://acme-audit.s3.eu-west-1.amazonaws.com/org%201/a%2Bb/c.ndjson.gz");
  EXPECT_EQ(r->body, "x");
  EXPECT_EQ(HeaderOf(r->headers, "x-amz-date"), "20260102T030405Z");
  EXPECT_EQ(HeaderOf(r->headers, "x-amz-content-sha256"), HexEncode(Sha256("x")));
  EXPECT_EQ(HeaderOf(r->headers, "x-amz-security-token"), "<absent>");
  EXPECT_NE(HeaderOf(r->headers, "authorization")
                .find("Credential=AKIAEXAMPLE/20260102/eu-west-1/s3/aws4_request, "
                      "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="),
            std::string::npos)
      << HeaderOf(r->headers, "authorization");

  config.session_token = "tok";
  r = BuildS3Request(config, Spec("GET", "", {{"prefix", "a b"}, {"list-type", "2"}}),
                     At("2026-01-02T03:04:05Z"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->url, "https://acme-audit.s3.eu-west-1.amazonaws.com/?list-type=2&prefix=a%20b");
  EXPECT_EQ(HeaderOf(r->headers, "x-amz-security-token"), "tok");
}

TEST(S3Request, PathStyleAddressesTheBucketUnderTheEndpoint) {
  S3Config config = AwsConfig();
  config.endpoint = "http://127.0.0.1:9000";
  config.path_style = true;
  Result<HttpRequest> r = BuildS3Request(config, Spec("GET", "k/1"), At("2026-01-02T03:04:05Z"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->url, "http://127.0.0.1:9000/acme-audit/k/1");
  r = BuildS3Request(config, Spec("GET", "", {{"list-type", "2"}}), At("2026-01-02T03:04:05Z"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->url, "http://127.0.0.1:9000/acme-audit?list-type=2");
}

// AWS's PUT Object example, built the way the sink builds requests.
TEST(S3Request, ReproducesAwsPutObjectExample) {
  S3Config config;
  config.bucket = "examplebucket";
  config.region = "us-east-1";
  config.endpoint = "https://s3.amazonaws.com";
  config.access_key_id = "AKIAIOSFODNN7EXAMPLE";
  config.secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  Result<HttpRequest> r = BuildS3Request(config,
                                         Spec("PUT", "test$file.text", {}, "Welcome to Amazon S3.",
                                              {{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                                               {"x-amz-storage-class", "REDUCED_REDUNDANCY"}}),
                                         At("2013-05-24T00:00:00Z"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->url, "https://examplebucket.s3.amazonaws.com/test%24file.text");
  EXPECT_EQ(HeaderOf(r->headers, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
            "aws4_request, SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-storage-class, "
            "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

// --- answers ---------------------------------------------------------------------------

HttpResponse Answer(int status, const std::string& code = "", const std::string& message = "",
                    HttpHeaders headers = {}) {
  HttpResponse r;
  r.status = status;
  r.headers = std::move(headers);
  if (!code.empty()) {
    r.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code +
             "</Code><Message>" + message +
             "</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>";
  }
  return r;
}

TEST(S3Answer, MapsS3ErrorsToOutcomesWithCodeAndMessage) {
  struct Case {
    HttpResponse response;
    DeliveryOutcome outcome;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {Answer(200), DeliveryOutcome::kDelivered, ""},
      {Answer(403, "AccessDenied", "Access Denied"), DeliveryOutcome::kFailed,
       "HTTP 403 AccessDenied: Access Denied"},
      {Answer(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist."),
       DeliveryOutcome::kFailed,
       "HTTP 403 InvalidAccessKeyId: The AWS Access Key Id you provided does not exist."},
      {Answer(403, "SignatureDoesNotMatch", "The request signature we calculated does not match"),
       DeliveryOutcome::kFailed,
       "HTTP 403 SignatureDoesNotMatch: The request signature we calculated does not match"},
      {Answer(404, "NoSuchBucket", "The specified bucket does not exist"), DeliveryOutcome::kFailed,
       "HTTP 404 NoSuchBucket: The specified bucket does not exist"},
      {Answer(301, "PermanentRedirect",
              "The bucket you are attempting to access must be addressed using the specified "
              "endpoint.",
              {{"x-amz-bucket-region", "eu-central-1"}}),
       DeliveryOutcome::kFailed,
       "HTTP 301 PermanentRedirect: The bucket you are attempting to access must be addressed "
       "using the specified endpoint. (the bucket is in region eu-central-1)"},
      {Answer(400, "MalformedXML", "bad"), DeliveryOutcome::kRejected,
       "HTTP 400 MalformedXML: bad"},
      {Answer(400, "EntityTooLarge", "too big"), DeliveryOutcome::kRejected,
       "HTTP 400 EntityTooLarge: too big"},
      {Answer(400, "RequestTimeout", "Your socket connection to the server was not read from"),
       DeliveryOutcome::kRetry,
       "HTTP 400 RequestTimeout: Your socket connection to the server was not read from"},
      {Answer(400, "ExpiredToken", "The provided token has expired."), DeliveryOutcome::kFailed,
       "HTTP 400 ExpiredToken: The provided token has expired."},
      {Answer(400, "AuthorizationHeaderMalformed", "the region 'us-east-1' is wrong"),
       DeliveryOutcome::kFailed,
       "HTTP 400 AuthorizationHeaderMalformed: the region 'us-east-1' is wrong"},
      {Answer(500, "InternalError", "We encountered an internal error. Please try again."),
       DeliveryOutcome::kRetry,
       "HTTP 500 InternalError: We encountered an internal error. Please try again."},
      {Answer(503, "SlowDown", "Please reduce your request rate."), DeliveryOutcome::kRetry,
       "HTTP 503 SlowDown: Please reduce your request rate."},
      {Answer(307, "TemporaryRedirect",
              "Please re-send this request to the specified temporary endpoint."),
       DeliveryOutcome::kRetry,
       "HTTP 307 TemporaryRedirect: Please re-send this request to the specified temporary "
       "endpoint."},
      {Answer(409, "OperationAborted", "A conflicting conditional operation is in progress"),
       DeliveryOutcome::kRetry,
       "HTTP 409 OperationAborted: A conflicting conditional operation is in progress"},
      {Answer(403, "AccessDenied", "a &lt;b&gt; &amp; &quot;c&quot;\nd"), DeliveryOutcome::kFailed,
       "HTTP 403 AccessDenied: a <b> & \"c\" d"},
  };
  for (const Case& c : cases) {
    const DeliveryResult r = ClassifyS3Response(c.response);
    EXPECT_EQ(r.outcome, c.outcome) << c.detail;
    EXPECT_EQ(r.http_status, c.response.status);
    EXPECT_EQ(r.detail, c.detail);
  }
  HttpResponse plain;
  plain.status = 502;
  plain.body = "<html>bad\ngateway</html>";
  DeliveryResult r = ClassifyS3Response(plain);
  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(r.detail, "HTTP 502: <html>bad gateway</html>");

  r = ClassifyS3Response(Answer(503, "SlowDown", "Slow down", {{"Retry-After", "3"}}));
  ASSERT_TRUE(r.retry_after.has_value());
  EXPECT_EQ(*r.retry_after, std::chrono::milliseconds(3000));
  HttpResponse big = Answer(403, "AccessDenied", std::string(5000, 'x'));
  EXPECT_LE(ClassifyS3Response(big).detail.size(), 1100u);
}

// --- delivery --------------------------------------------------------------------------

// Records requests and answers with a canned response or error.
class RecordingHttpClient final : public HttpClient {
 public:
  Result<HttpResponse> Send(const HttpRequest& request) override {
    requests.push_back(request);
    if (!error.ok()) return error;
    return response;
  }
  std::vector<HttpRequest> requests;
  HttpResponse response = Answer(200);
  Status error;
};

TEST(S3Sink, PutsOneGzipNdjsonObjectPerBatchWithIntegrityHeaders) {
  RecordingHttpClient http;
  ManualClock clock(At("2026-11-29T02:10:00Z"));
  S3Config config = AwsConfig();
  config.prefix = "audit";
  config.storage_class = "STANDARD_IA";
  S3Sink sink(config, &http, &clock);
  EXPECT_EQ(sink.max_event_bytes(), size_t{5} << 20);
  EXPECT_EQ(S3Sink::max_batch_bytes(), size_t{16} << 20);

  const SinkBatch batch = Batch({Event(1, "2026-11-29T02:03:04Z"), Event(2, "2026-11-29T02:03:05Z"),
                                 Event(3, "2026-11-29T03:00:00Z")});
  DeliveryResult result = sink.Deliver(batch);
  EXPECT_EQ(result.outcome, DeliveryOutcome::kDelivered);
  EXPECT_EQ(result.http_status, 200);
  EXPECT_EQ(result.detail, "stored s3://acme-audit/audit/2026/11/29/02/1-3.ndjson.gz");
  ASSERT_EQ(http.requests.size(), 1u);
  const HttpRequest put = http.requests[0];
  EXPECT_EQ(put.method, "PUT");
  EXPECT_EQ(put.url,
            "https://acme-audit.s3.eu-west-1.amazonaws.com/audit/2026/11/29/02/1-3.ndjson.gz");
  EXPECT_EQ(HeaderOf(put.headers, "content-type"), "application/x-ndjson");
  EXPECT_EQ(HeaderOf(put.headers, "content-encoding"), "gzip");
  EXPECT_EQ(HeaderOf(put.headers, "content-md5"), Base64Md5(put.body));
  EXPECT_EQ(HeaderOf(put.headers, "x-amz-content-sha256"), HexEncode(Sha256(put.body)));
  EXPECT_EQ(HeaderOf(put.headers, "x-amz-storage-class"), "STANDARD_IA");
  EXPECT_EQ(HeaderOf(put.headers, "x-amz-date"), "20261129T021000Z");
  EXPECT_NE(HeaderOf(put.headers, "authorization")
                .find("SignedHeaders=content-encoding;content-md5;content-type;host;"
                      "x-amz-content-sha256;x-amz-date;x-amz-storage-class,"),
            std::string::npos)
      << HeaderOf(put.headers, "authorization");
  std::optional<std::string> ndjson = Gunzip(put.body);
  ASSERT_TRUE(ndjson.has_value());
  EXPECT_EQ(*ndjson, batch.events[0].json + "\n" + batch.events[1].json + "\n" +
                         batch.events[2].json + "\n");

  // A retry of the same batch is the same object, byte for byte.
  clock.Advance(60'000'000);
  result = sink.Deliver(batch);
  EXPECT_EQ(result.outcome, DeliveryOutcome::kDelivered);
  ASSERT_EQ(http.requests.size(), 2u);
  EXPECT_EQ(http.requests[1].url, put.url);
  EXPECT_EQ(http.requests[1].body, put.body);
}

TEST(S3Sink, ClassifiesTransportFailures) {
  RecordingHttpClient http;
  ManualClock clock(At("2026-11-29T02:10:00Z"));
  S3Sink sink(AwsConfig(), &http, &clock,
              S3SinkOptions{.request_timeout = std::chrono::seconds(7)});
  const SinkBatch batch = Batch({Event(1, "2026-11-29T02:03:04Z")});

  http.error =
      Status::Unavailable("connection refused by 203.0.113.9:443", "destination_unreachable");
  DeliveryResult r = sink.Deliver(batch);
  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(r.http_status, 0);
  EXPECT_EQ(r.detail, "connection refused by 203.0.113.9:443");
  EXPECT_EQ(http.requests.back().timeout, std::chrono::seconds(7));

  http.error = Status::InvalidArgument("10.0.0.1 is a private address", "destination_not_allowed");
  r = sink.Deliver(batch);
  EXPECT_EQ(r.outcome, DeliveryOutcome::kFailed);

  http.error = Status::Ok();
  http.response = Answer(404, "NoSuchBucket", "The specified bucket does not exist");
  r = sink.Deliver(batch);
  EXPECT_EQ(r.outcome, DeliveryOutcome::kFailed);
  EXPECT_EQ(r.http_status, 404);
  EXPECT_EQ(r.detail, "HTTP 404 NoSuchBucket: The specified bucket does not exist");
}

}  // namespace
}  // namespace annals::sinks::s3
