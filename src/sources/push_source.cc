#include "sources/push_source.h"

#include <utility>

namespace annals {

PushSource::PushSource(std::string kind, std::string name) {
  status_.kind = std::move(kind);
  status_.name = std::move(name);
  status_.state = "ready";
}

SourceStatus PushSource::Status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

void PushSource::RecordBatch(uint64_t stored, uint64_t failed, TimestampUs last_event_at,
                             TimestampUs now, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  status_.events_stored += stored;
  status_.records_failed += failed;
  if (last_event_at > status_.last_event_at) status_.last_event_at = last_event_at;
  if (!error.empty()) {
    status_.last_error = error;
    status_.last_error_at = now;
  } else if (failed == 0) {
    // A batch with no failure: nothing is wrong any more.
    status_.last_error.clear();
    status_.last_error_at = 0;
  }
  if (failed == 0 || stored > 0) status_.last_success_at = now;
}

PushSources::PushSources(const SourcesConfig& config)
    : idempotency_ttl_us_(config.idempotency_window_us) {
  for (const DynamoDbSourceConfig& c : config.dynamodb) {
    dynamodb_.push_back({c, std::make_shared<PushSource>("dynamodb", c.name)});
  }
  for (const SqsSourceConfig& c : config.sqs) {
    sqs_.push_back({c, std::make_shared<PushSource>("sqs", c.name)});
  }
}

const DynamoDbPushSource* PushSources::dynamodb(std::string_view name) const {
  for (const DynamoDbPushSource& s : dynamodb_) {
    if (s.config.name == name) return &s;
  }
  return nullptr;
}

const SqsPushSource* PushSources::sqs(std::string_view name) const {
  for (const SqsPushSource& s : sqs_) {
    if (s.config.name == name) return &s;
  }
  return nullptr;
}

std::vector<std::shared_ptr<Source>> PushSources::All() const {
  std::vector<std::shared_ptr<Source>> out;
  for (const DynamoDbPushSource& s : dynamodb_) out.push_back(s.status);
  for (const SqsPushSource& s : sqs_) out.push_back(s.status);
  return out;
}

}  // namespace annals
