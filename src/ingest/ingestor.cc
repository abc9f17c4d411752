#include "ingest/ingestor.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <numeric>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "domain/event_decoder.h"

namespace annals {

namespace {

// Where an idempotency key of a submission resolved to.
struct KeyResolution {
  bool duplicate = false;
  Ack original;
};

struct PendingKey {
  std::string content_hash;
  Ack ack;
};

// Lays a group's events out by organization: the organizations in the order they first
// appear, each one's events in their order (so seqs still rise with positions), on the
// same range of positions. Reading one organization (exports, scans, catch-ups) then finds
// its events side by side in the store instead of one in every few among other tenants'.
// Returns each event's new position by id, or an empty map when the events already were
// grouped.
std::unordered_map<std::string_view, uint64_t> GroupByOrganization(
    std::vector<EventRecord>* events) {
  std::unordered_map<std::string_view, uint64_t> moved;
  const size_t n = events->size();
  if (n < 2) return moved;
  std::vector<uint32_t> rank(n);  // of each event's organization, by first appearance
  {
    std::unordered_map<std::string_view, uint32_t> first_seen;
    bool grouped = true;
    for (size_t i = 0; i < n; ++i) {
      const std::string_view org = (*events)[i].fields.organization_id;
      auto [it, inserted] =
          first_seen.try_emplace(org, static_cast<uint32_t>(first_seen.size()));
      if (!inserted && i > 0 && rank[i - 1] != it->second) grouped = false;
      rank[i] = it->second;
    }
    if (grouped) return moved;
  }
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [&rank](uint32_t a, uint32_t b) { return rank[a] < rank[b]; });
  const uint64_t first = events->front().position;
  std::vector<EventRecord> sorted;
  sorted.reserve(n);
  for (uint32_t i : order) {
    sorted.push_back(std::move((*events)[i]));
    sorted.back().position = first + sorted.size() - 1;
  }
  events->swap(sorted);
  moved.reserve(n);
  for (const EventRecord& e : *events) moved.emplace(e.id, e.position);
  return moved;
}

}  // namespace

Result<std::unique_ptr<Ingestor>> Ingestor::Start(Store* store, const Clock* clock,
                                                  IngestOptions options) {
  std::unique_ptr<Ingestor> ingestor(new Ingestor(store, clock, std::move(options)));
  Status st = ingestor->Init();
  if (!st.ok()) return st;
  ingestor->writer_ = std::thread([p = ingestor.get()] { p->WriterLoop(); });
  return ingestor;
}

Ingestor::Ingestor(Store* store, const Clock* clock, IngestOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {}

Status Ingestor::Init() {
  Result<uint64_t> pos = store_->LastPosition();
  if (!pos.ok()) return pos.status();
  last_position_ = *pos;
  return Status::Ok();
}

Ingestor::~Ingestor() { Stop(); }

void Ingestor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void Ingestor::AddCommitObserver(CommitObserver observer) {
  observers_.push_back(std::move(observer));
}

void Ingestor::AddGroupObserver(GroupObserver observer) {
  group_observers_.push_back(std::move(observer));
}

Status Ingestor::Health() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_;
}

IngestStats Ingestor::Stats() const {
  IngestStats s;
  s.events_committed = events_committed_.load();
  s.groups_committed = groups_committed_.load();
  s.submissions_rejected_overload = rejected_overload_.load();
  std::lock_guard<std::mutex> lock(mu_);
  s.queued_events = queued_events_;
  return s;
}

void Ingestor::Submit(std::vector<EventDraft> drafts, AckCallback done, SubmitPriority priority) {
  if (drafts.empty()) {
    done(std::vector<Ack>{});
    return;
  }
  Status refusal;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failure_.ok()) {
      refusal = failure_;
    } else if (stopping_) {
      refusal = Status::Unavailable("annals is shutting down; retry against another node or later",
                                    "shutting_down", 5);
    } else if (priority == SubmitPriority::kNormal && queued_events_ > 0 &&
               queued_events_ + drafts.size() > options_.max_queued_events) {
      rejected_overload_.fetch_add(1);
      refusal = Status::Unavailable("the ingest queue is full; retry after the indicated delay",
                                    "overloaded", 1);
    } else {
      queued_events_ += drafts.size();
      queue_.push_back(Submission{std::move(drafts), std::move(done)});
    }
  }
  if (!refusal.ok()) {
    done(refusal);
    return;
  }
  cv_.notify_one();
}

