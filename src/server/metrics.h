// Prometheus metrics (/metrics): ingest, HTTP, live tail. prometheus-cpp stays in
// metrics.cc.
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <functional>
#include <map>
#include <utility>
#include <vector>
#include <memory>
#include <string>

#include "ingest/ingestor.h"

namespace annals {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // annals_http_requests_total{method, route, status}. `route` is the route pattern
  // ("/v1/orgs/{id}") or "unmatched", so label values stay bounded.
  void ObserveHttpRequest(const std::string& method, const std::string& route, int status);
  // annals_ingest_events_total, annals_ingest_batches_total, annals_ingest_batch_events,
  // annals_ingest_submissions_total, annals_ingest_sync_seconds.
  void ObserveCommit(const CommitStats& stats);
  // annals_ingest_rejected_total{reason}.
  void ObserveRejected(const std::string& reason);
  // A gauge read when /metrics is rendered (queue depth, open connections, tail
  // subscribers). `read` must be thread-safe and quick.
  void AddGauge(const std::string& name, const std::string& help, std::function<double()> read);

  // A labelled gauge family read when /metrics is rendered (per-source state and lag).
  // `read` returns one (labels, value) per child; it must be thread-safe and quick.
  using LabelledValues = std::vector<std::pair<std::map<std::string, std::string>, double>>;
  void AddGaugeFamily(const std::string& name, const std::string& help,
                      std::function<LabelledValues()> read);

  // The text exposition format (version 0.0.4).
  std::string Render();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace annals
