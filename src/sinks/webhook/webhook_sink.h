// The generic HTTPS webhook destination (stream type "webhook"), signed as the Standard
// Webhooks specification says (https://www.standardwebhooks.com/):
//
//   POST <url>
//   Content-Type: application/json            (format json_array: [<event>,<event>,...])
//               | application/x-ndjson        (format ndjson: one event per line, each ending in \n)
//   webhook-id: <batch.delivery_id>           (stable across retries: receivers de-duplicate on it)
//   webhook-timestamp: <integer seconds since the epoch, at sending>
//   webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>
//                      [ v1,<signature under the second key>]   (during a secret rotation)
//   <the configured extra headers>
//
// Each event is its canonical JSON, verbatim.
//
// Config ("config" of the stream body):
//   url      required  http:// or https:// URL; a query is allowed; no credentials, no fragment
//   format   optional  "json_array" (default) | "ndjson"
//   headers  optional  object of header name -> string value, at most 20; names are HTTP
//                      tokens; hop-by-hop names, host, content-type, content-length,
//                      content-encoding, expect and webhook-* are refused
//   secret   one of    "whsec_<base64 of a 24..64-byte key>"
//   secrets  these     an array of one or two such secrets (rotation: both sign every request)
// Secret fields (write-only in the API): secret, secrets, headers (values may be credentials).
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "annals/clock.h"
#include "annals/status.h"
#include "sinks/http_client.h"
#include "sinks/http_delivery.h"
#include "sinks/sink.h"

namespace annals::sinks {

enum class WebhookFormat { kJsonArray, kNdjson };

struct WebhookConfig {
  std::string url;
  WebhookFormat format = WebhookFormat::kJsonArray;
  HttpHeaders headers;                    // extra request headers, names as configured
  std::vector<std::string> signing_keys;  // 1 or 2 raw keys (the decoded part of whsec_...)
};

// Validates `config`. Errors: kInvalidArgument "invalid_stream_config" with one detail per
// problem, each at its path ("/config/url", "/config/headers/X-Token", "/config/secrets/1").
// Messages never repeat a secret.
Result<WebhookConfig> ParseWebhookConfig(const boost::json::value& config);

// The names of the config fields that hold secrets: secret, secrets, headers.
const std::vector<std::string>& WebhookSecretFields();

// The Standard Webhooks v1 signature of one message: "v1," followed by the base64 of
// HMAC-SHA256(key, id + "." + timestamp + "." + body).
std::string StandardWebhookSignature(std::string_view key, std::string_view id, int64_t timestamp,
                                     std::string_view body);

// One webhook destination. Deliver is called by one thread at a time (see Sink).
class WebhookSink final : public Sink {
 public:
  static constexpr std::string_view kType = "webhook";

  // A request body stays within 1 MiB (1,048,576 bytes): nginx's default client_max_body_size,
  // the smallest limit commonly found in front of webhook receivers. A json_array body is
  // 2 + sum(json) + (n - 1) bytes, an ndjson body sum(json + 1).
  static constexpr size_t kMaxBodyBytes = 1 << 20;
  static constexpr BatchLimits batch_limits() { return {1000, kMaxBodyBytes - 2, 1}; }
  static constexpr size_t max_batch_events() { return batch_limits().max_events; }
  static constexpr size_t max_batch_bytes() { return batch_limits().max_bytes; }

  // `client` and `clock` are not owned and must outlive the sink.
  WebhookSink(WebhookConfig config, HttpClient* client, const Clock* clock,
              HttpSinkOptions options = {});

  DeliveryResult Deliver(const SinkBatch& batch) override;
  // kMaxBodyBytes - 3: one event alone, in either format.
  size_t max_event_bytes() const override { return kMaxBodyBytes - 3; }

 private:
  WebhookConfig config_;
  HttpClient* client_;
  const Clock* clock_;
  HttpSinkOptions options_;
};

}  // namespace annals::sinks
