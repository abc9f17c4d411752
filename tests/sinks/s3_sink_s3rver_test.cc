// The S3 sink against a real S3 implementation: s3rver (npm, pinned in
// tests/s3/package-lock.json, installed by scripts/install-deps.sh), started by
// tests/s3/serve.js as a child process on a free loopback port with a temporary directory.
//
// What checks what: s3rver 3.7.1 stores and lists the objects, keeps their Content-Type and
// Content-Encoding, refuses unknown access keys (InvalidAccessKeyId), missing buckets
// (NoSuchBucket), invalid storage classes, requests without x-amz-content-sha256 and clocks
// more than 15 minutes off. It does NOT verify SigV4 signatures (its V4 path accepts any
// well-formed signature) nor Content-MD5; serve.js puts a front before it that does
// (SignatureDoesNotMatch, XAmzContentSHA256Mismatch, BadDigest, a wrong region, unsigned
// x-amz-* headers), written from AWS's specification independently of the C++ signer. So
// "signature accepted" below means that front recomputed it from the bytes on the wire.
//
// The HttpClient is the production CurlHttpClient, with a policy that allows loopback.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "annals/clock.h"
#include "domain/time.h"
#include "gzip_test_util.h"
#include "sinks/s3/s3_sink.h"
#include "sinks/curl_http_client.h"

namespace annals::sinks::s3 {
namespace {

namespace fs = std::filesystem;
using ::annals::sinks::testing::Gunzip;

constexpr const char* kBucket = "annals-test";

std::string FindOnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return "";
  std::string_view rest = path;
  while (!rest.empty()) {
    const size_t colon = rest.find(':');
    const std::string dir(rest.substr(0, colon));
    const std::string candidate = dir + "/" + program;
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return "";
}

// One s3rver (behind serve.js) for the whole suite.
class S3rverProcess {
 public:
  // Returns "" on success, or why it could not start; `skip` tells a missing prerequisite
  // (node or the installed s3rver) from a failure.
  std::string Start(bool* skip) {
    *skip = true;
    const std::string node = FindOnPath("node");
    if (node.empty()) return "node is not installed";
    const fs::path s3dir = fs::path(ANNALS_SOURCE_DIR) / "tests" / "s3";
    if (!fs::exists(s3dir / "node_modules" / "s3rver" / "package.json")) {
      return "s3rver is not installed in tests/s3 (run scripts/install-deps.sh)";
    }
    *skip = false;
    char dir_template[] = "/tmp/annals-s3rver-XXXXXX";
    if (mkdtemp(dir_template) == nullptr) return "mkdtemp failed";
    dir_ = dir_template;
    int out[2];
    int in[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0) return "pipe failed";
    const std::string serve = (s3dir / "serve.js").string();
    const std::string data = (fs::path(dir_) / "data").string();
    const std::string log = (fs::path(dir_) / "serve.log").string();
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      const int err = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (err >= 0) dup2(err, STDERR_FILENO);
      execl(node.c_str(), node.c_str(), serve.c_str(), "--directory", data.c_str(), "--bucket",
            kBucket, static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    if (pid_ < 0) return "fork failed";

    // Wait for "listening 127.0.0.1:<port>\n".
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (line.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd pfd{out[0], POLLIN, 0};
      if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[256];
      const ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    const std::string prefix = "listening 127.0.0.1:";
    if (line.rfind(prefix, 0) != 0) return "serve.js did not start; see " + log;
    port_ = std::stoi(line.substr(prefix.size()));
    return "";
  }

  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      for (int i = 0; i < 50 && waitpid(pid_, &status, WNOHANG) == 0; ++i) usleep(100'000);
      if (waitpid(pid_, &status, WNOHANG) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
      pid_ = -1;
    }
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
      dir_.clear();
    }
  }

  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int port_ = 0;
  std::string dir_;
};

class S3SinkS3rverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new S3rverProcess();
    bool skip = false;
    start_problem_ = server_->Start(&skip);
    skip_ = skip;
  }
  static void TearDownTestSuite() {
    server_->Stop();
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    if (skip_) GTEST_SKIP() << "s3rver tests skipped: " << start_problem_;
    ASSERT_EQ(start_problem_, "");
  }

