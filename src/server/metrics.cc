#include "server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <mutex>
#include <tuple>
#include <vector>

namespace annals {

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& http_requests =
      prometheus::BuildCounter()
          .Name("annals_http_requests_total")
          .Help("HTTP requests answered, by method, route and status")
          .Register(*registry);
  prometheus::Counter& events = prometheus::BuildCounter()
                                    .Name("annals_ingest_events_total")
                                    .Help("Events durably stored")
                                    .Register(*registry)
                                    .Add({});
  prometheus::Counter& batches = prometheus::BuildCounter()
                                     .Name("annals_ingest_batches_total")
                                     .Help("Group commits (one synced write each)")
                                     .Register(*registry)
                                     .Add({});
  prometheus::Counter& submissions = prometheus::BuildCounter()
                                         .Name("annals_ingest_submissions_total")
                                         .Help("Submissions (requests) acknowledged by group commits")
                                         .Register(*registry)
                                         .Add({});
  prometheus::Family<prometheus::Counter>& rejected =
      prometheus::BuildCounter()
          .Name("annals_ingest_rejected_total")
          .Help("Submissions refused before storing, by reason")
          .Register(*registry);
  prometheus::Histogram& batch_events =
      prometheus::BuildHistogram()
          .Name("annals_ingest_batch_events")
          .Help("Events per group commit")
          .Register(*registry)
          .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 5, 10, 20, 50, 100, 200, 500,
                                                           1000, 2000, 5000, 10000});
  prometheus::Histogram& sync_seconds =
      prometheus::BuildHistogram()
          .Name("annals_ingest_sync_seconds")
          .Help("Duration of the synced store write of a group commit")
          .Register(*registry)
          .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.002, 0.005, 0.01,
                                                           0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5});
  std::mutex mu;
  // Cached children of http_requests (Family::Add hashes the label map on every call).
  std::map<std::tuple<std::string, std::string, int>, prometheus::Counter*> http_children;
  std::vector<std::pair<prometheus::Gauge*, std::function<double()>>> gauges;
  std::vector<std::pair<prometheus::Family<prometheus::Gauge>*, std::function<LabelledValues()>>>
      families;
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

void Metrics::ObserveHttpRequest(const std::string& method, const std::string& route,
                                 int status) {
  prometheus::Counter* counter = nullptr;
  {
    std::lock_guard lock(impl_->mu);
    auto key = std::make_tuple(method, route, status);
    auto it = impl_->http_children.find(key);
    if (it == impl_->http_children.end()) {
      counter = &impl_->http_requests.Add(
          {{"method", method}, {"route", route}, {"status", std::to_string(status)}});
      impl_->http_children.emplace(std::move(key), counter);
    } else {
      counter = it->second;
    }
  }
  counter->Increment();
}

void Metrics::ObserveCommit(const CommitStats& stats) {
  impl_->events.Increment(static_cast<double>(stats.events));
  impl_->submissions.Increment(static_cast<double>(stats.submissions));
  if (stats.events > 0) {
    impl_->batches.Increment();
    impl_->batch_events.Observe(static_cast<double>(stats.events));
    impl_->sync_seconds.Observe(stats.append_seconds);
  }
}

void Metrics::ObserveRejected(const std::string& reason) {
  impl_->rejected.Add({{"reason", reason}}).Increment();
}

void Metrics::AddGauge(const std::string& name, const std::string& help,
                       std::function<double()> read) {
  prometheus::Gauge& g =
      prometheus::BuildGauge().Name(name).Help(help).Register(*impl_->registry).Add({});
  std::lock_guard lock(impl_->mu);
  impl_->gauges.emplace_back(&g, std::move(read));
}

void Metrics::AddGaugeFamily(const std::string& name, const std::string& help,
                             std::function<LabelledValues()> read) {
  prometheus::Family<prometheus::Gauge>& f =
      prometheus::BuildGauge().Name(name).Help(help).Register(*impl_->registry);
  std::lock_guard lock(impl_->mu);
  impl_->families.emplace_back(&f, std::move(read));
}

std::string Metrics::Render() {
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [gauge, read] : impl_->gauges) gauge->Set(read());
    for (auto& [family, read] : impl_->families) {
      for (const auto& [labels, value] : read()) family->Add(labels).Set(value);
    }
  }
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
}

}  // namespace annals
