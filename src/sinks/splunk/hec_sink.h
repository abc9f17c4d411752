// The Splunk HTTP Event Collector destination (stream type "splunk_hec").
//
//   POST <url>/services/collector/event
//   Authorization: Splunk <token>
//   X-Splunk-Request-Channel: <a UUID fixed per stream>   (required by tokens with indexer
//                                                          acknowledgement, ignored otherwise)
//   Content-Type: application/json
//   body: one JSON object per event, concatenated without separators:
//     {"time":<received_at as epoch seconds with 3 decimals>,"host":..,"source":..,
//      "sourcetype":..,"index":..,"event":<the event's canonical JSON, verbatim>}
//     ("host" and "index" only when configured)
//
// HEC answers {"text": "...", "code": N} (and "invalid-event-number" on a bad event); the
// delivery detail carries that text and code.
//
// Config ("config" of the stream body):
//   url         required  base URL of the collector, e.g. https://splunk.example.com:8088
//                         (no query; a trailing '/' is dropped)
//   token       required  the HEC token (secret), 1..256 characters, no whitespace
//   index       optional  1..80 characters of [a-z0-9_-], starting with a letter or digit
//   sourcetype  optional  default "annals:event"  } 1..100 printable ASCII characters,
//   source      optional  default "annals"        } no double quote and no backslash
//   host        optional  (no default)            }
// Secret fields (write-only in the API): token.
//
// Size limits: HEC refuses a request over max_content_length ([http_input] in limits.conf;
// 1,000,000 bytes in older Splunk releases, larger in recent ones), so annals keeps every
// request, and so every event, within 1,000,000 bytes: a bound every default accepts. The
// envelope of one event is at most 462 bytes with the config limits above (counted as 512):
// a batch holds at most 1000 events and 1,000,000 bytes of json + 512 per event, and a single
// event at most 999,488 bytes.
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

struct SplunkHecConfig {
  std::string url;  // base URL, without a trailing '/'
  std::string token;
  std::optional<std::string> index;
  std::string sourcetype = "annals:event";
  std::string source = "annals";
  std::optional<std::string> host;
};

// Validates `config`. Errors: kInvalidArgument "invalid_stream_config" with one detail per
// problem at its path ("/config/token"). Messages never repeat the token.
Result<SplunkHecConfig> ParseSplunkHecConfig(const boost::json::value& config);

// The names of the config fields that hold secrets: token.
const std::vector<std::string>& SplunkHecSecretFields();

// One HEC destination. Deliver is called by one thread at a time (see Sink).
class SplunkHecSink final : public Sink {
 public:
  static constexpr std::string_view kType = "splunk_hec";
  static constexpr size_t kMaxRequestBytes = 1000000;
  static constexpr size_t kMaxEnvelopeBytes = 512;
  static constexpr BatchLimits batch_limits() {
    return {1000, kMaxRequestBytes, kMaxEnvelopeBytes};
  }
  static constexpr size_t max_batch_events() { return batch_limits().max_events; }
  static constexpr size_t max_batch_bytes() { return batch_limits().max_bytes; }

  // `client` and `clock` are not owned and must outlive the sink.
  SplunkHecSink(SplunkHecConfig config, HttpClient* client, const Clock* clock,
                HttpSinkOptions options = {});

  DeliveryResult Deliver(const SinkBatch& batch) override;
  size_t max_event_bytes() const override { return kMaxRequestBytes - kMaxEnvelopeBytes; }

  // The detail for a HEC answer body {"text": .., "code": .., "invalid-event-number": ..}, or
  // "" when the body is not that shape.
  static std::string DescribeHecAnswer(std::string_view body);

 private:
  SplunkHecConfig config_;
  HttpClient* client_;
  const Clock* clock_;
  HttpSinkOptions options_;
  std::string endpoint_;
  std::string authorization_;
  std::string envelope_tail_;  // ,"host":..,"source":..,"sourcetype":..,"index":..,"event":
};

// A fixed UUID for a stream (from its id), in the 8-4-4-4-12 hex form HEC channels take.
std::string HecChannelFor(std::string_view stream_id);

}  // namespace annals::sinks
