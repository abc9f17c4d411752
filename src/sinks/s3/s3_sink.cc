#include "sinks/s3/s3_sink.h"

#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>
#include <climits>
#include <deque>
#include <exception>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>

#include "common/sha256.h"
#include "domain/time.h"

namespace annals::sinks::s3 {
namespace {

constexpr std::string_view kConfigError = "invalid_stream_config";

// --- configuration ---------------------------------------------------------------------

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool IsVisibleAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool EndsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

bool LooksLikeIpv4(std::string_view name) {
  int parts = 0;
  size_t start = 0;
  while (true) {
    const size_t dot = name.find('.', start);
    const std::string_view part =
        name.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (part.empty() || part.size() > 3 ||
        !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
    ++parts;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts == 4;
}

// Returns why `bucket` breaks S3's naming rules, or "" when it does not.
std::string BucketProblem(std::string_view bucket, bool aws_endpoint) {
  if (bucket.size() < 3 || bucket.size() > 63) return "must be 3-63 characters long";
  if (!std::all_of(bucket.begin(), bucket.end(),
                   [](char c) { return IsLowerAlnum(c) || c == '.' || c == '-'; })) {
    return "may contain only lowercase letters, digits, '.' and '-'";
  }
  if (!IsLowerAlnum(bucket.front()) || !IsLowerAlnum(bucket.back())) {
    return "must start and end with a lowercase letter or a digit";
  }
  if (bucket.find("..") != std::string_view::npos) return "must not contain \"..\"";
  if (LooksLikeIpv4(bucket)) return "must not be formatted as an IP address";
  if (aws_endpoint) {
    for (std::string_view prefix : {"xn--", "sthree-", "amzn-s3-demo-"}) {
      if (StartsWith(bucket, prefix)) return "must not start with \"" + std::string(prefix) + "\"";
    }
    for (std::string_view suffix : {"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"}) {
      if (EndsWith(bucket, suffix)) return "must not end with \"" + std::string(suffix) + "\"";
    }
  }
  return "";
}

constexpr std::array<std::string_view, 11> kAwsStorageClasses = {
    "STANDARD",       "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
    "GLACIER",        "DEEP_ARCHIVE",       "OUTPOSTS",    "GLACIER_IR", "SNOW",
    "EXPRESS_ONEZONE"};

struct Endpoint {
  std::string normalized;  // scheme://host[:port]
  bool https = true;
  bool ip_host = false;
};

// Parses an endpoint base URL; returns the problem in *problem when it is not acceptable.
Endpoint ParseEndpoint(std::string_view text, std::string* problem) {
  Endpoint out;
  boost::system::result<boost::urls::url_view> parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed) {
    *problem = "must be an absolute http:// or https:// URL";
    return out;
  }
  const boost::urls::url_view url = *parsed;
  std::string scheme(url.scheme().data(), url.scheme().size());
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), ::tolower);
  if (scheme != "http" && scheme != "https") {
    *problem = "must use http or https";
    return out;
  }
  out.https = scheme == "https";
  if (!url.has_authority() || url.encoded_host().empty()) {
    *problem = "must name a host";
    return out;
  }
  if (url.has_userinfo()) {
    *problem =
        "must not contain user information (credentials go in access_key_id and "
        "secret_access_key)";
    return out;
  }
  if (url.has_query() || url.has_fragment()) {
    *problem = "must not have a query or a fragment";
    return out;
  }
  const std::string_view path(url.encoded_path().data(), url.encoded_path().size());
  if (!path.empty() && path != "/") {
    *problem = "must not have a path (the bucket goes in bucket)";
    return out;
  }
  std::string host(url.encoded_host().data(), url.encoded_host().size());
  if (host.find('%') != std::string::npos) {
    *problem = "must not have a percent-encoded host";
    return out;
  }
  std::transform(host.begin(), host.end(), host.begin(), ::tolower);
  out.ip_host = url.host_type() == boost::urls::host_type::ipv4 ||
                url.host_type() == boost::urls::host_type::ipv6 ||
                url.host_type() == boost::urls::host_type::ipvfuture;
  out.normalized = scheme + "://" + host;
  if (url.has_port()) {
    if (url.port().empty() || url.port().size() > 5 || url.port_number() == 0) {
      *problem = "must have a port between 1 and 65535";
      return out;
    }
    const uint16_t number = url.port_number();
    if (!((out.https && number == 443) || (!out.https && number == 80))) {
      out.normalized += ":" + std::to_string(number);
    }
  }
  return out;
}

class ConfigParser {
 public:
  Result<S3Config> Parse(const boost::json::value& value) {
    const boost::json::object* obj = value.if_object();
    if (obj == nullptr) {
      Add("/config", "must be an object");
      return Finish();
    }
    static constexpr std::array<std::string_view, 9> kKnown = {
        "bucket",        "region",   "prefix",     "access_key_id", "secret_access_key",
        "session_token", "endpoint", "path_style", "storage_class"};
    for (const auto& entry : *obj) {
      const std::string_view key(entry.key().data(), entry.key().size());
      if (std::find(kKnown.begin(), kKnown.end(), key) == kKnown.end()) {
        Add("/config/" + std::string(key),
            "is not a field of an s3 stream (fields: bucket, region, prefix, access_key_id, "
            "secret_access_key, session_token, endpoint, path_style, storage_class)");
      }
    }

    S3Config config;
    Endpoint endpoint;
    bool have_endpoint = false;
    if (const std::string* text = String(*obj, "endpoint", false)) {
      std::string problem;
      endpoint = ParseEndpoint(*text, &problem);
      if (!problem.empty()) {
        Add("/config/endpoint", problem);
      } else {
        config.endpoint = endpoint.normalized;
        have_endpoint = true;
      }
    }
    if (const boost::json::value* v = obj->if_contains("path_style")) {
      if (!v->is_bool()) {
        Add("/config/path_style", "must be true or false");
      } else {
        config.path_style = v->get_bool();
      }
    }
    if (have_endpoint && endpoint.ip_host && !config.path_style) {
      Add("/config/path_style",
          "must be true when the endpoint's host is an IP address (a bucket cannot be a "
          "subdomain of it)");
    }
    const bool aws = !have_endpoint;
    const bool https = aws || endpoint.https;

    if (const std::string* bucket = String(*obj, "bucket", true)) {
      const std::string problem = BucketProblem(*bucket, aws);
      if (!problem.empty()) {
        Add("/config/bucket", problem);
      } else if (bucket->find('.') != std::string::npos && https && !config.path_style) {
        Add("/config/bucket",
            "contains '.', which the store's TLS certificate does not cover in a "
            "virtual-hosted address: set path_style to true");
      } else {
        config.bucket = *bucket;
      }
    }
    if (const std::string* region = String(*obj, "region", true)) {
      if (region->empty() || region->size() > 64 ||
          !std::all_of(region->begin(), region->end(),
                       [](char c) { return IsLowerAlnum(c) || c == '-'; })) {
        Add("/config/region", "must be 1-64 characters of a-z, 0-9 and '-' (e.g. \"us-east-1\")");
      } else {
        config.region = *region;
      }
    }
    if (const std::string* prefix = String(*obj, "prefix", false)) {
      std::string_view p = *prefix;
      while (!p.empty() && p.front() == '/') p.remove_prefix(1);
      while (!p.empty() && p.back() == '/') p.remove_suffix(1);
      const std::string problem = PrefixProblem(p);
      if (!problem.empty()) {
        Add("/config/prefix", problem);
      } else {
        config.prefix = std::string(p);
      }
    }
    if (const std::string* id = String(*obj, "access_key_id", true)) {
      if (id->empty() || id->size() > 128 || !IsVisibleAscii(*id) ||
          id->find_first_of("/,") != std::string::npos) {
        Add("/config/access_key_id", "must be 1-128 visible ASCII characters without '/' or ','");
      } else {
        config.access_key_id = *id;
      }
    }
    if (const std::string* secret = String(*obj, "secret_access_key", true)) {
      if (secret->empty() || secret->size() > 256 || !IsVisibleAscii(*secret)) {
        Add("/config/secret_access_key", "must be 1-256 visible ASCII characters");
      } else {
        config.secret_access_key = *secret;
      }
    }
    if (const std::string* token = String(*obj, "session_token", false)) {
      if (token->empty() || token->size() > 8192 || !IsVisibleAscii(*token)) {
        Add("/config/session_token", "must be 1-8192 visible ASCII characters");
      } else {
        config.session_token = *token;
      }
    }
    if (const std::string* sc = String(*obj, "storage_class", false)) {
      if (aws) {
        if (std::find(kAwsStorageClasses.begin(), kAwsStorageClasses.end(), *sc) ==
            kAwsStorageClasses.end()) {
          Add("/config/storage_class",
              "must be one of STANDARD, REDUCED_REDUNDANCY, STANDARD_IA, ONEZONE_IA, "
              "INTELLIGENT_TIERING, GLACIER, DEEP_ARCHIVE, OUTPOSTS, GLACIER_IR, SNOW, "
              "EXPRESS_ONEZONE");
        } else {
          config.storage_class = *sc;
        }
      } else if (sc->empty() || sc->size() > 64 || !std::all_of(sc->begin(), sc->end(), [](char c) {
                   return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
                 })) {
        Add("/config/storage_class", "must be 1-64 characters of A-Z, 0-9 and '_'");
      } else {
        config.storage_class = *sc;
      }
    }
    if (!details_.empty()) return Finish();
    return config;
  }

