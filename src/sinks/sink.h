// The contract between the log-stream delivery engine and a destination ("sink").
//
// The engine owns cursors, batching, retries, backoff and dead letters; a sink only turns one
// batch into one delivery attempt (one HTTP request, one S3 object, one run of syslog frames)
// and classifies the destination's answer. A sink never retries by itself and never drops or
// truncates an event.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "annals/event.h"
#include "annals/status.h"

namespace annals::sinks {

// One event as a destination receives it.
struct SinkEvent {
  uint64_t seq = 0;             // the event's seq in its organization's log
  std::string id;               // evt_…; destinations de-duplicate on it
  TimestampUs occurred_at = 0;  // µs since the epoch
  TimestampUs received_at = 0;
  std::string action;
  std::string json;  // exactly what GET /v1/events/{id} returns (canonical JSON)
};

// A run of consecutive events of one stream, in seq order.
struct SinkBatch {
  std::string stream_id;        // str_…
  std::string organization_id;
  // "<stream id>:<first seq>-<last seq>": stable across retries of the same batch; sent as
  // webhook-id and similar delivery ids.
  std::string delivery_id;
  std::vector<SinkEvent> events;  // never empty

  uint64_t first_seq() const { return events.front().seq; }
  uint64_t last_seq() const { return events.back().seq; }
};

// How a delivery attempt ended, as the engine acts on it.
enum class DeliveryOutcome {
  kDelivered,  // accepted (2xx, object stored, frames written and flushed)
  kRetry,      // transient: timeout, connection failure, 5xx, 408, 429; retried with backoff
  kFailed,     // the destination refuses the stream itself (401, 403, 404, 410, TLS or
               // configuration failure): the stream goes to `error`, the cursor is held
  kRejected,   // the destination refuses this batch as malformed (400, 413, 422): retried
               // within the budget, then dead-lettered
};

struct DeliveryResult {
  DeliveryOutcome outcome = DeliveryOutcome::kRetry;
  int http_status = 0;  // 0 when there was no HTTP answer
  // What the destination answered or what went wrong, one line, at most ~1 KiB, never a secret.
  std::string detail;
  // The destination's Retry-After, when it sent one.
  std::optional<std::chrono::milliseconds> retry_after;
};

// "delivered", "retry", "failed", "rejected".
inline const char* DeliveryOutcomeName(DeliveryOutcome outcome) {
  switch (outcome) {
    case DeliveryOutcome::kDelivered:
      return "delivered";
    case DeliveryOutcome::kRetry:
      return "retry";
    case DeliveryOutcome::kFailed:
      return "failed";
    case DeliveryOutcome::kRejected:
      return "rejected";
  }
  return "failed";
}

// Maps an HTTP status to an outcome as every HTTP destination does (2xx delivered; 408, 429
// and 5xx retried; 400, 413 and 422 rejected; every other status failed).
DeliveryOutcome OutcomeForHttpStatus(int status);

// How much one delivery request of a destination may carry. The engine closes a batch before
// either bound would be passed:
//   events in the batch                                        <= max_events
//   sum over its events of (json.size() + per_event_overhead)  <= max_bytes
// and then the sink's request stays within the destination's documented limits whatever its
// (validated) config. A single event is also bounded by Sink::max_event_bytes().
struct BatchLimits {
  size_t max_events = 0;
  size_t max_bytes = 0;
  size_t per_event_overhead = 0;
};

// One destination of one stream. Deliver is called by one thread at a time; implementations
// need not be thread-safe.
class Sink {
 public:
  virtual ~Sink() = default;

  // One delivery attempt of `batch`. Never throws.
  virtual DeliveryResult Deliver(const SinkBatch& batch) = 0;

  // The largest single event (its `json`) the destination accepts; a larger one is
  // dead-lettered with a reason instead of being sent.
  virtual size_t max_event_bytes() const = 0;
};

}  // namespace annals::sinks

namespace annals::sinks {

// Turns a stream's destination (`type` and `config`) into sinks. Implementations are
// immutable and thread-safe.
class SinkFactory {
 public:
  virtual ~SinkFactory() = default;

  // Whether `type` names a destination this build supports.
  virtual bool Knows(const std::string& type) const = 0;
  // OK when `config` is a complete, valid configuration of `type`; otherwise kInvalidArgument
  // ("invalid_stream_config", or "destination_not_allowed" for an address the policy refuses)
  // with details at "/config/…".
  virtual Status Validate(const std::string& type, const boost::json::object& config) const = 0;
  // A new sink for a valid configuration.
  virtual Result<std::unique_ptr<Sink>> Create(const std::string& type,
                                               const boost::json::object& config) const = 0;
  // The config members of `type` that are write-only (credentials): stored, never returned.
  virtual std::vector<std::string> SecretFields(const std::string& type) const = 0;
  // How much one delivery of `type` may carry.
  virtual BatchLimits Limits(const std::string& type) const = 0;
  // For destinations two streams must not share (they would overwrite each other's output,
  // e.g. S3 objects named by seq): a key naming where a valid `config` writes; "" when any
  // number of streams may deliver there.
  virtual std::string ExclusiveTarget(const std::string& type,
                                      const boost::json::object& config) const {
    (void)type;
    (void)config;
    return "";
  }
};

}  // namespace annals::sinks
