#include "streams/stream_manager.h"

#include <pthread.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <deque>
#include <utility>

#include "domain/canonical_json.h"
#include "domain/event_filter.h"
#include "domain/event_filter_json.h"
#include "domain/time.h"

namespace annals::streams {

namespace json = boost::json;
using sinks::DeliveryOutcome;
using sinks::DeliveryResult;
using sinks::SinkBatch;
using sinks::SinkEvent;

namespace {

constexpr std::string_view kStreamPrefix = "stream/";
constexpr std::string_view kCursorPrefix = "stream_cursor/";
constexpr std::string_view kDeadPrefix = "stream_dead/";
constexpr size_t kMaxNameBytes = 200;

std::string StreamKey(const std::string& id) { return std::string(kStreamPrefix) + id; }
std::string CursorKey(const std::string& id) { return std::string(kCursorPrefix) + id; }
std::string DeadPrefix(const std::string& id) { return std::string(kDeadPrefix) + id + "/"; }
std::string DeadKey(const std::string& id, uint64_t first_seq) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%020" PRIu64, first_seq);
  return DeadPrefix(id) + digits;
}

Status Corrupt(const std::string& what) {
  return Status(Code::kInternal, "corrupt_stream", "a malformed stream record: " + what);
}

Status NotFound(const std::string& id) {
  return Status::NotFound("no stream with id '" + id + "' in this organization",
                          "stream_not_found");
}

std::string EncodeSpecRecord(const StreamInfo& s) {
  json::object o;
  o["id"] = s.id;
  o["organization_id"] = s.spec.organization_id;
  o["name"] = s.spec.name;
  o["type"] = s.spec.type;
  o["config"] = s.spec.config;
  o["filter"] = EncodeFilterRecord(s.spec.filter);
  o["batch_max_events"] = s.spec.batch.max_events;
  o["batch_max_bytes"] = s.spec.batch.max_bytes;
  o["batch_max_delay_ms"] = s.spec.batch.max_delay.count();
  o["paused"] = s.paused;
  o["created_at"] = s.created_at;
  o["updated_at"] = s.updated_at;
  o["created_by"] = s.created_by;
  return Canonical(json::value(std::move(o)));
}

Status DecodeSpecRecord(std::string_view text, StreamInfo* s) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return Corrupt("not a JSON object");
  try {
    const json::object& o = v.as_object();
    s->id = std::string(o.at("id").as_string());
    s->spec.organization_id = std::string(o.at("organization_id").as_string());
    s->spec.name = std::string(o.at("name").as_string());
    s->spec.type = std::string(o.at("type").as_string());
    s->spec.config = o.at("config").as_object();
    if (!DecodeFilterRecord(o.at("filter").as_object(), &s->spec.filter)) {
      return Corrupt("filter");
    }
    s->spec.batch.max_events = o.at("batch_max_events").to_number<size_t>();
    s->spec.batch.max_bytes = o.at("batch_max_bytes").to_number<size_t>();
    s->spec.batch.max_delay =
        std::chrono::milliseconds(o.at("batch_max_delay_ms").to_number<int64_t>());
    s->paused = o.at("paused").as_bool();
    s->created_at = o.at("created_at").to_number<int64_t>();
    s->updated_at = o.at("updated_at").to_number<int64_t>();
    s->created_by = std::string(o.at("created_by").as_string());
  } catch (const std::exception& e) {
    return Corrupt(e.what());
  }
  return Status::Ok();
}

// The cursor record: what the worker changes as it delivers.
struct CursorRecord {
  uint64_t delivered_seq = 0;
  uint64_t delivered_events = 0;
  uint64_t dead_letters = 0;
  uint32_t consecutive_failures = 0;
  bool error = false;
  std::string last_error;
  TimestampUs last_error_at = 0;
  TimestampUs last_success_at = 0;
  int last_http_status = 0;
  // The last seq of the batch being retried (0: none), so a restart rebuilds the same batch.
  uint64_t pending_last_seq = 0;
};

std::string EncodeCursor(const CursorRecord& c) {
  json::object o;
  o["delivered_seq"] = c.delivered_seq;
  o["delivered_events"] = c.delivered_events;
  o["dead_letters"] = c.dead_letters;
  o["consecutive_failures"] = c.consecutive_failures;
  o["error"] = c.error;
  o["last_error"] = c.last_error;
  o["last_error_at"] = c.last_error_at;
  o["last_success_at"] = c.last_success_at;
  o["last_http_status"] = c.last_http_status;
  o["pending_last_seq"] = c.pending_last_seq;
  return Canonical(json::value(std::move(o)));
}

Status DecodeCursor(std::string_view text, CursorRecord* c) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return Corrupt("cursor");
  try {
    const json::object& o = v.as_object();
    c->delivered_seq = o.at("delivered_seq").to_number<uint64_t>();
    c->delivered_events = o.at("delivered_events").to_number<uint64_t>();
    c->dead_letters = o.at("dead_letters").to_number<uint64_t>();
    c->consecutive_failures = o.at("consecutive_failures").to_number<uint32_t>();
    c->error = o.at("error").as_bool();
    c->last_error = std::string(o.at("last_error").as_string());
    c->last_error_at = o.at("last_error_at").to_number<int64_t>();
    c->last_success_at = o.at("last_success_at").to_number<int64_t>();
    c->last_http_status = o.at("last_http_status").to_number<int>();
    c->pending_last_seq = o.at("pending_last_seq").to_number<uint64_t>();
  } catch (const std::exception& e) {
    return Corrupt(std::string("cursor: ") + e.what());
  }
  return Status::Ok();
}

std::string EncodeDeadLetter(const DeadLetter& d) {
  json::object o;
  o["first_seq"] = d.first_seq;
  o["last_seq"] = d.last_seq;
  o["events"] = d.events;
  o["reason"] = d.reason;
  o["http_status"] = d.http_status;
  o["detail"] = d.detail;
  o["attempts"] = d.attempts;
  o["at"] = d.at;
  return Canonical(json::value(std::move(o)));
}

