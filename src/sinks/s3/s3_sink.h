// The S3 destination (stream type "s3"): each batch becomes one gzip-compressed NDJSON object
// in an S3 bucket, or in an S3-compatible store, PUT with an own SigV4 signature.
//
// Object layout. A batch is stored at
//
//   <prefix>/YYYY/MM/DD/HH/<first_seq>-<last_seq>.ndjson.gz
//
// where YYYY/MM/DD/HH is the UTC hour of the batch's FIRST event's received_at, and
// first_seq/last_seq are the seq of its first and last events in decimal without padding
// ("<prefix>/" is left out when the prefix is empty). The key depends on the batch only, so a
// retry of the same batch writes the same key and overwrites the same object: delivery is
// idempotent. The body is the events' canonical JSON exactly as GET /v1/events/{id} returns
// it, one event per line, each line ending in '\n', gzip-compressed (one member, mtime 0,
// so the same batch always yields the same bytes). The object is sent with
// Content-Type: application/x-ndjson and Content-Encoding: gzip, a Content-MD5 (which S3
// Object Lock buckets require) and x-amz-content-sha256 (both checked by S3 against the body).
//
// Readers de-duplicate on the events' "id" (or on seq within an organization): the engine
// delivers at least once, and a batch cut differently after a restart can overlap an object
// already written.
#pragma once

#include <boost/json/fwd.hpp>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "annals/clock.h"
#include "annals/status.h"
#include "sinks/http_client.h"
#include "sinks/s3/sigv4.h"
#include "sinks/sink.h"

namespace annals::sinks::s3 {

// S3 has no per-event limit (an object may hold up to 5 TiB); annals bounds one event at
// 5 MiB so that a batch always fits in a single PUT held in memory.
inline constexpr size_t kS3MaxEventBytes = size_t{5} << 20;
// Guidance for the engine: cut batches at about this many bytes of uncompressed NDJSON
// (S3 takes up to 5 GiB in one PUT; 16 MiB keeps memory and retry cost small).
inline constexpr size_t kS3MaxBatchBytes = size_t{16} << 20;

// A validated S3 stream configuration.
struct S3Config {
  std::string bucket;
  std::string region;
  std::string prefix;  // no leading or trailing '/'; may be empty
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: none
  // "http(s)://host[:port]" (lowercase scheme and host, no default port, no path), or empty
  // for AWS: https://s3.<region>.amazonaws.com.
  std::string endpoint;
  bool path_style = false;    // false: https://<bucket>.<endpoint host>/<key>
  std::string storage_class;  // empty: the bucket's default
};

// Validates the "config" object of an s3 stream:
//   bucket             string, required: S3's bucket naming rules (3-63 characters of a-z 0-9
//                      '.' '-', starting and ending with a letter or digit, no "..", not an IP
//                      address; with the AWS endpoint also AWS's reserved prefixes and
//                      suffixes); a name with '.' needs path_style over https
//   region             string, required: 1-64 characters of a-z 0-9 '-' ("us-east-1")
//   prefix             string, optional (""): leading and trailing '/' are removed; no empty,
//                      "." or ".." segment, no control character, at most 900 bytes
//   access_key_id      string, required, secret: 1-128 visible ASCII characters without '/'
//                      or ','
//   secret_access_key  string, required, secret: 1-256 visible ASCII characters
//   session_token      string, optional, secret: 1-8192 visible ASCII characters
//   endpoint           string, optional: an http:// or https:// base URL (no user info,
//                      path, query or fragment) of an S3-compatible store
//   path_style         bool, optional (false); an endpoint that is an IP address needs true
//   storage_class      string, optional: with the AWS endpoint one of S3's storage classes,
//                      otherwise 1-64 characters of A-Z 0-9 '_'
// Unknown keys are errors. Errors: kInvalidArgument, error code "invalid_stream_config", one
// ErrorDetail per problem with its path ("/config/bucket"); messages never contain a secret.
Result<S3Config> ParseS3Config(const boost::json::value& config);

// The config fields that hold secrets (never returned by the API, never logged).
const std::vector<std::string>& S3SecretFields();

// The object key of `batch` under `prefix` (see the layout above).
std::string S3ObjectKey(std::string_view prefix, const SinkBatch& batch);

// One S3 request, before signing.
struct S3RequestSpec {
  std::string method = "GET";
  std::string key;    // object key, not encoded; empty for the bucket itself
  SigV4Params query;  // not encoded
  std::string body;
  HttpHeaders headers;  // further headers to send and sign (content-type, ...)
};

// Builds the request for `spec` against the configured bucket: its URL (virtual-hosted or
// path-style, the key percent-encoded per segment) and the SigV4 headers (service "s3",
// x-amz-content-sha256 = the body's SHA-256, the session token when configured) signed at
// `now`. Every header in spec.headers is signed too; the host signed is the URL's authority
// (the port only when it is not the scheme's default), which is what HTTP clients send.
// Errors: those of SignV4 (kInvalidArgument).
Result<HttpRequest> BuildS3Request(const S3Config& config, const S3RequestSpec& spec,
                                   TimestampUs now);

// S3's XML error body (<Error><Code>…</Code><Message>…</Message></Error>); empty fields when
// the body is not one.
struct S3ErrorBody {
  std::string code;
  std::string message;
};
S3ErrorBody ParseS3ErrorBody(std::string_view body);

// Classifies an S3 answer: OutcomeForHttpStatus first, then S3's own codes: RequestTimeout
// (400), 307 TemporaryRedirect and 409 OperationAborted are retried; the 400s that no retry
// can fix because they come from the stream's configuration (AuthorizationHeaderMalformed,
// ExpiredToken, InvalidToken, TokenRefreshRequired, InvalidStorageClass, InvalidBucketName)
// fail the stream. The detail reads "HTTP 403 AccessDenied: Access Denied", plus the bucket's
// region on a 301.
DeliveryResult ClassifyS3Response(const HttpResponse& response);

struct S3SinkOptions {
  // The whole PUT, connect included.
  std::chrono::milliseconds request_timeout{60000};
};

// Delivers batches to one bucket. `http` and `clock` are not owned and must outlive the sink.
// Deliver keeps no state between calls: it is thread-safe when `http` is.
class S3Sink final : public Sink {
 public:
  S3Sink(S3Config config, HttpClient* http, const Clock* clock, S3SinkOptions options = {});

  DeliveryResult Deliver(const SinkBatch& batch) override;
  size_t max_event_bytes() const override { return kS3MaxEventBytes; }
  static constexpr size_t max_batch_bytes() { return kS3MaxBatchBytes; }

  const S3Config& config() const { return config_; }

 private:
  S3Config config_;
  HttpClient* http_;
  const Clock* clock_;
  S3SinkOptions options_;
};

}  // namespace annals::sinks::s3
