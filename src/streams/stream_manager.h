// Log streams: continuous, at-least-once, in-order delivery of an organization's events to
// its destinations (webhook, Splunk HEC, Datadog, S3, syslog).
//
// Each stream has a durable cursor, `delivered_seq`: every event of the organization with a
// seq at or below it has been delivered (or did not match the stream's filter, or was
// dead-lettered). A worker thread per stream reads the organization's log after the cursor
// (Store::ReadOrganization), keeps the events its filter matches, and delivers them in
// batches (closed by count, bytes or delay); the cursor moves only after the destination
// accepted a batch, so a crash or restart redelivers at most the batch in flight. A batch
// keeps its events and its delivery id (`<stream id>:<first seq>-<last seq>`) across retries,
// also across a restart (the pending batch's last seq is recorded before its first retry).
//
// Answers (see sinks::DeliveryOutcome): transient failures are retried for ever with
// exponential backoff and jitter, never slower than a Retry-After asks; a destination that
// refuses the stream itself (bad credentials, gone) puts the stream in `error` with the
// cursor held, and it is retried at the backoff cap until it succeeds or is changed; a batch
// refused as malformed is retried `reject_attempts` times and then recorded as a dead letter
// (its seq range, the answer) and skipped; an event larger than the destination accepts is
// dead-lettered alone with the reason, never truncated. Dead letters can be re-driven.
//
// A slow or failing stream holds only its own thread: ingestion only signals new commits
// (OnCommit) and never waits for a stream.
//
// Records (meta space): `stream/<id>` the definition, `stream_cursor/<id>` the cursor and
// status, `stream_dead/<id>/<first seq, 20 digits>` the dead letters.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "annals/clock.h"
#include "annals/status.h"
#include "annals/store.h"
#include "domain/ids.h"
#include "sinks/sink.h"

namespace annals::streams {

enum class StreamState { kActive, kPaused, kError, kDisabled };
// "active", "paused", "error", "disabled".
const char* StreamStateName(StreamState state);

// How a stream groups events into deliveries. A batch is sent when it holds `max_events`
// events or `max_bytes` bytes of event JSON, or when its first event was received
// `max_delay` ago, whichever comes first (a backlog is sent in full batches at once).
struct BatchPolicy {
  size_t max_events = 500;
  size_t max_bytes = 1u << 20;
  std::chrono::milliseconds max_delay{1000};
};

// What a stream's owner sets.
struct StreamSpec {
  std::string organization_id;
  std::string name;
  std::string type;             // destination type, e.g. "webhook"
  boost::json::object config;   // destination config, secrets included
  EventFilter filter;           // organization_id is the stream's
  BatchPolicy batch;
};

// The engine's view of a stream.
struct StreamInfo {
  std::string id;  // "str_" + 26 characters
  StreamSpec spec;
  StreamState state = StreamState::kActive;
  bool paused = false;
  uint64_t delivered_seq = 0;
  uint64_t delivered_events = 0;  // events accepted by the destination since creation
  uint64_t dead_letters = 0;      // dead letters recorded and not yet re-driven
  uint32_t consecutive_failures = 0;
  std::string last_error;  // the last failed attempt's answer; empty once one succeeds
  TimestampUs last_error_at = 0;
  TimestampUs last_success_at = 0;
  TimestampUs next_attempt_at = 0;  // when a retry is due (0: not waiting for one)
  int last_http_status = 0;
  TimestampUs created_at = 0;
  TimestampUs updated_at = 0;
  std::string created_by;
  // Lag: the organization's events after the cursor, and how long ago the first of them was
  // received (0 when caught up).
  uint64_t lag_events = 0;
  double lag_seconds = 0;
};

// A batch that was dead-lettered: its seq range and the answer that refused it.
struct DeadLetter {
  std::string id;  // "<first seq>-<last seq>"
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint64_t events = 0;
  std::string reason;  // "rejected" or "event_too_large"
  int http_status = 0;
  std::string detail;
  uint32_t attempts = 0;
  TimestampUs at = 0;
  // Set while a re-drive is queued or running; cleared (with the answer in detail) when it
  // failed. A re-drive that succeeds removes the dead letter.
  bool redriving = false;
};

// The answer to a test delivery.
struct TestDelivery {
  sinks::DeliveryResult result;
  double seconds = 0;
};

// A partial update (PATCH): members left unset keep their value; config members are merged
// (a member set to null is removed; secrets not given are kept).
struct StreamUpdate {
  std::optional<std::string> name;
  std::optional<boost::json::object> config;
  std::optional<EventFilter> filter;
  std::optional<BatchPolicy> batch;
};

struct StreamManagerOptions {
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{300000};  // also the retry interval of `error`
  // Each backoff delay is drawn uniformly from [(1 - jitter) * d, d].
  double jitter = 0.2;
  // The longest Retry-After honoured; longer asks wait this long.
  std::chrono::milliseconds max_retry_after{3600000};
  // Attempts of a batch the destination refuses as malformed before it is dead-lettered.
  uint32_t reject_attempts = 3;
  size_t read_chunk = 1000;      // events read from the store at a time
  size_t max_streams_per_organization = 20;
  uint64_t random_seed = 0;      // 0: from std::random_device
};

class StreamManager {
 public:
  // Loads the streams recorded in `store`. `store`, `clock` and `factory` must outlive the
  // manager. Workers start with Start().
  static Result<std::unique_ptr<StreamManager>> Open(StreamManagerOptions options, Store* store,
                                                     const Clock* clock,
                                                     const sinks::SinkFactory* factory);
  ~StreamManager();  // Stop()