Result<DeadLetter> DecodeDeadLetter(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return Corrupt("dead letter");
  DeadLetter d;
  try {
    const json::object& o = v.as_object();
    d.first_seq = o.at("first_seq").to_number<uint64_t>();
    d.last_seq = o.at("last_seq").to_number<uint64_t>();
    d.events = o.at("events").to_number<uint64_t>();
    d.reason = std::string(o.at("reason").as_string());
    d.http_status = o.at("http_status").to_number<int>();
    d.detail = std::string(o.at("detail").as_string());
    d.attempts = o.at("attempts").to_number<uint32_t>();
    d.at = o.at("at").to_number<int64_t>();
  } catch (const std::exception& e) {
    return Corrupt(std::string("dead letter: ") + e.what());
  }
  d.id = std::to_string(d.first_seq) + "-" + std::to_string(d.last_seq);
  return d;
}

SinkEvent ToSinkEvent(EventRecord&& e) {
  SinkEvent s;
  s.seq = e.seq;
  s.id = std::move(e.id);
  s.occurred_at = e.fields.occurred_at;
  s.received_at = e.received_at;
  s.action = std::move(e.fields.action);
  s.json = std::move(e.json);
  return s;
}

std::string DeliveryId(const std::string& stream_id, uint64_t first, uint64_t last) {
  return stream_id + ":" + std::to_string(first) + "-" + std::to_string(last);
}

}  // namespace

const char* StreamStateName(StreamState state) {
  switch (state) {
    case StreamState::kActive:
      return "active";
    case StreamState::kPaused:
      return "paused";
    case StreamState::kError:
      return "error";
    case StreamState::kDisabled:
      return "disabled";
  }
  return "disabled";
}

// One stream's delivery loop. Everything in `info` and the queues is guarded by `mu`; the
// pending batch and the sink belong to the worker thread alone.
class StreamManager::Worker {
 public:
  Worker(StreamManager* manager, StreamInfo info, uint64_t pending_last_seq)
      : info(std::move(info)), manager_(manager), frozen_last_seq_(pending_last_seq) {}

  void Run();

  // Guarded by mu.
  std::mutex mu;
  std::condition_variable cv;
  StreamInfo info;
  bool stop = false;
  bool dirty = true;         // new events may have been committed
  uint64_t generation = 1;   // bumped when the destination, filter or batch changes
  uint64_t cursor_epoch = 0;  // bumped when the cursor is moved from outside (replay)
  std::deque<DeadLetter> redrives;
  std::thread thread;

 private:
  struct Pending {
    // The events read so far; once attempted, the batch is sent as is on every retry.
    SinkBatch batch;
    size_t bytes = 0;       // event JSON
    size_t wire_bytes = 0;  // event JSON plus the destination's per-event overhead
    uint64_t examined_to = 0;  // last seq read into (or skipped by) this batch
    bool full = false;
    bool caught_up = false;
    bool attempted = false;
    uint32_t rejections = 0;
    uint64_t epoch = 0;
    void Clear() { *this = Pending(); }
  };

  // Reads events after the pending batch into it. Called without mu.
  Status Fill(const StreamInfo& snapshot, uint64_t limit_seq);
  // Persists the cursor record from `info`. Called with mu held.
  Status SaveCursor();
  // Applies a delivery's answer. Called with mu held.
  void Apply(const DeliveryResult& r, uint64_t epoch);
  void RecordFailure(const DeliveryResult& r, TimestampUs now, std::chrono::milliseconds delay);
  // Dead-letters the pending batch (or `one` event). Called with mu held.
  void DeadLetterPending(const std::string& reason, const DeliveryResult& r);
  void RunRedrive(std::unique_lock<std::mutex>& lk);
  void WaitUntil(std::unique_lock<std::mutex>& lk, TimestampUs deadline);
  SinkBatch MakeBatch(std::vector<SinkEvent> events) const;

  StreamManager* const manager_;
  std::unique_ptr<sinks::Sink> sink_;
  uint64_t sink_generation_ = 0;
  Pending pending_;
  uint64_t frozen_last_seq_ = 0;  // from the cursor record at open: rebuild exactly this batch
  size_t max_event_bytes_ = 0;
  size_t max_batch_events_ = 0;
  size_t max_batch_bytes_ = 0;
  size_t per_event_overhead_ = 0;
  TimestampUs last_cursor_save_ = 0;
};

SinkBatch StreamManager::Worker::MakeBatch(std::vector<SinkEvent> events) const {
  SinkBatch b;
  b.stream_id = info.id;
  b.organization_id = info.spec.organization_id;
  b.delivery_id = DeliveryId(info.id, events.front().seq, events.back().seq);
  b.events = std::move(events);
  return b;
}

Status StreamManager::Worker::SaveCursor() {
  CursorRecord c;
  c.delivered_seq = info.delivered_seq;
  c.delivered_events = info.delivered_events;
  c.dead_letters = info.dead_letters;
  c.consecutive_failures = info.consecutive_failures;
  c.error = info.state == StreamState::kError;
  c.last_error = info.last_error;
  c.last_error_at = info.last_error_at;
  c.last_success_at = info.last_success_at;
  c.last_http_status = info.last_http_status;
  c.pending_last_seq =
      pending_.attempted && !pending_.batch.events.empty() ? pending_.examined_to : 0;
  last_cursor_save_ = manager_->clock_->NowMicros();
  return manager_->store_->PutMeta(CursorKey(info.id), EncodeCursor(c));
}

void StreamManager::Worker::WaitUntil(std::unique_lock<std::mutex>& lk, TimestampUs deadline) {
  const TimestampUs now = manager_->clock_->NowMicros();
  if (deadline <= now) return;
  const uint64_t gen = generation;
  const uint64_t epoch = cursor_epoch;
  const bool was_dirty = dirty;
  cv.wait_for(lk, std::chrono::microseconds(deadline - now), [&] {
    return stop || generation != gen || epoch != cursor_epoch || (!was_dirty && dirty) ||
           !redrives.empty() || info.paused || manager_->clock_->NowMicros() >= deadline;
  });
}

