// Signs each organization's tree heads and keeps their history (docs/integrity.md "Signed
// tree heads").
//
// A head is signed for an organization whose tree grew, at most every head_interval, and at
// least every max_head_age even when it did not grow (so a head also proves that nothing was
// added since the previous one). Heads are numbered 1, 2, 3, ... per organization and kept in
// store meta `tree/head/<organization_id>/<number, 20 digits>` as TreeHeadToJson; each names
// the hash of the one before it, so they form a chain.
//
// Thread-safety: every method may be called from any thread. Publishing is serialized
// internally (the background thread and PublishDue never sign for one organization at once).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "annals/clock.h"
#include "annals/status.h"
#include "annals/store.h"
#include "integrity/signing_keys.h"
#include "integrity/tree_head.h"

namespace annals::integrity {

struct HeadPublisherOptions {
  int64_t head_interval_us = 10LL * 1000000;    // [integrity] head_interval
  int64_t max_head_age_us = 3600LL * 1000000;   // [integrity] max_head_age
  // Called from the background thread when a pass fails (it is retried on the next tick);
  // may be empty.
  std::function<void(const Status&)> on_error;
};

// A head and its number in its organization's chain.
struct StoredHead {
  uint64_t number = 0;
  TreeHead head;
};

class HeadPublisher {
 public:
  // `store`, `keys` and `clock` must outlive the publisher.
  HeadPublisher(const HeadPublisherOptions& options, Store* store, const SigningKeys* keys,
                const Clock* clock);
  ~HeadPublisher();  // Stop()
  HeadPublisher(const HeadPublisher&) = delete;
  HeadPublisher& operator=(const HeadPublisher&) = delete;

  // Starts the background thread, which calls PublishDue every quarter of head_interval
  // (between 10 ms and 1 s) and whenever Kick is called. Idempotent.
  void Start();
  // Stops and joins the thread. Idempotent.
  void Stop();
  // Wakes the thread for an early pass (tests with a manual clock, a waiting export).
  void Kick();

  // Signs every head that is due now, for every organization with events; returns how many.
  Result<size_t> PublishDue();

  // The newest head of an organization, or nullopt when none was signed yet.
  Result<std::optional<StoredHead>> Latest(const std::string& organization_id);
  // Heads newest first: with numbers < before (when set), at most `limit`.
  Result<std::vector<StoredHead>> List(const std::string& organization_id,
                                       std::optional<uint64_t> before, size_t limit);
  // The head with this number, or nullopt.
  Result<std::optional<StoredHead>> Get(const std::string& organization_id, uint64_t number);
  // The newest head once one covers at least `min_size` leaves, waiting up to `timeout_us`
  // (real time) for the thread to sign it; kUnavailable ("tree_head_pending") on timeout.
  Result<StoredHead> WaitForHead(const std::string& organization_id, uint64_t min_size,
                                 int64_t timeout_us);

  // The store meta name of head `number` of an organization.
  static std::string HeadName(const std::string& organization_id, uint64_t number);

 private:
  void Run();
  // Signs and stores the next head of `organization_id` over `tree`; called with
  // publish_mu_ held.
  Status SignNext(const std::string& organization_id, const TreeState& tree,
                  const std::optional<StoredHead>& previous, TimestampUs now);
  Result<std::optional<StoredHead>> LatestLocked(const std::string& organization_id);

  const HeadPublisherOptions options_;
  Store* const store_;
  const SigningKeys* const keys_;
  const Clock* const clock_;

  std::mutex publish_mu_;  // serializes signing; guards latest_
  std::unordered_map<std::string, std::optional<StoredHead>> latest_;

  std::mutex thread_mu_;
  std::condition_variable wake_;
  std::condition_variable published_;  // notified after each pass that signed a head
  bool stop_ = false;                  // guarded by thread_mu_
  bool kicked_ = false;                // guarded by thread_mu_
  uint64_t passes_ = 0;                // guarded by thread_mu_
  std::thread thread_;
};

}  // namespace annals::integrity