  void Start();
  // Stops every worker (a delivery in progress finishes first). Idempotent.
  void Stop();

  // The ingestor's commit observer: wakes the streams of the organizations concerned.
  void OnCommit(const std::vector<EventRecord>& committed);
  // Makes every waiting worker re-check the clock now (tests with a ManualClock advance it,
  // then kick).
  void Kick();

  // Creates a stream that starts after the organization's current last seq (new events
  // only; replay to go back). Errors: invalid_stream (name, type, batch), the factory's
  // config errors, too_many_streams (409).
  Result<StreamInfo> Create(StreamSpec spec, const std::string& created_by);
  Result<StreamInfo> Get(const std::string& organization_id, const std::string& id);
  // The streams of an organization ("" for all), oldest first.
  Result<std::vector<StreamInfo>> List(const std::string& organization_id);
  Result<StreamInfo> Update(const std::string& organization_id, const std::string& id,
                            StreamUpdate update);
  Status Delete(const std::string& organization_id, const std::string& id);
  Result<StreamInfo> SetPaused(const std::string& organization_id, const std::string& id,
                               bool paused);
  // Moves the cursor so delivery starts at `from_seq` (1 = the beginning), or at the first
  // event received at or after `from_time`. A batch in flight is abandoned.
  Result<StreamInfo> Replay(const std::string& organization_id, const std::string& id,
                            std::optional<uint64_t> from_seq,
                            std::optional<TimestampUs> from_time);
  // Delivers one synthetic event (action "annals.stream.test") through a fresh sink of the
  // stream's destination, on a thread of its own, and calls `done` with the answer from
  // that thread; the cursor is not involved.
  void Test(const std::string& organization_id, const std::string& id,
            std::function<void(Result<TestDelivery>)> done);

  Result<std::vector<DeadLetter>> DeadLetters(const std::string& organization_id,
                                              const std::string& id);
  // Queues the dead letter's events for one more delivery, ahead of the cursor's batches.
  Result<DeadLetter> Redrive(const std::string& organization_id, const std::string& id,
                             const std::string& dead_letter_id);
  Status DeleteDeadLetter(const std::string& organization_id, const std::string& id,
                          const std::string& dead_letter_id);

  // The config with its secret members removed, as the API returns it.
  boost::json::object RedactedConfig(const StreamSpec& spec) const;

  struct Counters {
    uint64_t delivered_events = 0;
    uint64_t delivered_batches = 0;
    uint64_t failed_attempts = 0;
    uint64_t dead_lettered_events = 0;
  };
  Counters counters() const;

 private:
  class Worker;
  StreamManager(StreamManagerOptions options, Store* store, const Clock* clock,
                const sinks::SinkFactory* factory);

  Status ValidateSpec(const StreamSpec& spec) const;
  // Conflict "destination_in_use" when another stream (not `except_id`) writes where `spec`
  // would and the destination cannot be shared. Called with mu_ held.
  Status CheckExclusive(const StreamSpec& spec, const std::string& except_id);
  // A backoff delay for the n-th consecutive failure (n >= 1), jittered. Lock order: mu_,
  // then a worker's mu; Backoff may be called with either held.
  std::chrono::milliseconds Backoff(uint32_t n);
  Result<std::shared_ptr<Worker>> Find(const std::string& organization_id, const std::string& id);
  void AddLag(StreamInfo* info);

  const StreamManagerOptions options_;
  Store* const store_;
  const Clock* const clock_;
  const sinks::SinkFactory* const factory_;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Worker>> workers_;  // by id; guarded by mu_
  std::vector<std::thread> retired_;                         // guarded by mu_
  // Test deliveries in progress (or ended and not yet joined), with their "ended" flags.
  std::vector<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> tests_;  // mu_
  IdGenerator ids_;                                          // guarded by mu_
  bool started_ = false;                                     // guarded by mu_
  bool stopped_ = false;                                     // guarded by mu_
  std::mutex rng_mu_;  // never held with another lock
  std::mt19937_64 rng_;  // guarded by rng_mu_

  std::atomic<uint64_t> delivered_events_{0};
  std::atomic<uint64_t> delivered_batches_{0};
  std::atomic<uint64_t> failed_attempts_{0};
  std::atomic<uint64_t> dead_lettered_events_{0};

  friend class Worker;
};

}  // namespace annals::streams