Status StreamManager::Worker::Fill(const StreamInfo& s, uint64_t limit_seq) {
  const size_t max_events = std::min(s.spec.batch.max_events, max_batch_events_);
  const size_t max_bytes = s.spec.batch.max_bytes;
  for (;;) {
    if (pending_.batch.events.size() >= max_events) {
      pending_.full = true;
      return Status::Ok();
    }
    size_t want = manager_->options_.read_chunk;
    if (limit_seq != 0) {
      if (pending_.examined_to >= limit_seq) {
        pending_.full = true;
        return Status::Ok();
      }
      want = std::min<uint64_t>(want, limit_seq - pending_.examined_to);
    }
    Result<std::vector<EventRecord>> read = manager_->store_->ReadOrganization(
        s.spec.organization_id, pending_.examined_to, want, /*fill_cache=*/false);
    if (!read.ok()) return read.status();
    for (EventRecord& e : *read) {
      if (e.purged_at != 0 || !MatchesFilter(s.spec.filter, e.fields)) {
        pending_.examined_to = e.seq;
        continue;
      }
      if (e.json.size() > max_event_bytes_) {
        if (!pending_.batch.events.empty()) {  // deliver what is before it first
          pending_.full = true;
          return Status::Ok();
        }
        pending_.batch.events.push_back(ToSinkEvent(std::move(e)));
        pending_.examined_to = e.seq;
        pending_.full = true;
        return Status::Ok();
      }
      // The stream's own byte bound counts event JSON; the destination's also its envelope.
      const size_t cost = e.json.size() + per_event_overhead_;
      if (!pending_.batch.events.empty() &&
          (pending_.batch.events.size() >= max_events || pending_.bytes + e.json.size() > max_bytes ||
           pending_.wire_bytes + cost > max_batch_bytes_)) {
        pending_.full = true;
        return Status::Ok();
      }
      pending_.bytes += e.json.size();
      pending_.wire_bytes += cost;
      pending_.batch.events.push_back(ToSinkEvent(std::move(e)));
      pending_.examined_to = e.seq;
    }
    if (read->size() < want) {
      pending_.caught_up = limit_seq == 0;
      if (limit_seq != 0) pending_.full = true;
      return Status::Ok();
    }
  }
}

void StreamManager::Worker::RecordFailure(const DeliveryResult& r, TimestampUs now,
                                          std::chrono::milliseconds delay) {
  ++info.consecutive_failures;
  info.last_error = std::string(sinks::DeliveryOutcomeName(r.outcome)) + ": " + r.detail;
  info.last_error_at = now;
  info.last_http_status = r.http_status;
  info.next_attempt_at = now + std::chrono::duration_cast<std::chrono::microseconds>(delay).count();
  manager_->failed_attempts_.fetch_add(1, std::memory_order_relaxed);
}

void StreamManager::Worker::DeadLetterPending(const std::string& reason,
                                              const DeliveryResult& r) {
  DeadLetter d;
  d.first_seq = pending_.batch.events.front().seq;
  d.last_seq = pending_.batch.events.back().seq;
  d.events = pending_.batch.events.size();
  d.reason = reason;
  d.http_status = r.http_status;
  d.detail = r.detail;
  d.attempts = pending_.rejections;
  d.at = manager_->clock_->NowMicros();
  Status s = manager_->store_->PutMeta(DeadKey(info.id, d.first_seq), EncodeDeadLetter(d));
  if (!s.ok()) {  // keep the batch and try again later rather than skip it unrecorded
    info.last_error = "cannot record a dead letter: " + s.message();
    info.next_attempt_at = d.at + 1000000;
    return;
  }
  manager_->dead_lettered_events_.fetch_add(d.events, std::memory_order_relaxed);
  ++info.dead_letters;
  info.delivered_seq = pending_.examined_to;
  info.consecutive_failures = 0;
  info.next_attempt_at = 0;
  pending_.Clear();
  (void)SaveCursor();
}

void StreamManager::Worker::Apply(const DeliveryResult& r, uint64_t epoch) {
  const TimestampUs now = manager_->clock_->NowMicros();
  if (epoch != cursor_epoch) {  // replayed while delivering: the cursor is no longer ours
    pending_.Clear();
    return;
  }
  switch (r.outcome) {
    case DeliveryOutcome::kDelivered: {
      manager_->delivered_events_.fetch_add(pending_.batch.events.size(), std::memory_order_relaxed);
      manager_->delivered_batches_.fetch_add(1, std::memory_order_relaxed);
      info.delivered_events += pending_.batch.events.size();
      info.delivered_seq = pending_.examined_to;
      info.consecutive_failures = 0;
      info.last_error.clear();
      info.last_http_status = r.http_status;
      info.last_success_at = now;
      info.next_attempt_at = 0;
      if (info.state == StreamState::kError) info.state = StreamState::kActive;
      pending_.Clear();
      frozen_last_seq_ = 0;
      break;
    }
    case DeliveryOutcome::kRetry: {
      std::chrono::milliseconds delay = manager_->Backoff(info.consecutive_failures + 1);
      if (r.retry_after) {
        delay = std::max(delay, std::min(*r.retry_after, manager_->options_.max_retry_after));
      }
      RecordFailure(r, now, delay);
      break;
    }
    case DeliveryOutcome::kFailed: {
      RecordFailure(r, now, manager_->Backoff(info.consecutive_failures + 1));
      info.state = StreamState::kError;
      break;
    }
    case DeliveryOutcome::kRejected: {
      ++pending_.rejections;
      if (pending_.rejections >= manager_->options_.reject_attempts) {
        RecordFailure(r, now, std::chrono::milliseconds(0));
        info.next_attempt_at = 0;
        DeadLetterPending("rejected", r);
        return;
      }
      RecordFailure(r, now, manager_->Backoff(info.consecutive_failures + 1));
      break;
    }
  }
  (void)SaveCursor();
}

