#include "sinks/s3/sigv4.h"

#include <algorithm>
#include <cstddef>
#include <map>

#include "common/sha256.h"
#include "common/signed_token.h"
#include "domain/time.h"

namespace annals::sinks::s3 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

Status Invalid(std::string message) {
  return Status::InvalidArgument(std::move(message), "invalid_signing_request");
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// RFC 9110 token characters (header field names).
bool IsTokenChar(unsigned char c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes; a '%' not followed by two hex digits stays a literal '%'.
std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::vector<std::string_view> SplitSegments(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      segments.push_back(path.substr(start));
      return segments;
    }
    segments.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

// `path` starts with '/'.
std::string CanonicalUri(std::string_view path, UriPathMode mode) {
  const std::vector<std::string_view> segments = SplitSegments(path.substr(1));
  std::string out;
  if (mode == UriPathMode::kS3) {
    for (std::string_view segment : segments) {
      out.push_back('/');
      out += UriEncode(PercentDecode(segment), /*encode_slash=*/true);
    }
    return out;
  }
  // RFC 3986 remove_dot_segments, with empty segments dropped as well; a path that ends in
  // '/', "." or ".." keeps a trailing slash.
  std::vector<std::string_view> kept;
  for (std::string_view segment : segments) {
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (!kept.empty()) kept.pop_back();
      continue;
    }
    kept.push_back(segment);
  }
  const std::string_view last = segments.back();
  const bool trailing_slash = last.empty() || last == "." || last == "..";
  for (std::string_view segment : kept) {
    out.push_back('/');
    out += UriEncode(segment, /*encode_slash=*/true);
  }
  if (out.empty() || trailing_slash) out.push_back('/');
  return out;
}

std::string ToLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Trims leading and trailing spaces and tabs and turns every run of them inside into one
// space.
std::string TrimAll(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

bool IsLowerHex64(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool IsScopeComponent(std::string_view text) {
  return !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool IsVisibleAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

Status ValidateInputs(const SigV4Request& request, const SigV4Credentials& credentials,
                      const SigV4Options& options, TimestampUs now) {
  if (request.method.empty() ||
      !std::all_of(request.method.begin(), request.method.end(),
                   [](char c) { return IsTokenChar(static_cast<unsigned char>(c)); })) {
    return Invalid("The request method must be a non-empty HTTP token.");
  }
  if (request.path.empty() || request.path.front() != '/') {
    return Invalid("The request path must start with '/'.");
  }
  if (request.path.find_first_of("?#") != std::string::npos ||
      !std::all_of(request.path.begin(), request.path.end(),
                   [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; })) {
    return Invalid("The request path must not contain a query, a fragment or control characters.");
  }
  if (!IsLowerHex64(request.payload_sha256) && request.payload_sha256 != kUnsignedPayload) {
    return Invalid(
        "The payload hash must be 64 lowercase hex digits (SHA-256) or UNSIGNED-PAYLOAD.");
  }
  if (credentials.access_key_id.empty() || credentials.access_key_id.size() > 256 ||
      !IsVisibleAscii(credentials.access_key_id) ||
      credentials.access_key_id.find_first_of("/,") != std::string::npos) {
    return Invalid("The access key id must be 1-256 visible ASCII characters without '/' or ','.");
  }
  if (credentials.secret_access_key.empty()) {
    return Invalid("The secret access key must not be empty.");
  }
  if (!credentials.session_token.empty() && !IsVisibleAscii(credentials.session_token)) {
    return Invalid("The session token must consist of visible ASCII characters.");
  }
  if (!IsScopeComponent(options.region)) {
    return Invalid("The region must be 1-64 characters of [a-z0-9-].");
  }
  if (!IsScopeComponent(options.service)) {
    return Invalid("The service must be 1-64 characters of [a-z0-9-].");
  }
  if (now < 0) return Invalid("The signing time must not be before 1970.");
  return Status::Ok();
}

}  // namespace

std::string UriEncode(std::string_view text, bool encode_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (c == '/' && !encode_slash)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0f]);
    }
  }
  return out;
}

