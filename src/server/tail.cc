#include "server/tail.h"

#include <atomic>
#include <charconv>

#include "common/sha256.h"
#include "domain/event_filter.h"

namespace annals {

std::string EncodeTailCursor(uint64_t seq) { return Base64UrlEncode("seq:" + std::to_string(seq)); }

std::optional<uint64_t> DecodeTailCursor(std::string_view cursor) {
  std::optional<std::string> raw = Base64UrlDecode(cursor);
  if (!raw || raw->size() <= 4 || raw->compare(0, 4, "seq:") != 0) return std::nullopt;
  uint64_t seq = 0;
  const char* begin = raw->data() + 4;
  const char* end = raw->data() + raw->size();
  auto [p, ec] = std::from_chars(begin, end, seq);
  if (ec != std::errc() || p != end || seq == 0 || *begin == '0') return std::nullopt;
  return seq;
}

TailHub::TailHub(Store* store, TailOptions options) : store_(store), options_(options) {
  thread_ = std::thread([this] { Run(); });
}

TailHub::~TailHub() { Stop(); }

void TailHub::ForgetRecent() {
  std::lock_guard lock(mu_);
  ring_.clear();
  ring_bytes_ = 0;
}

void TailHub::Publish(const std::vector<EventRecord>& committed) {
  if (committed.empty()) return;
  std::lock_guard lock(mu_);
  last_published_ = committed.back().position;
  last_published_known_ = true;
  if (subs_.empty()) {
    // Nobody reads the ring: copy nothing on the ingest path. A later subscriber starts at
    // "now", or resumes from the store.
    ring_.clear();
    ring_bytes_ = 0;
    return;
  }
  if (!ring_.empty() && committed.front().position != ring_.back()->position + 1) {
    ring_.clear();  // never expected: keep the ring contiguous
    ring_bytes_ = 0;
  }
  for (const EventRecord& e : committed) {
    ring_bytes_ += e.json.size();
    ring_.push_back(std::make_shared<const EventRecord>(e));
  }
  while (!ring_.empty() &&
         (ring_.size() > options_.ring_events || ring_bytes_ > options_.ring_bytes)) {
    ring_bytes_ -= ring_.front()->json.size();
    ring_.pop_front();
  }
  for (const auto& [id, s] : subs_) dirty_.insert(id);
  cv_.notify_one();
}

Status TailHub::Subscribe(EventFilter filter, std::optional<uint64_t> after_position,
                          std::shared_ptr<ResponseStream> stream) {
  auto s = std::make_shared<Subscriber>();
  s->filter = std::move(filter);
  s->stream = stream;
  s->last_write = Clock::now();
  uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    if (stop_) return Status::Unavailable("annals is shutting down", "shutting_down", 5);
    if (subs_.size() >= options_.max_subscribers) {
      return Status::Unavailable("too many live-tail subscribers; retry later", "overloaded", 5);
    }
    if (after_position) {
      s->cursor = *after_position;
    } else if (last_published_known_) {
      s->cursor = last_published_;
    } else {
      Result<uint64_t> last = store_->LastPosition();
      if (!last.ok()) return last.status();
      s->cursor = *last;
    }
    id = s->id = next_id_++;
    subs_.emplace(id, s);
    dirty_.insert(id);
  }
  stream->SetCallbacks(
      [this, id] {
        std::lock_guard lock(mu_);
        dirty_.insert(id);
        cv_.notify_one();
      },
      [this, id] {
        std::lock_guard lock(mu_);
        closed_.insert(id);
        cv_.notify_one();
      });
  // The first chunk tells EventSource clients how soon to reconnect.
  stream->Write("retry: 2000\n\n");
  cv_.notify_one();
  return Status::Ok();
}

size_t TailHub::subscribers() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

uint64_t TailHub::delivered() const { return delivered_.load(); }

void TailHub::Stop() {
  std::map<uint64_t, std::shared_ptr<Subscriber>> subs;
  {
    std::lock_guard lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(mu_);
    subs.swap(subs_);
  }
  for (auto& [id, s] : subs) s->stream->Close();
}