void StreamManager::Worker::RunRedrive(std::unique_lock<std::mutex>& lk) {
  DeadLetter d = redrives.front();
  redrives.pop_front();
  const StreamInfo s = info;
  lk.unlock();
  std::vector<SinkEvent> events;
  DeliveryResult result;
  Result<std::vector<EventRecord>> read = manager_->store_->ReadOrganization(
      s.spec.organization_id, d.first_seq - 1, d.last_seq - d.first_seq + 1, false);
  bool too_large = false;
  if (!read.ok()) {
    result.outcome = DeliveryOutcome::kRetry;
    result.detail = "cannot read the events: " + read.status().message();
  } else {
    for (EventRecord& e : *read) {
      if (e.seq > d.last_seq || e.purged_at != 0 || !MatchesFilter(s.spec.filter, e.fields)) {
        continue;
      }
      too_large = too_large || e.json.size() > max_event_bytes_;
      events.push_back(ToSinkEvent(std::move(e)));
    }
    if (too_large) {
      result.outcome = DeliveryOutcome::kRejected;
      result.detail = "an event is larger than the destination accepts (" +
                      std::to_string(max_event_bytes_) + " bytes)";
    } else if (!events.empty()) {
      result = sink_->Deliver(MakeBatch(std::move(events)));
    } else {
      result.outcome = DeliveryOutcome::kDelivered;  // nothing left to send (purged)
    }
  }
  lk.lock();
  if (result.outcome == DeliveryOutcome::kDelivered) {
    if (manager_->store_->DeleteMeta(DeadKey(info.id, d.first_seq)).ok() &&
        info.dead_letters > 0) {
      --info.dead_letters;
      (void)SaveCursor();
    }
    return;
  }
  d.attempts += 1;
  d.http_status = result.http_status;
  d.detail = "re-drive failed: " + result.detail;
  (void)manager_->store_->PutMeta(DeadKey(info.id, d.first_seq), EncodeDeadLetter(d));
}

void StreamManager::Worker::Run() {
  pthread_setname_np(pthread_self(), "annals-stream");  // visible in top -H and /proc
  std::unique_lock lk(mu);
  while (!stop) {
    if (info.paused || info.state == StreamState::kDisabled) {
      cv.wait(lk, [&] { return stop || (!info.paused && info.state != StreamState::kDisabled); });
      continue;
    }
    if (sink_generation_ != generation) {
      Result<std::unique_ptr<sinks::Sink>> sink =
          manager_->factory_->Create(info.spec.type, info.spec.config);
      if (!sink.ok()) {
        info.state = StreamState::kDisabled;
        info.last_error = "the destination cannot be set up: " + sink.status().message();
        info.last_error_at = manager_->clock_->NowMicros();
        continue;
      }
      sink_ = std::move(sink).value();
      sink_generation_ = generation;
      max_event_bytes_ = sink_->max_event_bytes();
      const sinks::BatchLimits limits = manager_->factory_->Limits(info.spec.type);
      max_batch_events_ = std::max<size_t>(1, limits.max_events);
      max_batch_bytes_ = std::max<size_t>(1, limits.max_bytes);
      per_event_overhead_ = limits.per_event_overhead;
      if (!pending_.attempted) pending_.Clear();
    }
    if (!pending_.batch.events.empty() && pending_.epoch != cursor_epoch) pending_.Clear();
    const TimestampUs now = manager_->clock_->NowMicros();
    if (info.next_attempt_at > now) {
      WaitUntil(lk, info.next_attempt_at);
      continue;
    }
    if (!redrives.empty()) {
      RunRedrive(lk);
      continue;
    }
    if (!pending_.attempted && !pending_.full) {
      if (pending_.batch.events.empty()) {
        pending_.examined_to = info.delivered_seq;
        pending_.epoch = cursor_epoch;
      }
      dirty = false;
      const StreamInfo snapshot = info;
      const uint64_t limit = frozen_last_seq_;
      lk.unlock();
      Status filled = Fill(snapshot, limit);
      lk.lock();
      if (pending_.epoch != cursor_epoch || generation != sink_generation_) continue;
      if (!filled.ok()) {
        DeliveryResult r;
        r.outcome = DeliveryOutcome::kRetry;
        r.detail = "cannot read the organization's events: " + filled.message();
        RecordFailure(r, manager_->clock_->NowMicros(), manager_->Backoff(1));
        continue;
      }
      if (limit != 0) {
        frozen_last_seq_ = 0;
        if (!pending_.batch.events.empty()) pending_.attempted = true;  // the recorded batch
      }
    }
    if (pending_.batch.events.empty()) {
      if (pending_.examined_to > info.delivered_seq) {
        // Only events the filter skips (or purged ones): move the cursor past them, saving
        // it at most once a second.
        info.delivered_seq = pending_.examined_to;
        const TimestampUs t = manager_->clock_->NowMicros();
        if (t - last_cursor_save_ >= 1000000) (void)SaveCursor();
      }
      pending_.Clear();
      const uint64_t epoch = cursor_epoch;
      cv.wait(lk, [&] {
        return stop || dirty || generation != sink_generation_ || !redrives.empty() ||
               info.paused || cursor_epoch != epoch;
      });
      continue;
    }
    if (pending_.batch.events.size() == 1 && pending_.batch.events.front().json.size() > max_event_bytes_) {
      DeliveryResult r;
      r.outcome = DeliveryOutcome::kRejected;
      r.detail = "the event is " + std::to_string(pending_.batch.events.front().json.size()) +
                 " bytes, more than the destination accepts (" +
                 std::to_string(max_event_bytes_) + ")";
      DeadLetterPending("event_too_large", r);
      continue;
    }
    if (!pending_.attempted && !pending_.full) {
      const TimestampUs due =
          pending_.batch.events.front().received_at +
          std::chrono::duration_cast<std::chrono::microseconds>(info.spec.batch.max_delay).count();
      if (due > manager_->clock_->NowMicros()) {
        if (!dirty) WaitUntil(lk, due);
        if (dirty || manager_->clock_->NowMicros() < due) continue;
      }
    }
    pending_.attempted = true;
    if (pending_.batch.delivery_id.empty()) {
      pending_.batch.stream_id = info.id;
      pending_.batch.organization_id = info.spec.organization_id;
      pending_.batch.delivery_id =
          DeliveryId(info.id, pending_.batch.first_seq(), pending_.batch.last_seq());
    }
    const uint64_t epoch = cursor_epoch;
    lk.unlock();
    DeliveryResult result = sink_->Deliver(pending_.batch);
    lk.lock();
    Apply(result, epoch);
  }
}