 private:
  // The string at `key`, or nullptr (with a detail when it is required or not a string).
  const std::string* String(const boost::json::object& obj, std::string_view key, bool required) {
    const boost::json::value* v = obj.if_contains(key);
    if (v == nullptr) {
      if (required) Add("/config/" + std::string(key), "is required");
      return nullptr;
    }
    const boost::json::string* s = v->if_string();
    if (s == nullptr) {
      Add("/config/" + std::string(key), "must be a string");
      return nullptr;
    }
    strings_.emplace_back(s->data(), s->size());
    return &strings_.back();
  }

  static std::string PrefixProblem(std::string_view prefix) {
    if (prefix.size() > 900) return "must be at most 900 bytes long";
    if (std::any_of(prefix.begin(), prefix.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
      return "must not contain control characters";
    }
    if (prefix.empty()) return "";
    size_t start = 0;
    while (true) {
      const size_t slash = prefix.find('/', start);
      const std::string_view segment =
          prefix.substr(start, slash == std::string_view::npos ? slash : slash - start);
      if (segment.empty()) return "must not contain \"//\"";
      if (segment == "." || segment == "..") {
        return "must not contain \".\" or \"..\" segments (HTTP clients rewrite them)";
      }
      if (slash == std::string_view::npos) return "";
      start = slash + 1;
    }
  }

  void Add(std::string path, std::string message) {
    details_.push_back(ErrorDetail{std::move(path), std::move(message)});
  }

  Status Finish() {
    const ErrorDetail& first = details_.front();
    std::string message =
        "Invalid s3 stream configuration: " + first.path.substr(1) + " " + first.message + ".";
    if (details_.size() > 1) {
      message += " (" + std::to_string(details_.size() - 1) + " more in details)";
    }
    return Status::InvalidArgument(std::move(message), std::string(kConfigError),
                                   std::move(details_));
  }

  std::vector<ErrorDetail> details_;
  std::deque<std::string> strings_;
};

// --- delivery --------------------------------------------------------------------------

Result<std::string> Gzip(std::string_view data) {
  if (data.size() > UINT_MAX / 2) return Status::Internal("batch too large to compress at once");
  z_stream zs{};
  // windowBits 15 + 16: a gzip wrapper with a zeroed header (no name, mtime 0).
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return Status::Internal("zlib deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 64);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const size_t written = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return Status::Internal("zlib deflate did not finish");
  out.resize(written);
  return out;
}

std::string Base64Md5(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
  unsigned char encoded[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  const int n = EVP_EncodeBlock(encoded, digest, static_cast<int>(len));
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<size_t>(n));
}

std::string XmlUnescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out.push_back(text[i]);
      continue;
    }
    static constexpr std::pair<std::string_view, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    bool replaced = false;
    for (const auto& [entity, c] : kEntities) {
      if (text.substr(i, entity.size()) == entity) {
        out.push_back(c);
        i += entity.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out.push_back('&');
  }
  return out;
}

std::string ElementText(std::string_view xml, std::string_view name) {
  const std::string open = "<" + std::string(name) + ">";
  const std::string close = "</" + std::string(name) + ">";
  const size_t start = xml.find(open);
  if (start == std::string_view::npos) return "";
  const size_t end = xml.find(close, start + open.size());
  if (end == std::string_view::npos) return "";
  return XmlUnescape(xml.substr(start + open.size(), end - start - open.size()));
}

// One line, printable, at most `limit` bytes.
std::string OneLine(std::string_view text, size_t limit) {
  std::string out;
  for (char c : text) {
    if (out.size() >= limit) {
      out += "…";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  return out;
}

std::optional<std::string_view> FindHeader(const HttpHeaders& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return ::tolower(a) == ::tolower(b);
        })) {
      return std::string_view(v);
    }
  }
  return std::nullopt;
}

