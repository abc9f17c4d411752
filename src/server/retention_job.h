// The background purge job ([retention] purge_interval) and the meta-audit record of every
// purge pass (annals.retention.purged in the organization's trail).
//
// Thread-safety: Start/Stop from the controlling thread; RunOnce may be called from any
// thread (passes are serialized by Retention).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "retention/retention.h"
#include "server/logging.h"
#include "server/meta_audit.h"

namespace annals {

// The meta-audit event of a purge pass; `trigger` is "schedule" or "request".
MetaAuditEntry PurgeAuditEntry(const PurgeRun& run, Principal actor, const std::string& trigger);

struct PurgeJobOptions {
  std::chrono::microseconds interval{3600LL * 1000000};
  // Called after a pass that turned events into tombstones (the live tail forgets its
  // recent events); may be empty.
  std::function<void()> after_events_purged;
};

class PurgeJob {
 public:
  // `organizations` lists every organization to visit; every pointer must outlive the job.
  PurgeJob(Retention* retention, Store* store, MetaAudit* audit,
           std::function<std::vector<std::string>()> organizations,
           std::shared_ptr<Logger> logger, PurgeJobOptions options);
  ~PurgeJob();  // Stops.

  void Start();
  // Waits for a pass in progress to finish its current organization, then joins.
  void Stop();

  // One pass over every organization (also expires idempotency records); passes that
  // purged something are meta-audited.
  void RunOnce();

 private:
  void Loop();

  Retention* const retention_;
  Store* const store_;
  MetaAudit* const audit_;
  const std::function<std::vector<std::string>()> organizations_;
  const std::shared_ptr<Logger> logger_;
  const PurgeJobOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace annals