// ---------------------------------------------------------------------------------------

StreamManager::StreamManager(StreamManagerOptions options, Store* store, const Clock* clock,
                             const sinks::SinkFactory* factory)
    : options_(std::move(options)),
      store_(store),
      clock_(clock),
      factory_(factory),
      rng_(options_.random_seed != 0 ? options_.random_seed : std::random_device{}()) {}

Result<std::unique_ptr<StreamManager>> StreamManager::Open(StreamManagerOptions options,
                                                           Store* store, const Clock* clock,
                                                           const sinks::SinkFactory* factory) {
  std::unique_ptr<StreamManager> m(new StreamManager(std::move(options), store, clock, factory));
  std::string after;
  for (;;) {
    Result<std::vector<std::pair<std::string, std::string>>> page =
        store->ListMeta(std::string(kStreamPrefix), after, 256);
    if (!page.ok()) return page.status();
    for (const auto& [name, value] : *page) {
      StreamInfo info;
      ANNALS_RETURN_IF_ERROR(DecodeSpecRecord(value, &info));
      Result<std::optional<std::string>> cursor_text = store->GetMeta(CursorKey(info.id));
      if (!cursor_text.ok()) return cursor_text.status();
      CursorRecord cursor;
      if (cursor_text->has_value()) ANNALS_RETURN_IF_ERROR(DecodeCursor(**cursor_text, &cursor));
      info.delivered_seq = cursor.delivered_seq;
      info.delivered_events = cursor.delivered_events;
      info.dead_letters = cursor.dead_letters;
      info.consecutive_failures = cursor.consecutive_failures;
      info.last_error = cursor.last_error;
      info.last_error_at = cursor.last_error_at;
      info.last_success_at = cursor.last_success_at;
      info.last_http_status = cursor.last_http_status;
      info.state = info.paused       ? StreamState::kPaused
                   : cursor.error    ? StreamState::kError
                   : factory->Knows(info.spec.type) ? StreamState::kActive
                                                     : StreamState::kDisabled;
      if (info.state == StreamState::kDisabled) {
        info.last_error = "this build has no destination of type '" + info.spec.type + "'";
      }
      auto w = std::make_shared<Worker>(m.get(), std::move(info), cursor.pending_last_seq);
      m->workers_.emplace(w->info.id, w);
    }
    if (page->size() < 256) break;
    after = page->back().first;
  }
  return m;
}

StreamManager::~StreamManager() { Stop(); }

void StreamManager::Start() {
  std::lock_guard lock(mu_);
  if (started_ || stopped_) return;
  started_ = true;
  for (auto& [id, w] : workers_) w->thread = std::thread([w] { w->Run(); });
}

void StreamManager::Stop() {
  std::vector<std::shared_ptr<Worker>> workers;
  std::vector<std::thread> retired;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& [id, w] : workers_) workers.push_back(w);
    retired.swap(retired_);
    for (auto& [thread, finished] : tests_) retired.push_back(std::move(thread));
    tests_.clear();
  }
  for (auto& w : workers) {
    std::lock_guard lk(w->mu);
    w->stop = true;
    w->cv.notify_all();
  }
  for (auto& w : workers) {
    if (w->thread.joinable()) w->thread.join();
  }
  for (auto& t : retired) {
    if (t.joinable()) t.join();
  }
}

void StreamManager::OnCommit(const std::vector<EventRecord>& committed) {
  if (committed.empty()) return;
  std::vector<std::shared_ptr<Worker>> wake;
  {
    std::lock_guard lock(mu_);
    if (workers_.empty()) return;
    for (auto& [id, w] : workers_) wake.push_back(w);
  }
  for (auto& w : wake) {
    bool concerned = false;
    std::lock_guard lk(w->mu);
    for (const EventRecord& e : committed) {
      if (e.fields.organization_id == w->info.spec.organization_id) {
        concerned = true;
        break;
      }
    }
    if (concerned) {
      w->dirty = true;
      w->cv.notify_all();
    }
  }
}

void StreamManager::Kick() {
  std::vector<std::shared_ptr<Worker>> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, w] : workers_) all.push_back(w);
  }
  for (auto& w : all) {
    std::lock_guard lk(w->mu);
    w->cv.notify_all();
  }
}

std::chrono::milliseconds StreamManager::Backoff(uint32_t n) {
  const int64_t base = options_.initial_backoff.count();
  const int64_t cap = options_.max_backoff.count();
  int64_t d = base;
  for (uint32_t i = 1; i < n && d < cap; ++i) d *= 2;
  d = std::min(d, cap);
  double u;
  {
    std::lock_guard lock(rng_mu_);
    u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  }
  const double jittered = static_cast<double>(d) * (1.0 - options_.jitter * u);
  return std::chrono::milliseconds(static_cast<int64_t>(jittered));
}

Status StreamManager::ValidateSpec(const StreamSpec& spec) const {
  std::vector<ErrorDetail> details;
  if (spec.name.empty() || spec.name.size() > kMaxNameBytes) {
    details.push_back({"/name", "name must be 1 to 200 bytes"});
  }
  if (!factory_->Knows(spec.type)) {
    details.push_back({"/type", "unknown destination type '" + spec.type +
                                    "' (webhook, splunk_hec, datadog, s3 or syslog)"});
  }
  const BatchPolicy& b = spec.batch;
  if (b.max_events < 1 || b.max_events > 10000) {
    details.push_back({"/batch/max_events", "max_events must be 1 to 10000"});
  }
  if (b.max_bytes < 1024 || b.max_bytes > (64u << 20)) {
    details.push_back({"/batch/max_bytes", "max_bytes must be 1024 to 67108864"});
  }
  if (b.max_delay.count() < 0 || b.max_delay.count() > 3600000) {
    details.push_back({"/batch/max_delay_ms", "max_delay_ms must be 0 to 3600000"});
  }
  if (!details.empty()) {
    std::string message = details.front().message;
    return Status::InvalidArgument(std::move(message), "invalid_stream", std::move(details));
  }
  return factory_->Validate(spec.type, spec.config);
}