bool IsOneOf(std::string_view code, std::initializer_list<std::string_view> codes) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

}  // namespace

Result<S3Config> ParseS3Config(const boost::json::value& config) {
  try {
    ConfigParser parser;
    return parser.Parse(config);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("Invalid s3 stream configuration: ") + e.what(),
                                   std::string(kConfigError));
  }
}

const std::vector<std::string>& S3SecretFields() {
  static const std::vector<std::string> kFields = {"access_key_id", "secret_access_key",
                                                   "session_token"};
  return kFields;
}

std::string S3ObjectKey(std::string_view prefix, const SinkBatch& batch) {
  // "YYYY-MM-DDThh:..." of the first event's received_at, in UTC.
  const std::string t = FormatRfc3339Micros(batch.events.front().received_at);
  std::string key;
  if (!prefix.empty()) {
    key.append(prefix);
    key.push_back('/');
  }
  key += t.substr(0, 4) + "/" + t.substr(5, 2) + "/" + t.substr(8, 2) + "/" + t.substr(11, 2) +
         "/" + std::to_string(batch.first_seq()) + "-" + std::to_string(batch.last_seq()) +
         ".ndjson.gz";
  return key;
}

Result<HttpRequest> BuildS3Request(const S3Config& config, const S3RequestSpec& spec,
                                   TimestampUs now) {
  const std::string endpoint =
      config.endpoint.empty() ? "https://s3." + config.region + ".amazonaws.com" : config.endpoint;
  const size_t scheme_end = endpoint.find("://");
  const std::string scheme = endpoint.substr(0, scheme_end);
  const std::string host_port = endpoint.substr(scheme_end + 3);
  const std::string authority = config.path_style ? host_port : config.bucket + "." + host_port;
  std::string path = config.path_style ? "/" + config.bucket : "";
  if (!spec.key.empty() || !config.path_style) path += "/" + UriEncode(spec.key, false);

  SigV4Request to_sign{.method = spec.method,
                       .path = path,
                       .query = spec.query,
                       .headers = {{"host", authority}},
                       .payload_sha256 = HexEncode(Sha256(spec.body))};
  for (const auto& header : spec.headers) to_sign.headers.push_back(header);
  Result<SigV4Signature> signature =
      SignV4(to_sign,
             SigV4Credentials{config.access_key_id, config.secret_access_key, config.session_token},
             SigV4Options{.region = config.region,
                          .service = "s3",
                          .path_mode = UriPathMode::kS3,
                          .add_content_sha256_header = true},
             now);
  if (!signature.ok()) return signature.status();

  HttpRequest request;
  request.method = spec.method;
  request.url = scheme + "://" + authority + path;
  if (!spec.query.empty()) request.url += "?" + CanonicalQueryString(spec.query);
  request.headers = spec.headers;
  for (auto& header : signature->headers_to_add) request.headers.push_back(std::move(header));
  request.body = spec.body;
  return request;
}

