// What every change-capture source reports (GET /v1/sources, /metrics), and the registry
// the server keeps of its configured sources.
//
// Thread-safety: Source::Status may be called from any thread concurrently with the source's
// own work. SourceRegistry is filled before serving starts (Add) and read concurrently after.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "annals/event.h"

namespace annals {

struct SourceStatus {
  std::string kind;  // "postgres", "dynamodb", "sqs"
  std::string name;
  // postgres: "connecting", "snapshotting", "streaming", "error" (retrying with backoff),
  // "failed" (stopped for good, e.g. the slot was lost), "stopped".
  // dynamodb/sqs (push sources): "ready".
  std::string state;
  std::string last_error;          // "" when none since the last success
  TimestampUs last_error_at = 0;   // 0 when none
  TimestampUs last_event_at = 0;   // occurred_at (commit time) of the last stored change
  TimestampUs last_success_at = 0; // last time a change or batch was durably stored
  uint64_t events_stored = 0;      // events stored since start (duplicates not counted)
  uint64_t records_failed = 0;     // records refused (push sources' batchItemFailures)
  // Replication lag, when the source can know it: seconds between the newest change the
  // source has seen committed upstream and the last one stored; bytes of WAL not yet
  // confirmed.
  std::optional<double> lag_seconds;
  std::optional<uint64_t> lag_bytes;
  std::string position;  // the durable resume position ("0/16B3748" for postgres); "" if none
};

class Source {
 public:
  virtual ~Source() = default;
  virtual SourceStatus Status() const = 0;
};

class SourceRegistry {
 public:
  // Not thread-safe with readers: call before serving.
  void Add(std::shared_ptr<Source> source) { sources_.push_back(std::move(source)); }

  std::vector<SourceStatus> List() const {
    std::vector<SourceStatus> out;
    out.reserve(sources_.size());
    for (const auto& s : sources_) out.push_back(s->Status());
    return out;
  }

  const std::vector<std::shared_ptr<Source>>& sources() const { return sources_; }

 private:
  std::vector<std::shared_ptr<Source>> sources_;
};

}  // namespace annals
