// The Datadog Logs destination (stream type "datadog"), through the v2 logs intake API.
//
//   POST <url>/api/v2/logs
//   DD-API-KEY: <api_key>
//   Content-Type: application/json
//   Content-Encoding: gzip
//   body: gzip of a JSON array with one log per event:
//     {"ddsource":"annals","service":..,"hostname":..,"ddtags":"org:<organization_id>[,<tag>...]",
//      "message":"<the event's canonical JSON, as a JSON string>"}
//     ("hostname" only when configured)
// Datadog answers 202 Accepted.
//
// Config ("config" of the stream body):
//   url       required  the site's intake base URL, e.g. https://http-intake.logs.datadoghq.com
//                       or https://http-intake.logs.datadoghq.eu (no query; trailing '/' dropped)
//   api_key   required  the API key (secret), 1..256 characters, no whitespace
//   service   optional  default "annals"; 1..100 characters of [A-Za-z0-9_.:/-]
//   hostname  optional  1..255 characters of [A-Za-z0-9_.:-]
//   tags      optional  array of at most 32 tags, each 1..200 characters of [A-Za-z0-9_.:/-],
//                       together at most 1000 characters
// Secret fields (write-only in the API): api_key.
//
// Size limits (Datadog logs intake): at most 5 MB (5,000,000 bytes, uncompressed) per request,
// 1 MB (1,000,000 bytes) per log, 1000 logs per request; Datadog accepts a longer log but
// truncates it, so annals never sends one. The message is the event's JSON escaped as a JSON
// string, at most twice its size (only '"' and '\' need escaping in canonical JSON); the rest
// of a log, with the limits above and organization ids of at most 128 characters, is at most
// 1,600 bytes. Hence: a log is at most 2 * json + 1,600 bytes, so one event is at most 499,200
// bytes; a batch holds at most 1000 events and 2,499,999 bytes of json + 800 per event
// (2 + sum(2 * json + 1,600) <= 5,000,000).
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "annals/clock.h"
#include "annals/status.h"
#include "sinks/http_client.h"
#include "sinks/http_delivery.h"
#include "sinks/sink.h"

namespace annals::sinks {

struct DatadogConfig {
  std::string url;  // base URL, without a trailing '/'
  std::string api_key;
  std::string service = "annals";
  std::optional<std::string> hostname;
  std::vector<std::string> tags;
};

// Validates `config`. Errors: kInvalidArgument "invalid_stream_config" with one detail per
// problem at its path ("/config/tags/2"). Messages never repeat the API key.
Result<DatadogConfig> ParseDatadogConfig(const boost::json::value& config);

// The names of the config fields that hold secrets: api_key.
const std::vector<std::string>& DatadogSecretFields();

// One Datadog destination. Deliver is called by one thread at a time (see Sink).
class DatadogSink final : public Sink {
 public:
  static constexpr std::string_view kType = "datadog";
  static constexpr size_t kMaxRequestBytes = 5000000;  // uncompressed
  static constexpr size_t kMaxLogBytes = 1000000;
  static constexpr size_t kMaxLogEnvelopeBytes = 1600;
  static constexpr BatchLimits batch_limits() {
    return {1000, (kMaxRequestBytes - 2) / 2, kMaxLogEnvelopeBytes / 2};
  }
  static constexpr size_t max_batch_events() { return batch_limits().max_events; }
  static constexpr size_t max_batch_bytes() { return batch_limits().max_bytes; }

  // `client` and `clock` are not owned and must outlive the sink.
  DatadogSink(DatadogConfig config, HttpClient* client, const Clock* clock,
              HttpSinkOptions options = {});

  DeliveryResult Deliver(const SinkBatch& batch) override;
  size_t max_event_bytes() const override { return (kMaxLogBytes - kMaxLogEnvelopeBytes) / 2; }

 private:
  DatadogConfig config_;
  HttpClient* client_;
  const Clock* clock_;
  HttpSinkOptions options_;
  std::string endpoint_;
  std::string log_head_;  // {"ddsource":"annals","service":..,"hostname":..,"ddtags":"org:
  std::string tags_tail_;  // ,<tag>,<tag>...
};

}  // namespace annals::sinks