S3ErrorBody ParseS3ErrorBody(std::string_view body) {
  S3ErrorBody out;
  const size_t error = body.find("<Error>");
  if (error == std::string_view::npos) return out;
  const std::string_view xml = body.substr(error);
  out.code = ElementText(xml, "Code");
  out.message = ElementText(xml, "Message");
  return out;
}

DeliveryResult ClassifyS3Response(const HttpResponse& response) {
  DeliveryResult result;
  result.http_status = response.status;
  result.outcome = OutcomeForHttpStatus(response.status);
  if (result.outcome == DeliveryOutcome::kDelivered) return result;

  const S3ErrorBody error = ParseS3ErrorBody(response.body);
  std::string detail = "HTTP " + std::to_string(response.status);
  if (!error.code.empty()) detail += " " + error.code;
  if (!error.message.empty()) {
    detail += ": " + error.message;
  } else if (error.code.empty() && !response.body.empty()) {
    detail += ": " + OneLine(response.body, 200);
  }
  if (response.status == 301) {
    if (std::optional<std::string_view> region =
            FindHeader(response.headers, "x-amz-bucket-region")) {
      detail += " (the bucket is in region " + std::string(*region) + ")";
    }
  }
  result.detail = OneLine(detail, 1000);

  if (error.code == "RequestTimeout" || response.status == 307 ||
      (response.status == 409 && error.code == "OperationAborted")) {
    result.outcome = DeliveryOutcome::kRetry;
  } else if (response.status == 400 &&
             IsOneOf(error.code,
                     {"AuthorizationHeaderMalformed", "ExpiredToken", "InvalidToken",
                      "TokenRefreshRequired", "InvalidStorageClass", "InvalidBucketName"})) {
    result.outcome = DeliveryOutcome::kFailed;
  }
  if (std::optional<std::string_view> retry_after = FindHeader(response.headers, "retry-after")) {
    // Delta-seconds only; S3 itself does not send Retry-After, some compatible stores do.
    if (!retry_after->empty() && retry_after->size() <= 6 &&
        std::all_of(retry_after->begin(), retry_after->end(),
                    [](char c) { return c >= '0' && c <= '9'; })) {
      result.retry_after = std::chrono::seconds(std::stoi(std::string(*retry_after)));
    }
  }
  return result;
}