void StreamManager::AddLag(StreamInfo* info) {
  Result<uint64_t> last = store_->LastSeq(info->spec.organization_id);
  if (!last.ok() || *last <= info->delivered_seq) return;
  info->lag_events = *last - info->delivered_seq;
  Result<std::optional<EventRecord>> next =
      store_->GetEventBySeq(info->spec.organization_id, info->delivered_seq + 1);
  if (next.ok() && next->has_value()) {
    const TimestampUs behind = clock_->NowMicros() - (*next)->received_at;
    info->lag_seconds = behind > 0 ? static_cast<double>(behind) / 1e6 : 0.0;
  }
}

Result<StreamInfo> StreamManager::Create(StreamSpec spec, const std::string& created_by) {
  spec.filter.organization_id = spec.organization_id;
  spec.filter.from.reset();
  spec.filter.to.reset();
  ANNALS_RETURN_IF_ERROR(ValidateSpec(spec));
  Result<uint64_t> last = store_->LastSeq(spec.organization_id);
  if (!last.ok()) return last.status();
  std::shared_ptr<Worker> w;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return Status::Unavailable("the server is shutting down", "shutting_down");
    size_t count = 0;
    for (auto& [id, other] : workers_) {
      std::lock_guard lk(other->mu);
      if (other->info.spec.organization_id == spec.organization_id) ++count;
    }
    if (Status shared = CheckExclusive(spec, ""); !shared.ok()) return shared;
    if (count >= options_.max_streams_per_organization) {
      return Status::Conflict("this organization already has " + std::to_string(count) +
                                  " streams, the most it may have",
                              "too_many_streams");
    }
    StreamInfo info;
    const TimestampUs now = clock_->NowMicros();
    info.id = "str_" + ids_.NextEventId(now).substr(4);
    info.spec = std::move(spec);
    info.delivered_seq = *last;
    info.created_at = info.updated_at = now;
    info.created_by = created_by;
    ANNALS_RETURN_IF_ERROR(store_->PutMeta(StreamKey(info.id), EncodeSpecRecord(info)));
    CursorRecord c;
    c.delivered_seq = info.delivered_seq;
    ANNALS_RETURN_IF_ERROR(store_->PutMeta(CursorKey(info.id), EncodeCursor(c)));
    w = std::make_shared<Worker>(this, std::move(info), 0);
    workers_.emplace(w->info.id, w);
    if (started_) w->thread = std::thread([w] { w->Run(); });
  }
  std::lock_guard lk(w->mu);
  return w->info;
}

Status StreamManager::CheckExclusive(const StreamSpec& spec, const std::string& except_id) {
  const std::string target = factory_->ExclusiveTarget(spec.type, spec.config);
  if (target.empty()) return Status::Ok();
  for (auto& [id, other] : workers_) {
    if (id == except_id) continue;
    StreamSpec theirs;
    {
      std::lock_guard lk(other->mu);
      theirs = other->info.spec;
    }
    if (theirs.type == spec.type && factory_->ExclusiveTarget(theirs.type, theirs.config) == target) {
      return Status::Conflict("stream " + id + " already delivers to " + target +
                                  "; give each stream its own destination (e.g. its own prefix)",
                              "destination_in_use");
    }
  }
  return Status::Ok();
}

Result<std::shared_ptr<StreamManager::Worker>> StreamManager::Find(
    const std::string& organization_id, const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = workers_.find(id);
  if (it == workers_.end()) return NotFound(id);
  std::lock_guard lk(it->second->mu);
  if (!organization_id.empty() && it->second->info.spec.organization_id != organization_id) {
    return NotFound(id);
  }
  return it->second;
}

Result<StreamInfo> StreamManager::Get(const std::string& organization_id, const std::string& id) {
  Result<std::shared_ptr<Worker>> w = Find(organization_id, id);
  if (!w.ok()) return w.status();
  StreamInfo info;
  {
    std::lock_guard lk((*w)->mu);
    info = (*w)->info;
  }
  AddLag(&info);
  return info;
}

Result<std::vector<StreamInfo>> StreamManager::List(const std::string& organization_id) {
  std::vector<StreamInfo> out;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, w] : workers_) {
      std::lock_guard lk(w->mu);
      if (organization_id.empty() || w->info.spec.organization_id == organization_id) {
        out.push_back(w->info);
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const StreamInfo& a, const StreamInfo& b) { return a.id < b.id; });
  for (StreamInfo& s : out) AddLag(&s);
  return out;
}

Result<StreamInfo> StreamManager::Update(const std::string& organization_id,
                                         const std::string& id, StreamUpdate update) {
  Result<std::shared_ptr<Worker>> found = Find(organization_id, id);
  if (!found.ok()) return found.status();
  Worker& w = **found;
  StreamInfo next;
  {
    std::lock_guard lk(w.mu);
    next = w.info;
  }
  if (update.name) next.spec.name = *update.name;
  if (update.config) {
    for (const auto& [key, value] : *update.config) {
      if (value.is_null()) {
        next.spec.config.erase(key);
      } else {
        next.spec.config[key] = value;
      }
    }
  }
  if (update.filter) {
    next.spec.filter = *update.filter;
    next.spec.filter.organization_id = next.spec.organization_id;
  }
  if (update.batch) next.spec.batch = *update.batch;
  ANNALS_RETURN_IF_ERROR(ValidateSpec(next.spec));  // may resolve a host: no lock held
  // Lock order: mu_, then this worker's mu, then (CheckExclusive) other workers' one at a
  // time; Update and Create are the only paths holding two worker locks, both under mu_.
  std::lock_guard lock(mu_);
  std::lock_guard lk(w.mu);
  ANNALS_RETURN_IF_ERROR(CheckExclusive(next.spec, id));
  // What the worker changed meanwhile (its status) is kept; the spec is the update's.
  StreamSpec spec = std::move(next.spec);
  next = w.info;
  next.spec = std::move(spec);
  next.updated_at = clock_->NowMicros();
  ANNALS_RETURN_IF_ERROR(store_->PutMeta(StreamKey(id), EncodeSpecRecord(next)));
  const bool destination_changed = update.config.has_value() || update.filter.has_value() ||
                                   update.batch.has_value();
  w.info = std::move(next);
  if (destination_changed) {
    ++w.generation;
    // A changed destination gets a fresh chance: a stream in error is retried now.
    if (w.info.state == StreamState::kError || w.info.state == StreamState::kDisabled) {
      w.info.state = w.info.paused ? StreamState::kPaused : StreamState::kActive;
    }
    w.info.next_attempt_at = 0;
    w.cv.notify_all();
  }
  return w.info;
}

