// The SigV4 signer against AWS's published Signature Version 4 test suite
// (tests/testdata/sigv4/<case>/<case>.{req,creq,sts,authz}: credentials AKIDEXAMPLE, region
// us-east-1, service "service", 2015-08-30T12:36:00Z) and against the S3 examples of AWS's
// "Signature Calculations for the Authorization Header: Transferring Payload in a Single
// Chunk" (AKIAIOSFODNN7EXAMPLE, examplebucket, 2013-05-24T00:00:00Z).
#include "sinks/s3/sigv4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "domain/time.h"

namespace annals::sinks::s3 {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSuiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TimestampUs At(const char* rfc3339) {
  Result<TimestampUs> t = ParseRfc3339(rfc3339);
  EXPECT_TRUE(t.ok()) << rfc3339;
  return t.ok() ? *t : 0;
}

SigV4Request Req(std::string method, std::string path, SigV4Params headers, SigV4Params query = {},
                 std::string payload_sha256 = std::string(kEmptyPayloadSha256)) {
  SigV4Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.headers = std::move(headers);
  r.query = std::move(query);
  r.payload_sha256 = std::move(payload_sha256);
  return r;
}

SigV4Options Opts(std::string region, std::string service, UriPathMode mode = UriPathMode::kS3,
                  bool add_content_sha256 = false) {
  SigV4Options o;
  o.region = std::move(region);
  o.service = std::move(service);
  o.path_mode = mode;
  o.add_content_sha256_header = add_content_sha256;
  return o;
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Unescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && Hex(text[i + 1]) >= 0 && Hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(Hex(text[i + 1]) * 16 + Hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// One request of the suite, parsed from its .req file, with the x-amz-date and
// x-amz-security-token headers taken out: the signer adds those itself, from the time and
// the credentials it is given.
struct SuiteRequest {
  SigV4Request request;
  TimestampUs time = 0;
  std::string session_token;
};

// The .req format is an HTTP/1.1 request as text: "METHOD URI HTTP/1.1" (the URI may contain
// raw spaces and UTF-8), "Name:value" header lines, a blank line, the body. A line that starts
// with whitespace continues the header above it (obsolete line folding); the suite's expected
// canonical request treats each folded line as one more value of that header, which is how
// it is passed to the signer here.
SuiteRequest ParseReq(const std::string& text) {
  SuiteRequest out;
  std::vector<std::string> lines;
  size_t start = 0;
  size_t body_start = std::string::npos;
  while (start <= text.size()) {
    const size_t nl = text.find('\n', start);
    const std::string line = text.substr(start, nl == std::string::npos ? nl : nl - start);
    if (line.empty() && !lines.empty()) {
      body_start = nl == std::string::npos ? text.size() : nl + 1;
      break;
    }
    lines.push_back(line);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  const std::string& first = lines.at(0);
  const size_t sp1 = first.find(' ');
  const size_t sp2 = first.rfind(' ');
  out.request.method = first.substr(0, sp1);
  const std::string uri = first.substr(sp1 + 1, sp2 - sp1 - 1);
  const size_t q = uri.find('?');
  out.request.path = uri.substr(0, q);
  if (q != std::string::npos) {
    std::string_view query = std::string_view(uri).substr(q + 1);
    while (!query.empty()) {
      const size_t amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      const size_t eq = pair.find('=');
      out.request.query.emplace_back(
          Unescape(pair.substr(0, eq)),
          eq == std::string_view::npos ? std::string() : Unescape(pair.substr(eq + 1)));
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  SigV4Params headers;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line[0] == ' ' || line[0] == '\t') {
      headers.emplace_back(headers.back().first, line);
      continue;
    }
    const size_t colon = line.find(':');
    headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  for (auto& [name, value] : headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (lower == "x-amz-date") {
      // 20150830T123600Z
      const std::string rfc = value.substr(0, 4) + "-" + value.substr(4, 2) + "-" +
                              value.substr(6, 2) + "T" + value.substr(9, 2) + ":" +
                              value.substr(11, 2) + ":" + value.substr(13, 2) + "Z";
      out.time = At(rfc.c_str());
    } else if (lower == "x-amz-security-token") {
      out.session_token = value;
    } else {
      out.request.headers.emplace_back(name, value);
    }
  }
  const std::string body = body_start == std::string::npos ? "" : text.substr(body_start);
  out.request.payload_sha256 = HexEncode(Sha256(body));
  return out;
}

std::vector<std::string> SuiteCases() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(fs::path(ANNALS_TESTDATA) / "sigv4")) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class SigV4Suite : public ::testing::TestWithParam<std::string> {};

TEST_P(SigV4Suite, CanonicalRequestStringToSignAndAuthorizationMatch) {
  const std::string& name = GetParam();
  const fs::path dir = fs::path(ANNALS_TESTDATA) / "sigv4" / name;
  const SuiteRequest parsed = ParseReq(ReadFile(dir / (name + ".req")));

  const SigV4Options options = Opts("us-east-1", "service", UriPathMode::kNormalizedDoubleEncoded);
  Result<SigV4Signature> sig =
      SignV4(parsed.request, SigV4Credentials{"AKIDEXAMPLE", kSuiteSecret, parsed.session_token},
             options, parsed.time);
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_EQ(sig->canonical_request, ReadFile(dir / (name + ".creq")));
  EXPECT_EQ(sig->string_to_sign, ReadFile(dir / (name + ".sts")));
  EXPECT_EQ(sig->authorization, ReadFile(dir / (name + ".authz")));
  EXPECT_EQ(sig->headers_to_add.front(),
            (std::pair<std::string, std::string>("x-amz-date", "20150830T123600Z")));
  EXPECT_EQ(sig->headers_to_add.back().first, "authorization");
  EXPECT_EQ(sig->headers_to_add.back().second, sig->authorization);
}

INSTANTIATE_TEST_SUITE_P(Aws, SigV4Suite, ::testing::ValuesIn(SuiteCases()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(SigV4Suite, HoldsTheCasesItClaims) {
  const std::vector<std::string> names = SuiteCases();
  for (const char* required : {"get-vanilla",
                               "get-vanilla-query",
                               "get-vanilla-query-order-key-case",
                               "get-vanilla-query-unreserved",
                               "get-vanilla-utf8-query",
                               "get-utf8",
                               "get-space",
                               "get-slash",
                               "get-slashes",
                               "get-slash-dot-slash",
                               "get-slash-pointless-dot",
                               "get-relative",
                               "get-relative-relative",
                               "post-vanilla",
                               "post-vanilla-query",
                               "post-header-key-case",
                               "post-header-key-sort",
                               "post-header-value-case",
                               "post-x-www-form-urlencoded",
                               "post-x-www-form-urlencoded-parameters",
                               "get-header-key-duplicate",
                               "get-header-value-multiline",
                               "get-header-value-order",
                               "get-header-value-trim",
                               "post-sts-header-before",
                               "post-sts-header-after"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), required), names.end()) << required;
  }
}

// --- S3 ------------------------------------------------------------------------------------

constexpr const char* kS3Key = "AKIAIOSFODNN7EXAMPLE";
constexpr const char* kS3Secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

Result<SigV4Signature> SignS3Example(SigV4Request request) {
  return SignV4(request, SigV4Credentials{kS3Key, kS3Secret, ""},
                Opts("us-east-1", "s3", UriPathMode::kS3, /*add_content_sha256=*/true),
                At("2013-05-24T00:00:00Z"));
}

TEST(SigV4S3Examples, GetObject) {
  Result<SigV4Signature> sig = SignS3Example(Req(
      "GET", "/test.txt", {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}}));
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_EQ(sig->canonical_request,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sig->string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(sig->signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(sig->authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
            "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4S3Examples, PutObject) {
  const std::string body = "Welcome to Amazon S3.";
  const SigV4Params headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                               {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                               {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
  Result<SigV4Signature> sig =
      SignS3Example(Req("PUT", "/test$file.text", headers, {}, HexEncode(Sha256(body))));
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_EQ(sig->canonical_request,
            "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:"
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
            "x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(sig->string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
  EXPECT_EQ(sig->signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  // The same key already percent-encoded on the wire signs the same.
  Result<SigV4Signature> encoded =
      SignS3Example(Req("PUT", "/test%24file.text", headers, {}, HexEncode(Sha256(body))));
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(encoded->signature, sig->signature);
}

TEST(SigV4S3Examples, GetBucketLifecycle) {
  Result<SigV4Signature> sig = SignS3Example(
      Req("GET", "/", {{"Host", "examplebucket.s3.amazonaws.com"}}, {{"lifecycle", ""}}));
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_EQ(sig->canonical_request,
            "GET\n/\nlifecycle=\nhost:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sig->signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4S3Examples, ListObjects) {
  Result<SigV4Signature> sig =
      SignS3Example(Req("GET", "/", {{"Host", "examplebucket.s3.amazonaws.com"}},
                        {{"prefix", "J"}, {"max-keys", "2"}}));
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_EQ(sig->string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7");
  EXPECT_EQ(sig->signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

// The second line of a canonical request.
std::string CanonicalUriOf(const std::string& canonical_request) {
  const size_t start = canonical_request.find('\n') + 1;
  return canonical_request.substr(start, canonical_request.find('\n', start) - start);
}

// The suite's requests signed the S3 way (no normalisation, single encoding); the expected
// signatures are those AWS's CRT signer publishes for its "-unnormalized" variants.
TEST(SigV4S3Paths, AreNeitherNormalizedNorDoubleEncoded) {
  const struct {
    const char* path;
    const char* canonical_uri;
    const char* signature;
  } kCases[] = {
      {"//example//", "//example//",
       "87cca117541a147f6df867677d98a7d80dff226d2bfca9e4ffa899665623c7e5"},
      {"/example space/", "/example%20space/",
       "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
      {"/example%20space/", "/example%20space/",
       "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
  };
  for (const auto& c : kCases) {
    Result<SigV4Signature> sig = SignV4(Req("GET", c.path, {{"Host", "example.amazonaws.com"}}),
                                        SigV4Credentials{"AKIDEXAMPLE", kSuiteSecret, ""},
                                        Opts("us-east-1", "service"), At("2015-08-30T12:36:00Z"));
    ASSERT_TRUE(sig.ok()) << sig.status().ToString();
    EXPECT_EQ(CanonicalUriOf(sig->canonical_request), c.canonical_uri) << c.path;
    EXPECT_EQ(sig->signature, c.signature) << c.path;
  }
  // Double encoding for other services: the '%' of an encoded path is encoded again.
  Result<SigV4Signature> doubled =
      SignV4(Req("GET", "/a%20b/../c%2Fd", {{"Host", "example.amazonaws.com"}}),
             SigV4Credentials{"AKIDEXAMPLE", kSuiteSecret, ""},
             Opts("us-east-1", "service", UriPathMode::kNormalizedDoubleEncoded),
             At("2015-08-30T12:36:00Z"));
  ASSERT_TRUE(doubled.ok());
  EXPECT_EQ(CanonicalUriOf(doubled->canonical_request), "/c%252Fd");
}

TEST(SigV4, SignsTheSessionTokenAndTheContentHashItAdds) {
  Result<SigV4Signature> sig =
      SignV4(Req("PUT", "/k", {{"Host", "b.s3.eu-west-1.amazonaws.com"}}, {},
                 std::string(kUnsignedPayload)),
             SigV4Credentials{"AKID", "secret", "token/with+chars=="},
             Opts("eu-west-1", "s3", UriPathMode::kS3, /*add_content_sha256=*/true),
             At("2026-01-02T03:04:05.999999Z"));
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  ASSERT_EQ(sig->headers_to_add.size(), 4u);
  EXPECT_EQ(sig->headers_to_add[0].second, "20260102T030405Z");
  EXPECT_EQ(sig->headers_to_add[1],
            (std::pair<std::string, std::string>("x-amz-content-sha256", "UNSIGNED-PAYLOAD")));
  EXPECT_EQ(sig->headers_to_add[2],
            (std::pair<std::string, std::string>("x-amz-security-token", "token/with+chars==")));
  EXPECT_EQ(sig->signed_headers, "host;x-amz-content-sha256;x-amz-date;x-amz-security-token");
  EXPECT_NE(sig->authorization.find("Credential=AKID/20260102/eu-west-1/s3/aws4_request, "),
            std::string::npos);
}

TEST(SigV4, RefusesMalformedRequestsWithoutEchoingSecrets) {
  const SigV4Credentials creds{"AKID", "very-secret", ""};
  const SigV4Options options = Opts("us-east-1", "s3");
  const TimestampUs now = At("2026-01-02T03:04:05Z");
  auto error_of = [&](const SigV4Request& r, const SigV4Credentials& c, const SigV4Options& o,
                      TimestampUs t) -> std::string {
    Result<SigV4Signature> sig = SignV4(r, c, o, t);
    if (sig.ok()) return "ok";
    EXPECT_EQ(sig.status().error_code(), "invalid_signing_request");
    EXPECT_EQ(sig.status().message().find("very-secret"), std::string::npos);
    return sig.status().message();
  };
  auto request_error = [&](const SigV4Request& r) { return error_of(r, creds, options, now); };
  const SigV4Params host = {{"host", "h"}};
  EXPECT_EQ(request_error(Req("GET", "/", host)), "ok");
  EXPECT_NE(request_error(Req("", "/", host)), "ok");
  EXPECT_NE(request_error(Req("GET", "x", host)), "ok");
  EXPECT_NE(request_error(Req("GET", "/a?b", host)), "ok");
  EXPECT_NE(request_error(Req("GET", "/", {})), "ok");  // no host
  EXPECT_NE(request_error(Req("GET", "/", {{"host", "h"}, {"a b", "v"}})), "ok");
  EXPECT_NE(request_error(Req("GET", "/", {{"host", "h"}, {"x", "a\r\nb"}})), "ok");
  EXPECT_NE(request_error(Req("GET", "/", {{"host", "h"}, {"X-Amz-Date", "x"}})), "ok");
  EXPECT_NE(request_error(Req("GET", "/", {{"host", "h"}, {"Authorization", "x"}})), "ok");
  EXPECT_NE(request_error(Req("GET", "/", host, {}, "abc")), "ok");
  EXPECT_NE(request_error(Req("GET", "/", host, {}, std::string(64, 'A'))), "ok");
  EXPECT_NE(error_of(Req("GET", "/", host), {"", "s", ""}, options, now), "ok");
  EXPECT_NE(error_of(Req("GET", "/", host), {"A/K", "s", ""}, options, now), "ok");
  EXPECT_NE(error_of(Req("GET", "/", host), {"AK", "", ""}, options, now), "ok");
  EXPECT_NE(error_of(Req("GET", "/", host), {"AK", "s", "a b"}, options, now), "ok");
  EXPECT_NE(error_of(Req("GET", "/", host), creds, Opts("US East", "s3"), now), "ok");
  EXPECT_NE(error_of(Req("GET", "/", host), creds, Opts("us-east-1", ""), now), "ok");
  EXPECT_NE(error_of(Req("GET", "/", host), creds, options, -1), "ok");
  // The signer owns x-amz-content-sha256 and x-amz-security-token when it adds them.
  EXPECT_NE(error_of(Req("GET", "/", {{"host", "h"}, {"x-amz-content-sha256", "x"}}), creds,
                     Opts("us-east-1", "s3", UriPathMode::kS3, true), now),
            "ok");
  EXPECT_NE(error_of(Req("GET", "/", {{"host", "h"}, {"X-Amz-Security-Token", "x"}}),
                     {"AK", "s", "tok"}, options, now),
            "ok");
}

TEST(SigV4, UriEncodeKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(UriEncode("AZaz09-._~", true), "AZaz09-._~");
  EXPECT_EQ(UriEncode("a b+c*d%e/f", true), "a%20b%2Bc%2Ad%25e%2Ff");
  EXPECT_EQ(UriEncode("a/b c", false), "a/b%20c");
  EXPECT_EQ(UriEncode("\xe1\x88\xb4", true), "%E1%88%B4");
  EXPECT_EQ(CanonicalQueryString({{"b", "2"}, {"a", "x y"}, {"a", "1"}, {"c", ""}}),
            "a=1&a=x%20y&b=2&c=");
  EXPECT_EQ(AmzDate(At("1970-01-01T00:00:00Z")), "19700101T000000Z");
}

}  // namespace
}  // namespace annals::sinks::s3