std::vector<std::shared_ptr<const EventRecord>> TailHub::EventsAfter(uint64_t position,
                                                                     size_t limit,
                                                                     bool* from_ring) {
  std::vector<std::shared_ptr<const EventRecord>> out;
  {
    std::lock_guard lock(mu_);
    if (!ring_.empty() && position + 1 >= ring_.front()->position) {
      *from_ring = true;
      if (position >= ring_.back()->position) return out;
      size_t i = position + 1 - ring_.front()->position;
      for (; i < ring_.size() && out.size() < limit; ++i) out.push_back(ring_[i]);
      return out;
    }
    if (last_published_known_ && position >= last_published_) {
      *from_ring = true;
      return out;
    }
  }
  *from_ring = false;
  Result<std::vector<EventRecord>> rows = store_->ReadFrom(position, limit);
  if (!rows.ok()) return out;
  for (EventRecord& e : *rows) out.push_back(std::make_shared<const EventRecord>(std::move(e)));
  return out;
}

bool TailHub::Pump(Subscriber& s) {
  if (s.stream->closed()) return false;
  const auto now = Clock::now();
  while (s.stream->buffered_bytes() < options_.high_watermark_bytes) {
    bool from_ring = false;
    std::vector<std::shared_ptr<const EventRecord>> batch =
        EventsAfter(s.cursor, options_.store_read_batch, &from_ring);
    if (batch.empty()) break;
    std::string out;
    uint64_t matched = 0;
    for (const auto& e : batch) {
      s.cursor = e->position;
      if (!MatchesFilter(s.filter, e->fields)) continue;
      out += "id: ";
      out += EncodeTailCursor(e->seq);
      out += "\nevent: event\ndata: ";
      out += e->json;
      out += "\n\n";
      ++matched;
    }
    if (!out.empty()) {
      if (!s.stream->Write(std::move(out))) return false;
      s.last_write = now;
      delivered_.fetch_add(matched);
    }
  }
  if (s.stream->buffered_bytes() >= options_.high_watermark_bytes) {
    if (!s.stalled_since) s.stalled_since = now;
    if (now - *s.stalled_since >= options_.stall_timeout) {
      s.stream->Close();  // a slow consumer; it may resume with its last event id
      return false;
    }
  } else {
    s.stalled_since.reset();
    if (now - s.last_write >= options_.heartbeat) {
      if (!s.stream->Write(": keepalive\n\n")) return false;
      s.last_write = now;
    }
  }
  return true;
}

void TailHub::Run() {
  const auto tick = std::min<Clock::duration>(options_.heartbeat, std::chrono::seconds(1));
  auto next_sweep = Clock::now() + tick;
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait_until(lock, next_sweep,
                   [this] { return stop_ || !dirty_.empty() || !closed_.empty(); });
    if (stop_) return;
    for (uint64_t id : closed_) {
      subs_.erase(id);
      dirty_.erase(id);
    }
    closed_.clear();
    std::vector<std::shared_ptr<Subscriber>> work;
    const bool sweep = Clock::now() >= next_sweep;
    if (sweep) {
      // Heartbeats and stall checks for everyone.
      for (const auto& [id, s] : subs_) work.push_back(s);
      next_sweep = Clock::now() + tick;
    } else {
      for (uint64_t id : dirty_) {
        auto it = subs_.find(id);
        if (it != subs_.end()) work.push_back(it->second);
      }
    }
    dirty_.clear();
    lock.unlock();
    std::vector<uint64_t> finished;
    for (const auto& s : work) {
      if (!Pump(*s)) finished.push_back(s->id);
    }
    lock.lock();
    for (uint64_t id : finished) {
      auto it = subs_.find(id);
      if (it != subs_.end()) {
        it->second->stream->Close();
        subs_.erase(it);
      }
    }
  }
}

}  // namespace annals