Status StreamManager::Delete(const std::string& organization_id, const std::string& id) {
  Result<std::shared_ptr<Worker>> found = Find(organization_id, id);
  if (!found.ok()) return found.status();
  std::shared_ptr<Worker> w = *found;
  // Dead letters first, then the cursor, then the definition: a crash in between leaves a
  // stream that still loads.
  std::string after;
  for (;;) {
    Result<std::vector<std::pair<std::string, std::string>>> page =
        store_->ListMeta(DeadPrefix(id), after, 256);
    if (!page.ok()) return page.status();
    for (const auto& [name, value] : *page) {
      ANNALS_RETURN_IF_ERROR(store_->DeleteMeta(name));
    }
    if (page->size() < 256) break;
    after = page->back().first;
  }
  ANNALS_RETURN_IF_ERROR(store_->DeleteMeta(CursorKey(id)));
  ANNALS_RETURN_IF_ERROR(store_->DeleteMeta(StreamKey(id)));
  std::lock_guard lock(mu_);
  workers_.erase(id);
  {
    std::lock_guard lk(w->mu);
    w->stop = true;
    w->cv.notify_all();
  }
  // A delivery in progress finishes on its own; its thread is joined at Stop().
  if (w->thread.joinable()) retired_.push_back(std::move(w->thread));
  return Status::Ok();
}

Result<StreamInfo> StreamManager::SetPaused(const std::string& organization_id,
                                            const std::string& id, bool paused) {
  Result<std::shared_ptr<Worker>> found = Find(organization_id, id);
  if (!found.ok()) return found.status();
  Worker& w = **found;
  std::lock_guard lk(w.mu);
  if (w.info.paused == paused) return w.info;
  StreamInfo next = w.info;
  next.paused = paused;
  next.updated_at = clock_->NowMicros();
  ANNALS_RETURN_IF_ERROR(store_->PutMeta(StreamKey(id), EncodeSpecRecord(next)));
  w.info = std::move(next);
  if (paused) {
    w.info.state = StreamState::kPaused;
  } else {
    // A stream that was in error is retried at once and shows `error` again if it fails.
    w.info.state = StreamState::kActive;
    w.info.next_attempt_at = 0;
  }
  w.cv.notify_all();
  return w.info;
}

