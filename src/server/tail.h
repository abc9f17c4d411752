// Live tail (GET /v1/events/stream): fans committed events out to server-sent-event
// subscribers, each with its own filter and cursor.
//
// While anyone subscribes, committed groups are copied into a bounded in-memory ring
// (recent events, shared by every subscriber); with no subscriber nothing is copied. A subscriber's cursor is a global position; it is served from the ring while
// it is within it and from the store (Store::ReadFrom) when it is further behind, e.g. when
// resuming with Last-Event-ID. Delivery is pull-based: the hub writes to a subscriber only
// while its connection has less than `high_watermark_bytes` queued, so memory per
// subscriber is bounded however fast events arrive; a subscriber whose connection does not
// drain for `stall_timeout` is disconnected (it can resume with its last event id).
// Because cursors only move forward over the gap-free global order, a resumed subscriber
// gets every matching event after its cursor exactly once.
//
// Thread-safety: every public method may be called from any thread. One hub thread does
// the writing; Publish only copies and signals.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "annals/event.h"
#include "annals/status.h"
#include "annals/store.h"
#include "http/http_types.h"

namespace annals {

struct TailOptions {
  size_t ring_events = 16384;           // recent events kept in memory
  size_t ring_bytes = 32u << 20;        // ... and at most this many JSON bytes
  size_t max_subscribers = 1000;        // more are refused with 503
  size_t high_watermark_bytes = 256u << 10;  // stop writing to a connection above this
  std::chrono::milliseconds stall_timeout{10000};
  std::chrono::milliseconds heartbeat{15000};  // ": keepalive" comment when idle this long
  size_t store_read_batch = 1000;
};

// The opaque Last-Event-ID of an event of an organization (its seq), and back.
std::string EncodeTailCursor(uint64_t seq);
std::optional<uint64_t> DecodeTailCursor(std::string_view cursor);

class TailHub {
 public:
  // `store` must outlive the hub.
  TailHub(Store* store, TailOptions options);
  ~TailHub();  // Stop()

  // The ingestor's commit observer: copies the events into the ring and wakes the hub.
  void Publish(const std::vector<EventRecord>& committed);

  // Where a subscription starts: after this global position, or (nullopt) after the last
  // published event.
  // Starts delivering matching events to `stream`; kUnavailable when the subscriber limit
  // is reached (checked by the caller before answering, so this is rare).
  Status Subscribe(EventFilter filter, std::optional<uint64_t> after_position,
                   std::shared_ptr<ResponseStream> stream);

  size_t subscribers() const;
  bool Full() const { return subscribers() >= options_.max_subscribers; }
  // Drops the ring of recent events: called after a purge, so that subscribers that resume
  // read from the store, which never returns purged events. Live subscribers go on.
  void ForgetRecent();

  // Events delivered to subscribers so far (for metrics).
  uint64_t delivered() const;

  // Closes every subscription and joins the hub thread. Idempotent.
  void Stop();

 private:
  using Clock = std::chrono::steady_clock;
  struct Subscriber {
    uint64_t id = 0;
    EventFilter filter;
    uint64_t cursor = 0;  // last global position examined
    std::shared_ptr<ResponseStream> stream;
    Clock::time_point last_write;
    std::optional<Clock::time_point> stalled_since;
  };

  void Run();
  // Writes what `s` may take now. Returns false when the subscriber is finished.
  bool Pump(Subscriber& s);
  // Events after `position`, up to `limit`, from the ring when it covers them.
  std::vector<std::shared_ptr<const EventRecord>> EventsAfter(uint64_t position, size_t limit,
                                                              bool* from_ring);

  Store* const store_;
  const TailOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<const EventRecord>> ring_;  // guarded by mu_; contiguous positions
  size_t ring_bytes_ = 0;                                // guarded by mu_
  uint64_t last_published_ = 0;                          // guarded by mu_
  bool last_published_known_ = false;                    // guarded by mu_
  std::map<uint64_t, std::shared_ptr<Subscriber>> subs_;  // guarded by mu_
  std::set<uint64_t> dirty_;                              // guarded by mu_
  std::set<uint64_t> closed_;                             // guarded by mu_
  uint64_t next_id_ = 1;                                  // guarded by mu_
  bool stop_ = false;                                     // guarded by mu_
  std::atomic<uint64_t> delivered_{0};
  std::thread thread_;
};

}  // namespace annals