  // The configuration of the bucket on the local s3rver, with its built-in credentials.
  static S3Config LocalConfig() {
    S3Config c;
    c.bucket = kBucket;
    c.region = "us-east-1";
    c.endpoint = "http://127.0.0.1:" + std::to_string(server_->port());
    c.path_style = true;
    c.access_key_id = "S3RVER";
    c.secret_access_key = "S3RVER";
    return c;
  }

  // A signed GET through the same signer; returns the answer.
  HttpResponse Get(const S3Config& config, const std::string& key, SigV4Params query = {}) {
    S3RequestSpec spec;
    spec.method = "GET";
    spec.key = key;
    spec.query = std::move(query);
    Result<HttpRequest> request = BuildS3Request(config, spec, clock_.NowMicros());
    EXPECT_TRUE(request.ok()) << request.status().ToString();
    if (!request.ok()) return HttpResponse{};
    Result<HttpResponse> response = http_.Send(*request);
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    return response.ok() ? *response : HttpResponse{};
  }

  // Every key under `prefix` (ListObjectsV2, one page of up to 1000 keys). The test stores
  // far fewer; it does not page because s3rver 3.7.1 builds continuation tokens with DES,
  // which Node 20's OpenSSL 3 no longer offers (a truncated listing answers 500).
  std::vector<std::string> ListKeys(const S3Config& config, const std::string& prefix) {
    const HttpResponse r = Get(config, "", {{"list-type", "2"}, {"prefix", prefix}});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("<IsTruncated>false</IsTruncated>"), std::string::npos) << r.body;
    std::vector<std::string> keys;
    std::string_view body = r.body;
    for (size_t at = body.find("<Key>"); at != std::string_view::npos;
         at = body.find("<Key>", at + 1)) {
      const size_t end = body.find("</Key>", at);
      keys.push_back(Unescape(body.substr(at + 5, end - at - 5)));
    }
    return keys;
  }

  static std::string Unescape(std::string_view xml) {
    std::string out;
    for (size_t i = 0; i < xml.size(); ++i) {
      static constexpr std::pair<std::string_view, char> kEntities[] = {
          {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
      bool done = false;
      for (const auto& [entity, c] : kEntities) {
        if (xml.substr(i, entity.size()) == entity) {
          out.push_back(c);
          i += entity.size() - 1;
          done = true;
          break;
        }
      }
      if (!done) out.push_back(xml[i]);
    }
    return out;
  }

  static SinkEvent Event(uint64_t seq, const char* received_at) {
    SinkEvent e;
    e.seq = seq;
    e.id = "evt_" + std::to_string(seq);
    Result<TimestampUs> t = ParseRfc3339(received_at);
    e.received_at = t.ok() ? *t : 0;
    e.occurred_at = e.received_at;
    e.action = "item.updated";
    e.json = R"({"action":"item.updated","id":"evt_)" + std::to_string(seq) +
             R"(","metadata":{"note":"ünïcode & <xml>"},"seq":)" + std::to_string(seq) + "}";
    return e;
  }

  static SinkBatch Batch(std::vector<SinkEvent> events) {
    SinkBatch b;
    b.stream_id = "str_s3";
    b.organization_id = "org_acme";
    b.events = std::move(events);
    b.delivery_id = "str_s3:" + std::to_string(b.first_seq()) + "-" + std::to_string(b.last_seq());
    return b;
  }

  static S3rverProcess* server_;
  static std::string start_problem_;
  static bool skip_;
  SystemClock clock_;  // s3rver refuses requests more than 15 minutes off its clock
  AddressPolicy policy_{AddressPolicyOptions{.allow_private_destinations = true}};
  std::unique_ptr<CurlHttpClient> http_client_ = [this] {
    CurlHttpClientOptions o;
    o.policy = &policy_;
    return CurlHttpClient::Create(std::move(o)).value();
  }();
  CurlHttpClient& http_ = *http_client_;
};

