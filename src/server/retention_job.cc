#include "server/retention_job.h"

#include <future>

#include "domain/time.h"
#include "retention/retention.h"

namespace annals {

MetaAuditEntry PurgeAuditEntry(const PurgeRun& run, Principal actor, const std::string& trigger) {
  MetaAuditEntry e;
  e.organization_id = run.organization_id;
  e.action = "annals.retention.purged";
  e.actor = std::move(actor);
  e.targets.push_back({"organization", run.organization_id, ""});
  e.metadata["items_purged"] = static_cast<double>(run.counts.items);
  e.metadata["events_purged"] = static_cast<double>(run.counts.events);
  e.metadata["trigger"] = trigger;
  e.metadata["skipped_for_legal_hold"] = run.skipped_for_legal_hold;
  if (run.deleted_before) e.metadata["deleted_before"] = FormatRfc3339Micros(*run.deleted_before);
  if (run.occurred_before) {
    e.metadata["occurred_before"] = FormatRfc3339Micros(*run.occurred_before);
  }
  return e;
}

PurgeJob::PurgeJob(Retention* retention, Store* store, MetaAudit* audit,
                   std::function<std::vector<std::string>()> organizations,
                   std::shared_ptr<Logger> logger, PurgeJobOptions options)
    : retention_(retention),
      store_(store),
      audit_(audit),
      organizations_(std::move(organizations)),
      logger_(std::move(logger)),
      options_(options) {}

PurgeJob::~PurgeJob() { Stop(); }

void PurgeJob::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void PurgeJob::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PurgeJob::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, options_.interval, [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    RunOnce();
    lock.lock();
  }
}

void PurgeJob::RunOnce() {
  Principal job;
  job.key_name = "retention";  // a system actor (MetaAuditEntry::actor)
  uint64_t items = 0, events = 0;
  for (const std::string& org : organizations_()) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    Result<PurgeRun> run = retention_->Purge(org);
    if (!run.ok()) {
      logger_->Error("retention purge failed",
                     {{"organization_id", org}, {"error", run.status().message()}});
      continue;
    }
    if (run->counts.items == 0 && run->counts.events == 0) continue;
    items += run->counts.items;
    events += run->counts.events;
    if (run->counts.events > 0 && options_.after_events_purged) options_.after_events_purged();
    std::promise<Status> recorded;
    audit_->Record(PurgeAuditEntry(*run, job, "schedule"),
                   [&recorded](Status s) { recorded.set_value(std::move(s)); });
    Status s = recorded.get_future().get();
    if (!s.ok()) {
      logger_->Error("a purge was applied but its meta-audit event could not be stored",
                     {{"organization_id", org}, {"error", s.message()}});
    }
  }
  Result<uint64_t> expired = store_->ExpireIdempotency(retention_->Now());
  if (!expired.ok()) {
    logger_->Warn("cannot expire idempotency records", {{"error", expired.status().message()}});
  }
  if (items > 0 || events > 0) {
    logger_->Info("retention purge", {{"items_purged", std::to_string(items)},
                                      {"events_purged", std::to_string(events)}});
  }
}

}  // namespace annals