S3Sink::S3Sink(S3Config config, HttpClient* http, const Clock* clock, S3SinkOptions options)
    : config_(std::move(config)), http_(http), clock_(clock), options_(options) {}

DeliveryResult S3Sink::Deliver(const SinkBatch& batch) {
  DeliveryResult result;
  if (batch.events.empty()) {
    result.outcome = DeliveryOutcome::kDelivered;
    result.detail = "empty batch: nothing to store";
    return result;
  }
  const std::string key = S3ObjectKey(config_.prefix, batch);

  std::string ndjson;
  size_t total = 0;
  for (const SinkEvent& event : batch.events) total += event.json.size() + 1;
  ndjson.reserve(total);
  for (const SinkEvent& event : batch.events) {
    ndjson += event.json;
    ndjson.push_back('\n');
  }
  Result<std::string> body = Gzip(ndjson);
  if (!body.ok()) {
    result.outcome = DeliveryOutcome::kRetry;
    result.detail = body.status().message();
    return result;
  }
  ndjson = std::string();

  S3RequestSpec spec;
  spec.method = "PUT";
  spec.key = key;
  spec.headers = {{"content-type", "application/x-ndjson"},
                  {"content-encoding", "gzip"},
                  {"content-md5", Base64Md5(*body)}};
  if (!config_.storage_class.empty()) {
    spec.headers.emplace_back("x-amz-storage-class", config_.storage_class);
  }
  spec.body = std::move(*body);
  Result<HttpRequest> request = BuildS3Request(config_, spec, clock_->NowMicros());
  if (!request.ok()) {
    result.outcome = DeliveryOutcome::kFailed;
    result.detail = request.status().message();
    return result;
  }
  request->timeout = options_.request_timeout;

  Result<HttpResponse> response = http_->Send(*request);
  if (!response.ok()) {
    // No answer: a destination the policy refuses or a malformed URL cannot be fixed by
    // retrying; timeouts and connection failures can.
    result.outcome = response.status().code() == Code::kInvalidArgument ? DeliveryOutcome::kFailed
                                                                        : DeliveryOutcome::kRetry;
    result.detail = OneLine(response.status().message(), 1000);
    return result;
  }
  result = ClassifyS3Response(*response);
  if (result.outcome == DeliveryOutcome::kDelivered) {
    result.detail = OneLine("stored s3://" + config_.bucket + "/" + key, 1000);
  }
  return result;
}

}  // namespace annals::sinks::s3