Result<std::vector<Ack>> Ingestor::SubmitAndWait(std::vector<EventDraft> drafts) {
  std::promise<Result<std::vector<Ack>>> promise;
  auto future = promise.get_future();
  Submit(std::move(drafts),
         [&promise](Result<std::vector<Ack>> r) { promise.set_value(std::move(r)); });
  return future.get();
}

void Ingestor::WriterLoop() {
  std::vector<Submission> group;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      size_t events = 0;
      while (!queue_.empty()) {
        size_t n = queue_.front().drafts.size();
        if (!group.empty() && events + n > options_.max_commit_events) break;
        events += n;
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    CommitGroup(group);
    group.clear();
  }
}

void Ingestor::CommitGroup(std::vector<Submission>& group) {
  const TimestampUs now = std::max(clock_->NowMicros(), last_received_at_);
  last_received_at_ = now;

  // Keys written by this group so far: (org, key) -> content hash and ack.
  std::map<std::pair<std::string, std::string>, PendingKey> group_keys;

  AppendBatch batch;
  size_t total = 0;
  for (const Submission& s : group) total += s.drafts.size();
  batch.events.reserve(total);

  struct Outcome {
    Status status;
    std::vector<Ack> acks;
  };
  std::vector<Outcome> outcomes(group.size());


  for (size_t si = 0; si < group.size(); ++si) {
    Submission& sub = group[si];
    Outcome& out = outcomes[si];

    // Pass 1: resolve idempotency keys without assigning anything, so that a conflict
    // leaves the submission entirely unstored.
    std::vector<KeyResolution> resolution(sub.drafts.size());
    std::map<std::pair<std::string, std::string>, size_t> first_in_submission;
    for (size_t i = 0; i < sub.drafts.size() && out.status.ok(); ++i) {
      if (sub.drafts[i].idempotency_key.empty()) continue;
      // Drafts are decoded without a content hash unless they carried a key; a key may have
      // been added since (a header, a source position).
      if (sub.drafts[i].content_hash.empty()) ComputeContentHash(&sub.drafts[i]);
      const EventDraft& d = sub.drafts[i];
      auto k = std::make_pair(d.fields.organization_id, d.idempotency_key);
      auto conflict = [&] {
        out.status = Status::Conflict(
            "the idempotency key '" + d.idempotency_key +
                "' was already used with different event content",
            "idempotency_conflict");
      };
      if (auto it = first_in_submission.find(k); it != first_in_submission.end()) {
        if (sub.drafts[it->second].content_hash != d.content_hash) conflict();
        continue;  // resolved to the earlier draft in pass 2
      }
      first_in_submission.emplace(k, i);
      if (auto it = group_keys.find(k); it != group_keys.end()) {
        if (it->second.content_hash != d.content_hash) {
          conflict();
        } else {
          resolution[i].duplicate = true;
          resolution[i].original = it->second.ack;
        }
        continue;
      }
      Result<std::optional<IdempotencyRecord>> rec =
          store_->GetIdempotency(d.fields.organization_id, d.idempotency_key);
      if (!rec.ok()) {
        out.status = rec.status();
        continue;
      }
      if (rec->has_value() && now < (*rec)->expires_at) {
        if ((*rec)->content_hash != d.content_hash) {
          conflict();
        } else {
          resolution[i].duplicate = true;
          resolution[i].original.id = (*rec)->event_id;
          resolution[i].original.seq = (*rec)->seq;
        }
      }
    }
    if (!out.status.ok()) continue;

    // Pass 2: assign server fields and render.
    out.acks.resize(sub.drafts.size());
    for (size_t i = 0; i < sub.drafts.size(); ++i) {
      EventDraft& d = sub.drafts[i];
      if (resolution[i].duplicate) {
        out.acks[i] = resolution[i].original;
        out.acks[i].duplicate = true;
        continue;
      }
      if (!d.idempotency_key.empty()) {
        auto k = std::make_pair(d.fields.organization_id, d.idempotency_key);
        auto first = first_in_submission.find(k);
        if (first != first_in_submission.end() && first->second != i) {
          out.acks[i] = out.acks[first->second];
          out.acks[i].duplicate = true;
          continue;
        }
      }
      auto seq_it = last_seq_.find(d.fields.organization_id);
      if (seq_it == last_seq_.end()) {
        Result<uint64_t> last = store_->LastSeq(d.fields.organization_id);
        if (!last.ok()) {
          out.status = last.status();
          break;
        }
        seq_it = last_seq_.emplace(d.fields.organization_id, *last).first;
      }

      EventRecord rec;
      rec.position = ++last_position_;
      rec.seq = ++seq_it->second;
      rec.received_at = now;
      rec.id = ids_.NextEventId(now);
      rec.json = RenderCanonicalEvent(d, rec.id, rec.seq, rec.received_at);
      rec.fields = std::move(d.fields);

      Ack& ack = out.acks[i];
      ack.id = rec.id;
      ack.seq = rec.seq;
      ack.position = rec.position;
      if (!d.idempotency_key.empty()) {
        IdempotencyRecord idem;
        idem.organization_id = rec.fields.organization_id;
        idem.key = d.idempotency_key;
        idem.content_hash = d.content_hash;
        idem.event_id = rec.id;
        idem.seq = rec.seq;
        idem.created_at = now;
        idem.expires_at =
            now + (d.idempotency_ttl_us > 0 ? d.idempotency_ttl_us : options_.idempotency_window_us);
        group_keys[{idem.organization_id, idem.key}] = PendingKey{idem.content_hash, ack};
        batch.idempotency.push_back(std::move(idem));
      }
      batch.events.push_back(std::move(rec));
    }
    if (!out.status.ok()) {
      // A store read failed mid-submission: the store is unusable; fail the whole group.
      break;
    }
  }

  Status write_status;
  for (const Outcome& o : outcomes) {
    if (!o.status.ok() && o.status.code() != Code::kConflict) write_status = o.status;
  }
  if (write_status.ok()) {
    const std::unordered_map<std::string_view, uint64_t> moved =
        GroupByOrganization(&batch.events);
    if (!moved.empty()) {
      for (Outcome& o : outcomes) {
        for (Ack& ack : o.acks) {
          // Duplicates of an event stored before this group keep their position (0).
          if (auto it = moved.find(ack.id); it != moved.end()) ack.position = it->second;
        }
      }
    }
  }
  double append_seconds = 0;
  if (write_status.ok() && !batch.events.empty()) {
    const auto started = std::chrono::steady_clock::now();
    write_status = store_->Append(batch);
    append_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }

  if (!write_status.ok()) {
    // Nothing of this group is durable. The ingestor is failed for good (its in-memory
    // sequences are no longer trusted), so everyone waiting or queued is refused.
    Status failure = Status::Unavailable(
        "annals could not write to its store (" + write_status.message() +
            "); writes are refused until the server is restarted",
        "store_failed", 30);
    std::deque<Submission> rest;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (failure_.ok()) failure_ = failure;
      rest.swap(queue_);
      queued_events_ = 0;
    }
    for (Submission& s : group) s.done(failure);
    for (Submission& s : rest) s.done(failure);
    return;
  }

  events_committed_.fetch_add(batch.events.size());
  groups_committed_.fetch_add(1);
  {
    std::lock_guard<std::mutex> lock(mu_);
    queued_events_ -= total;
  }
  for (size_t si = 0; si < group.size(); ++si) {
    if (outcomes[si].status.ok()) {
      group[si].done(std::move(outcomes[si].acks));
    } else {
      group[si].done(outcomes[si].status);
    }
  }
  if (!batch.events.empty()) {
    for (const CommitObserver& obs : observers_) obs(batch.events);
  }
  if (!group_observers_.empty()) {
    const CommitStats stats{batch.events.size(), group.size(), append_seconds};
    for (const GroupObserver& obs : group_observers_) obs(stats);
  }
}

}  // namespace annals