std::string CanonicalQueryString(const SigV4Params& params) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(params.size());
  for (const auto& [name, value] : params) {
    encoded.emplace_back(UriEncode(name, true), UriEncode(value, true));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string AmzDate(TimestampUs now) {
  // "YYYY-MM-DDThh:mm:ss.ffffffZ" -> "YYYYMMDDThhmmssZ"
  const std::string t = FormatRfc3339Micros(now);
  return t.substr(0, 4) + t.substr(5, 2) + t.substr(8, 2) + "T" + t.substr(11, 2) +
         t.substr(14, 2) + t.substr(17, 2) + "Z";
}

Result<SigV4Signature> SignV4(const SigV4Request& request, const SigV4Credentials& credentials,
                              const SigV4Options& options, TimestampUs now) {
  ANNALS_RETURN_IF_ERROR(ValidateInputs(request, credentials, options, now));
  const std::string amz_date = AmzDate(now);
  const std::string date = amz_date.substr(0, 8);

  std::vector<std::pair<std::string, std::string>> added;
  added.emplace_back("x-amz-date", amz_date);
  if (options.add_content_sha256_header) {
    added.emplace_back("x-amz-content-sha256", request.payload_sha256);
  }
  if (!credentials.session_token.empty()) {
    added.emplace_back("x-amz-security-token", credentials.session_token);
  }

  // Lowercased name -> values in the order given. std::map sorts names bytewise, as the
  // specification asks.
  std::map<std::string, std::vector<std::string>> headers;
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
          return IsTokenChar(static_cast<unsigned char>(c));
        })) {
      return Invalid("A header name is not an HTTP token.");
    }
    if (value.find_first_of("\r\n") != std::string::npos) {
      return Invalid("The value of header '" + name + "' contains CR or LF.");
    }
    std::string lower = ToLower(name);
    if (lower == "authorization") {
      return Invalid("The request must not carry an authorization header.");
    }
    for (const auto& [owned, unused] : added) {
      if (lower == owned) {
        return Invalid("The request must not carry " + owned + ": the signer adds it.");
      }
    }
    headers[std::move(lower)].push_back(TrimAll(value));
  }
  if (headers.find("host") == headers.end()) {
    return Invalid("The request must carry a host header: SigV4 signs it.");
  }
  for (const auto& [name, value] : added) headers[name].push_back(value);

  std::string canonical_headers;
  std::string signed_headers;
  for (const auto& [name, values] : headers) {
    canonical_headers += name;
    canonical_headers.push_back(':');
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) canonical_headers.push_back(',');
      canonical_headers += values[i];
    }
    canonical_headers.push_back('\n');
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers += name;
  }

  SigV4Signature out;
  out.canonical_request = request.method + "\n" + CanonicalUri(request.path, options.path_mode) +
                          "\n" + CanonicalQueryString(request.query) + "\n" + canonical_headers +
                          "\n" + signed_headers + "\n" + request.payload_sha256;
  const std::string scope = date + "/" + options.region + "/" + options.service + "/aws4_request";
  out.string_to_sign = std::string(kAlgorithm) + "\n" + amz_date + "\n" + scope + "\n" +
                       HexEncode(Sha256(out.canonical_request));

  const std::string k_date = HmacSha256("AWS4" + credentials.secret_access_key, date);
  const std::string k_region = HmacSha256(k_date, options.region);
  const std::string k_service = HmacSha256(k_region, options.service);
  const std::string k_signing = HmacSha256(k_service, "aws4_request");
  out.signature = HexEncode(HmacSha256(k_signing, out.string_to_sign));
  out.signed_headers = signed_headers;
  out.authorization = std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                      scope + ", SignedHeaders=" + signed_headers + ", Signature=" + out.signature;

  out.headers_to_add = std::move(added);
  out.headers_to_add.emplace_back("authorization", out.authorization);
  return out;
}

}  // namespace annals::sinks::s3
