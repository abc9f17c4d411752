// The ingestor: the one path by which events enter the store.
//
// Submissions from any thread are queued (bounded by IngestOptions::max_queued_events) and
// a single writer thread drains them in group commits: for each submission it resolves
// idempotency keys, assigns id, per-organization seq, global position and received_at,
// renders the canonical JSON, and appends everything of the group with one synced write.
// A group's events take consecutive positions grouped by organization (organizations in the
// order they first appear, each one's events in submission order), so that one
// organization's events lie together in the store; ids follow submission order.
// Only after that write returns OK is any waiter acknowledged. A submission is atomic: all of
// its events are stored or none. If a write fails the ingestor becomes failed for good
// (Health() reports it) and refuses every later submission until the process restarts.
//
// Thread-safety: Submit, Health and Stats may be called from any thread. Callbacks run on the
// writer thread, never while an internal lock is held; they must be quick (post elsewhere).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "annals/clock.h"
#include "annals/event.h"
#include "annals/options.h"
#include "annals/status.h"
#include "annals/store.h"
#include "domain/ids.h"

namespace annals {

// The acknowledgement of one submitted event.
struct Ack {
  std::string id;
  uint64_t seq = 0;
  uint64_t position = 0;
  // True when the event was not stored again because its idempotency key matched an
  // earlier event with the same content; id and seq are the original's.
  bool duplicate = false;
};

using AckCallback = std::function<void(Result<std::vector<Ack>>)>;

// kInternal submissions (annals' own meta-audit events: few and small) are exempt from the
// queue bound, so that an ingest overload never loses the record of an administrative act.
enum class SubmitPriority { kNormal, kInternal };

// Observes committed groups (for metrics and live tail). Called on the writer thread after
// the acks of the group were sent; must not block.
using CommitObserver = std::function<void(const std::vector<EventRecord>& committed)>;

// What one group commit did, for metrics. Called on the writer thread after the acks (and
// for a group whose events were all idempotent duplicates too); must not block.
struct CommitStats {
  size_t events = 0;       // newly stored events
  size_t submissions = 0;  // submissions answered by the group
  double append_seconds = 0;  // time in Store::Append (the synced write)
};
using GroupObserver = std::function<void(const CommitStats& stats)>;

struct IngestStats {
  uint64_t events_committed = 0;
  uint64_t groups_committed = 0;
  uint64_t submissions_rejected_overload = 0;
  size_t queued_events = 0;
};

class Ingestor {
 public:
  // Starts the writer thread. `store` and `clock` must outlive the ingestor.
  static Result<std::unique_ptr<Ingestor>> Start(Store* store, const Clock* clock,
                                                 IngestOptions options);
  ~Ingestor();  // Stops: finishes every queued submission, then joins the writer.

  Ingestor(const Ingestor&) = delete;
  Ingestor& operator=(const Ingestor&) = delete;

  // Queues `drafts` as one atomic submission. `done` is called exactly once: with one Ack per
  // draft in order once they are durable, or with an error (kUnavailable when the queue is
  // full, stopping, or the store failed; kConflict "idempotency_conflict" when a key was
  // reused with other content — then nothing of the submission is stored).
  void Submit(std::vector<EventDraft> drafts, AckCallback done,
              SubmitPriority priority = SubmitPriority::kNormal);

  // Blocking convenience for tools and tests.
  Result<std::vector<Ack>> SubmitAndWait(std::vector<EventDraft> drafts);

  // OK while writes are accepted; the sticky store error otherwise.
  Status Health() const;
  IngestStats Stats() const;

  // Adds an observer of committed events. Not thread-safe with Submit: call before use.
  void AddCommitObserver(CommitObserver observer);
  // Adds an observer of group commit statistics. Same rules as AddCommitObserver.
  void AddGroupObserver(GroupObserver observer);

  // Stops accepting submissions (they get kUnavailable "shutting_down"), finishes the
  // queued ones and joins the writer thread. Idempotent.
  void Stop();

 private:
  struct Submission {
    std::vector<EventDraft> drafts;
    AckCallback done;
  };

  Ingestor(Store* store, const Clock* clock, IngestOptions options);
  Status Init();
  void WriterLoop();
  void CommitGroup(std::vector<Submission>& group);

  Store* const store_;
  const Clock* const clock_;
  const IngestOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Submission> queue_;  // guarded by mu_
  size_t queued_events_ = 0;      // guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  Status failure_;                // guarded by mu_; sticky

  // Writer-thread state.
  IdGenerator ids_;
  uint64_t last_position_ = 0;
  TimestampUs last_received_at_ = 0;
  std::unordered_map<std::string, uint64_t> last_seq_;  // per organization, loaded lazily
  std::vector<CommitObserver> observers_;
  std::vector<GroupObserver> group_observers_;

  std::atomic<uint64_t> events_committed_{0};
  std::atomic<uint64_t> groups_committed_{0};
  std::atomic<uint64_t> rejected_overload_{0};

  std::thread writer_;
};

}  // namespace annals