Result<StreamInfo> StreamManager::Replay(const std::string& organization_id,
                                         const std::string& id, std::optional<uint64_t> from_seq,
                                         std::optional<TimestampUs> from_time) {
  Result<std::shared_ptr<Worker>> found = Find(organization_id, id);
  if (!found.ok()) return found.status();
  std::string org;
  {
    std::lock_guard lk((*found)->mu);
    org = (*found)->info.spec.organization_id;
  }
  Result<uint64_t> last = store_->LastSeq(org);
  if (!last.ok()) return last.status();
  uint64_t start = 1;
  if (from_seq) {
    if (*from_seq < 1 || *from_seq > *last + 1) {
      return Status::InvalidArgument(
          "from_seq must be 1 to " + std::to_string(*last + 1) + " (the next seq)",
          "invalid_request", {{"/from_seq", "out of range"}});
    }
    start = *from_seq;
  } else if (from_time) {
    // Seqs follow receipt: the first seq received at or after from_time, by bisection.
    uint64_t lo = 1, hi = *last + 1;
    while (lo < hi) {
      const uint64_t mid = lo + (hi - lo) / 2;
      Result<std::optional<EventRecord>> e = store_->GetEventBySeq(org, mid);
      if (!e.ok()) return e.status();
      if (e->has_value() && (*e)->received_at < *from_time) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    start = lo;
  } else {
    return Status::InvalidArgument("a replay needs from_seq or from_time", "invalid_request");
  }
  Worker& w = **found;
  std::lock_guard lk(w.mu);
  w.info.delivered_seq = start - 1;
  w.info.consecutive_failures = 0;
  w.info.next_attempt_at = 0;
  if (w.info.state == StreamState::kError) w.info.state = StreamState::kActive;
  ++w.cursor_epoch;
  CursorRecord c;
  c.delivered_seq = w.info.delivered_seq;
  c.delivered_events = w.info.delivered_events;
  c.dead_letters = w.info.dead_letters;
  c.last_error = w.info.last_error;
  c.last_error_at = w.info.last_error_at;
  c.last_success_at = w.info.last_success_at;
  c.last_http_status = w.info.last_http_status;
  ANNALS_RETURN_IF_ERROR(store_->PutMeta(CursorKey(id), EncodeCursor(c)));
  w.dirty = true;
  w.cv.notify_all();
  return w.info;
}

void StreamManager::Test(const std::string& organization_id, const std::string& id,
                         std::function<void(Result<TestDelivery>)> done) {
  Result<StreamInfo> info = Get(organization_id, id);
  if (!info.ok()) return done(info.status());
  Result<std::unique_ptr<sinks::Sink>> sink = factory_->Create(info->spec.type, info->spec.config);
  if (!sink.ok()) return done(sink.status());
  const TimestampUs now = clock_->NowMicros();
  SinkEvent e;
  e.seq = 0;
  e.id = "evt_" + [&] {
    std::lock_guard lock(mu_);
    return ids_.NextEventId(now).substr(4);
  }();
  e.occurred_at = e.received_at = now;
  e.action = "annals.stream.test";
  json::object o;
  o["action"] = e.action;
  o["actor"] = json::object{{"id", "annals"}, {"type", "system"}, {"name", "annals"}};
  o["id"] = e.id;
  o["metadata"] = json::object{{"stream_id", info->id}, {"test", true}};
  o["occurred_at"] = FormatRfc3339Micros(now);
  o["organization_id"] = info->spec.organization_id;
  o["received_at"] = FormatRfc3339Micros(now);
  o["seq"] = 0;
  o["source"] = json::object{{"kind", "annals"}};
  o["targets"] = json::array{json::object{{"id", info->id}, {"type", "stream"}}};
  e.json = Canonical(json::value(std::move(o)));
  SinkBatch batch;
  batch.stream_id = info->id;
  batch.organization_id = info->spec.organization_id;
  batch.delivery_id = info->id + ":test-" + e.id;
  batch.events.push_back(std::move(e));
  auto finished = std::make_shared<std::atomic<bool>>(false);
  auto run = [this, sink = std::shared_ptr<sinks::Sink>(std::move(sink).value()),
              batch = std::move(batch), done = std::move(done), finished]() mutable {
    const TimestampUs t0 = clock_->NowMicros();
    TestDelivery t;
    t.result = sink->Deliver(batch);
    t.seconds = static_cast<double>(clock_->NowMicros() - t0) / 1e6;
    done(std::move(t));
    finished->store(true);
  };
  std::lock_guard lock(mu_);
  if (stopped_) {
    return;  // `done` is dropped with the closure: the server is going away
  }
  // Test deliveries that ended are joined here; the rest at Stop().
  for (auto it = tests_.begin(); it != tests_.end();) {
    if (it->second->load()) {
      it->first.join();
      it = tests_.erase(it);
    } else {
      ++it;
    }
  }
  tests_.emplace_back(std::thread(std::move(run)), std::move(finished));
}

Result<std::vector<DeadLetter>> StreamManager::DeadLetters(const std::string& organization_id,
                                                          const std::string& id) {
  Result<std::shared_ptr<Worker>> found = Find(organization_id, id);
  if (!found.ok()) return found.status();
  std::vector<DeadLetter> out;
  std::string after;
  for (;;) {
    Result<std::vector<std::pair<std::string, std::string>>> page =
        store_->ListMeta(DeadPrefix(id), after, 256);
    if (!page.ok()) return page.status();
    for (const auto& [name, value] : *page) {
      Result<DeadLetter> d = DecodeDeadLetter(value);
      if (!d.ok()) return d.status();
      out.push_back(std::move(d).value());
    }
    if (page->size() < 256) break;
    after = page->back().first;
  }
  std::lock_guard lk((*found)->mu);
  for (DeadLetter& d : out) {
    for (const DeadLetter& q : (*found)->redrives) {
      if (q.first_seq == d.first_seq) d.redriving = true;
    }
  }
  return out;
}

namespace {
bool ParseDeadLetterId(const std::string& text, uint64_t* first) {
  const size_t dash = text.find('-');
  if (dash == std::string::npos || dash == 0) return false;
  try {
    size_t used = 0;
    *first = std::stoull(text.substr(0, dash), &used);
    return used == dash;
  } catch (const std::exception&) {
    return false;
  }
}
}  // namespace

Result<DeadLetter> StreamManager::Redrive(const std::string& organization_id,
                                          const std::string& id,
                                          const std::string& dead_letter_id) {
  Result<std::shared_ptr<Worker>> found = Find(organization_id, id);
  if (!found.ok()) return found.status();
  const Status missing = Status::NotFound(
      "stream " + id + " has no dead letter '" + dead_letter_id + "'", "dead_letter_not_found");
  uint64_t first = 0;
  if (!ParseDeadLetterId(dead_letter_id, &first)) return missing;
  Result<std::optional<std::string>> text = store_->GetMeta(DeadKey(id, first));
  if (!text.ok()) return text.status();
  if (!text->has_value()) return missing;
  Result<DeadLetter> d = DecodeDeadLetter(**text);
  if (!d.ok()) return d.status();
  if (d->id != dead_letter_id) return missing;
  Worker& w = **found;
  std::lock_guard lk(w.mu);
  for (const DeadLetter& q : w.redrives) {
    if (q.first_seq == d->first_seq) {
      d->redriving = true;
      return *d;
    }
  }
  w.redrives.push_back(*d);
  w.cv.notify_all();
  d->redriving = true;
  return *d;
}

Status StreamManager::DeleteDeadLetter(const std::string& organization_id, const std::string& id,
                                       const std::string& dead_letter_id) {
  Result<std::shared_ptr<Worker>> found = Find(organization_id, id);
  if (!found.ok()) return found.status();
  const Status missing = Status::NotFound(
      "stream " + id + " has no dead letter '" + dead_letter_id + "'", "dead_letter_not_found");
  uint64_t first = 0;
  if (!ParseDeadLetterId(dead_letter_id, &first)) return missing;
  Result<std::optional<std::string>> text = store_->GetMeta(DeadKey(id, first));
  if (!text.ok()) return text.status();
  if (!text->has_value()) return missing;
  ANNALS_RETURN_IF_ERROR(store_->DeleteMeta(DeadKey(id, first)));
  Worker& w = **found;
  std::lock_guard lk(w.mu);
  if (w.info.dead_letters > 0) --w.info.dead_letters;
  return Status::Ok();
}

boost::json::object StreamManager::RedactedConfig(const StreamSpec& spec) const {
  json::object config = spec.config;
  for (const std::string& secret : factory_->SecretFields(spec.type)) config.erase(secret);
  return config;
}

StreamManager::Counters StreamManager::counters() const {
  Counters c;
  c.delivered_events = delivered_events_.load(std::memory_order_relaxed);
  c.delivered_batches = delivered_batches_.load(std::memory_order_relaxed);
  c.failed_attempts = failed_attempts_.load(std::memory_order_relaxed);
  c.dead_lettered_events = dead_lettered_events_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace annals::streams
