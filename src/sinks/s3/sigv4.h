// AWS Signature Version 4 (header-based signing) on OpenSSL: the canonical request, the
// string to sign, the signing key derivation and the Authorization header, exactly as AWS
// specifies them ("Create a signed AWS API request", and "Signature Calculations for the
// Authorization Header" in the S3 API reference).
//
// The signer is a pure function of its inputs (the timestamp included): no I/O, no clock,
// no global state. Every function here is thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "annals/event.h"
#include "annals/status.h"

namespace annals::sinks::s3 {

// The payload hash of an empty body, and the marker S3 accepts instead of a body hash.
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

// How the canonical URI is derived from the request path.
enum class UriPathMode {
  // S3: no normalisation ("//" and ".." are kept as they are) and single encoding: each
  // segment is percent-decoded, then encoded again with the SigV4 rules, so the canonical
  // URI is the path S3 itself decodes and re-encodes.
  kS3,
  // Every other service: the path is normalised (empty and "." segments removed, ".."
  // resolved, RFC 3986 §5.2.4) and each segment of the path as sent is encoded once more
  // ("double encoding": a "%20" on the wire becomes "%2520").
  kNormalizedDoubleEncoded,
};

struct SigV4Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: long-term credentials, no x-amz-security-token
};

using SigV4Params = std::vector<std::pair<std::string, std::string>>;

// The parts of one HTTP request that the signature covers.
struct SigV4Request {
  std::string method;  // "GET", "PUT", ...
  // The URI path as it is sent on the wire (percent-encoded where the URL needs it), starting
  // with '/'. Without the query.
  std::string path = "/";
  // Query parameters, names and values NOT encoded (the signer encodes them), in any order;
  // repeated names allowed. A parameter without a value has an empty value.
  SigV4Params query;
  // Every header to sign, `host` included (required); names in any case, repeated names
  // allowed (their values are joined with ',' in the order given). Must not contain
  // authorization or x-amz-date, nor the headers the signer adds (x-amz-security-token when a
  // session token is given, x-amz-content-sha256 when add_content_sha256_header is set).
  // Values must not contain CR or LF.
  SigV4Params headers;
  // Lowercase hex SHA-256 of the body (kEmptyPayloadSha256 for none), or kUnsignedPayload.
  std::string payload_sha256 = std::string(kEmptyPayloadSha256);
};

struct SigV4Options {
  std::string region;   // e.g. "us-east-1"
  std::string service;  // e.g. "s3"
  UriPathMode path_mode = UriPathMode::kS3;
  // Adds (and signs) x-amz-content-sha256: <payload_sha256>, which S3 requires.
  bool add_content_sha256_header = false;
};

struct SigV4Signature {
  // The headers to add to the request as it is sent, in this order: x-amz-date,
  // x-amz-content-sha256 (when asked), x-amz-security-token (with a session token),
  // authorization. Names are lowercase.
  std::vector<std::pair<std::string, std::string>> headers_to_add;
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;x-amz-date"
  std::string signature;       // lowercase hex
  std::string authorization;   // the authorization header's value
};

// Signs `request` at `now` (µs since the epoch, UTC; whole seconds are used). Errors are
// kInvalidArgument with error code "invalid_signing_request" naming what is wrong (never a
// secret): an empty method, a path that does not start with '/', a missing host header, a
// header name that is not an HTTP token, a value with CR or LF, a header the signer owns, a
// payload hash that is neither 64 lowercase hex digits nor UNSIGNED-PAYLOAD, an empty or
// malformed access key id, secret, region or service, a session token with characters a
// header cannot carry, or a time before 1970.
Result<SigV4Signature> SignV4(const SigV4Request& request, const SigV4Credentials& credentials,
                              const SigV4Options& options, TimestampUs now);

// Percent-encodes with the SigV4 rules: A-Z a-z 0-9 '-' '.' '_' '~' stay as they are, every
// other byte becomes %XX (uppercase hex); '/' stays only when `encode_slash` is false.
std::string UriEncode(std::string_view text, bool encode_slash);

// The canonical query string of `params` (encoded name=value pairs sorted by encoded name,
// then by encoded value, joined by '&'). It is also a valid URL query for them.
std::string CanonicalQueryString(const SigV4Params& params);

// Formats `now` as the SigV4 timestamp "YYYYMMDDTHHMMSSZ".
std::string AmzDate(TimestampUs now);

}  // namespace annals::sinks::s3