S3rverProcess* S3SinkS3rverTest::server_ = nullptr;
std::string S3SinkS3rverTest::start_problem_;
bool S3SinkS3rverTest::skip_ = false;

TEST_F(S3SinkS3rverTest, StoresEachBatchOnceUnderTheDocumentedKeys) {
  S3Config config = LocalConfig();
  // A prefix that needs percent-encoding on the wire and in the canonical request.
  config.prefix = "org_acme/audit logs+2026";
  config.storage_class = "STANDARD_IA";
  S3Sink sink(config, &http_, &clock_);

  const std::vector<SinkBatch> batches = {
      Batch({Event(1, "2026-11-29T02:03:04.000001Z"), Event(2, "2026-11-29T02:30:00Z"),
             Event(3, "2026-11-29T02:59:59.999999Z")}),
      Batch({Event(4, "2026-11-29T03:00:00Z"), Event(5, "2026-11-29T03:10:00Z")}),
      // Spans an hour boundary: the first event's hour names it.
      Batch({Event(6, "2026-11-29T03:59:59Z"), Event(7, "2026-11-29T04:00:01Z")}),
      Batch({Event(8, "2026-12-01T00:00:00Z")}),
  };
  for (const SinkBatch& batch : batches) {
    const DeliveryResult r = sink.Deliver(batch);
    ASSERT_EQ(r.outcome, DeliveryOutcome::kDelivered) << r.http_status << " " << r.detail;
    EXPECT_EQ(r.http_status, 200);
  }
  // The engine retries a batch whose answer it did not see: the same object is overwritten.
  const DeliveryResult retry = sink.Deliver(batches[0]);
  ASSERT_EQ(retry.outcome, DeliveryOutcome::kDelivered) << retry.detail;

  const std::string p = "org_acme/audit logs+2026/";
  std::vector<std::string> keys = ListKeys(config, p);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{
                      p + "2026/11/29/02/1-3.ndjson.gz", p + "2026/11/29/03/4-5.ndjson.gz",
                      p + "2026/11/29/03/6-7.ndjson.gz", p + "2026/12/01/00/8-8.ndjson.gz"}));

  std::map<std::string, int> seen;
  for (const std::string& key : keys) {
    const HttpResponse object = Get(config, key);
    ASSERT_EQ(object.status, 200) << key << ": " << object.body;
    std::map<std::string, std::string> headers(object.headers.begin(), object.headers.end());
    EXPECT_EQ(headers["content-type"], "application/x-ndjson") << key;
    EXPECT_EQ(headers["content-encoding"], "gzip") << key;
    const std::optional<std::string> ndjson = Gunzip(object.body);
    ASSERT_TRUE(ndjson.has_value()) << key;
    ASSERT_FALSE(ndjson->empty());
    EXPECT_EQ(ndjson->back(), '\n');
    size_t start = 0;
    while (start < ndjson->size()) {
      const size_t nl = ndjson->find('\n', start);
      ++seen[ndjson->substr(start, nl - start)];
      start = nl + 1;
    }
  }
  std::map<std::string, int> expected;
  for (const SinkBatch& batch : batches) {
    for (const SinkEvent& event : batch.events) expected[event.json] = 1;
  }
  EXPECT_EQ(seen, expected);
}

TEST_F(S3SinkS3rverTest, SessionTokenIsSentAndSigned) {
  S3Config config = LocalConfig();
  config.prefix = "token";
  config.session_token = "FQoGZXIvYXdzEXAMPLE/token+value==";
  S3Sink sink(config, &http_, &clock_);
  const DeliveryResult r = sink.Deliver(Batch({Event(1, "2026-11-29T02:03:04Z")}));
  EXPECT_EQ(r.outcome, DeliveryOutcome::kDelivered) << r.detail;
}

TEST_F(S3SinkS3rverTest, WrongSecretFailsWithSignatureDoesNotMatch) {
  // Refused by serve.js's signature check (s3rver 3.7.1 itself would accept it).
  S3Config config = LocalConfig();
  config.secret_access_key = "not-the-secret";
  S3Sink sink(config, &http_, &clock_);
  const DeliveryResult r = sink.Deliver(Batch({Event(1, "2026-11-29T02:03:04Z")}));
  EXPECT_EQ(r.outcome, DeliveryOutcome::kFailed);
  EXPECT_EQ(r.http_status, 403);
  EXPECT_NE(r.detail.find("HTTP 403 SignatureDoesNotMatch: "), std::string::npos) << r.detail;
  EXPECT_EQ(r.detail.find("not-the-secret"), std::string::npos);
}

TEST_F(S3SinkS3rverTest, UnknownAccessKeyFailsWithInvalidAccessKeyId) {
  S3Config config = LocalConfig();
  config.access_key_id = "AKIANOTKNOWN";
  S3Sink sink(config, &http_, &clock_);
  const DeliveryResult r = sink.Deliver(Batch({Event(1, "2026-11-29T02:03:04Z")}));
  EXPECT_EQ(r.outcome, DeliveryOutcome::kFailed);
  EXPECT_EQ(r.http_status, 403);
  EXPECT_NE(r.detail.find("InvalidAccessKeyId"), std::string::npos) << r.detail;
}

TEST_F(S3SinkS3rverTest, MissingBucketFailsWithNoSuchBucket) {
  S3Config config = LocalConfig();
  config.bucket = "no-such-bucket";
  S3Sink sink(config, &http_, &clock_);
  const DeliveryResult r = sink.Deliver(Batch({Event(1, "2026-11-29T02:03:04Z")}));
  EXPECT_EQ(r.outcome, DeliveryOutcome::kFailed);
  EXPECT_EQ(r.http_status, 404);
  EXPECT_NE(r.detail.find("HTTP 404 NoSuchBucket"), std::string::npos) << r.detail;
}

TEST_F(S3SinkS3rverTest, ConfigurationErrorsTheStoreReportsFailTheStream) {
  S3Config config = LocalConfig();
  config.region = "eu-west-1";  // the store is in us-east-1
  DeliveryResult r =
      S3Sink(config, &http_, &clock_).Deliver(Batch({Event(1, "2026-11-29T02:03:04Z")}));
  EXPECT_EQ(r.outcome, DeliveryOutcome::kFailed);
  EXPECT_NE(r.detail.find("HTTP 400 AuthorizationHeaderMalformed"), std::string::npos) << r.detail;

  config = LocalConfig();
  config.storage_class = "NO_SUCH_CLASS";
  r = S3Sink(config, &http_, &clock_).Deliver(Batch({Event(1, "2026-11-29T02:03:04Z")}));
  EXPECT_EQ(r.outcome, DeliveryOutcome::kFailed);
  EXPECT_NE(r.detail.find("InvalidStorageClass"), std::string::npos) << r.detail;
}

TEST_F(S3SinkS3rverTest, ClockSkewIsRefused) {
  ManualClock skewed(clock_.NowMicros() - 3'600'000'000LL);
  const DeliveryResult r =
      S3Sink(LocalConfig(), &http_, &skewed).Deliver(Batch({Event(1, "2026-11-29T02:03:04Z")}));
  EXPECT_EQ(r.outcome, DeliveryOutcome::kFailed);
  EXPECT_NE(r.detail.find("RequestTimeTooSkewed"), std::string::npos) << r.detail;
}

TEST_F(S3SinkS3rverTest, UnreachableStoreIsRetried) {
  S3Config config = LocalConfig();
  config.endpoint = "http://127.0.0.1:1";
  const DeliveryResult r =
      S3Sink(config, &http_, &clock_).Deliver(Batch({Event(1, "2026-11-29T02:03:04Z")}));
  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(r.http_status, 0);
}

}  // namespace
}  // namespace annals::sinks::s3
