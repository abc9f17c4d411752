// Micro benchmarks (Google Benchmark) of the per-event CPU work on the ingest path:
// decoding and validating client JSON, rendering the stored canonical JSON, encoding index
// keys, and, for reference, the benchmark workload generator itself.
//
//   build/bench/micro_bench [--benchmark_filter=Decode]
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "annals/clock.h"
#include "annals/event.h"
#include "annals/options.h"
#include "domain/event_decoder.h"
#include "storage/key_encoding.h"
#include "workload.h"

namespace annals::bench {
namespace {

std::vector<GeneratedEvent> Events(size_t n) {
  WorkloadOptions o;
  o.seed = 11;
  Workload w(o);
  return w.NextBatch(n);
}

DecodeContext Context() {
  DecodeContext ctx;
  ctx.now = SystemClock().NowMicros();
  return ctx;
}

void BM_DecodeEventsBody_Batch(benchmark::State& state) {
  const auto events = Events(static_cast<size_t>(state.range(0)));
  const std::string body = BatchBody(events, 0, events.size());
  const DecodeContext ctx = Context();
  for (auto _ : state) {
    Result<DecodedBatch> d =
        DecodeEventsBody(body, BodyFormat::kJson, EventLimits{}, RequestLimits{}, ctx);
    if (!d.ok()) state.SkipWithError(d.status().ToString().c_str());
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}
BENCHMARK(BM_DecodeEventsBody_Batch)->Arg(1)->Arg(1000);

void BM_RenderCanonicalEvent(benchmark::State& state) {
  const auto events = Events(1000);
  Result<DecodedBatch> d = DecodeEventsBody(BatchBody(events, 0, events.size()), BodyFormat::kJson,
                                            EventLimits{}, RequestLimits{}, Context());
  if (!d.ok()) {
    state.SkipWithError(d.status().ToString().c_str());
    return;
  }
  const std::string id = "evt_01JDQ8Z3W9K5Y6T7R8S9A0B1C2";
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    std::string json = RenderCanonicalEvent(d->drafts[i % d->drafts.size()], id, 1042 + i,
                                            1764381784130412);
    bytes += json.size();
    benchmark::DoNotOptimize(json);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_RenderCanonicalEvent);

// The index keys of one event with two targets: org|time|seq, org|action|time|seq,
// org|actor|time|seq and org|type|id|seq per target.
void BM_IndexKeys(benchmark::State& state) {
  const auto events = Events(1000);
  size_t i = 0;
  std::string key;
  for (auto _ : state) {
    const GeneratedEvent& e = events[i++ % events.size()];
    key.clear();
    storage::AppendString(&key, e.organization_id);
    storage::AppendTimestamp(&key, e.occurred_at_us);
    storage::AppendU64(&key, e.seq);
    benchmark::DoNotOptimize(key.data());
    key.clear();
    storage::AppendString(&key, e.organization_id);
    storage::AppendString(&key, e.action);
    storage::AppendTimestamp(&key, e.occurred_at_us);
    storage::AppendU64(&key, e.seq);
    benchmark::DoNotOptimize(key.data());
    key.clear();
    storage::AppendString(&key, e.organization_id);
    storage::AppendString(&key, e.actor_id);
    storage::AppendTimestamp(&key, e.occurred_at_us);
    storage::AppendU64(&key, e.seq);
    benchmark::DoNotOptimize(key.data());
    for (const auto& t : e.targets) {
      key.clear();
      storage::AppendString(&key, e.organization_id);
      storage::AppendString(&key, t.type);
      storage::AppendString(&key, t.id);
      storage::AppendU64(&key, e.seq);
      benchmark::DoNotOptimize(key.data());
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IndexKeys);

void BM_WorkloadNext(benchmark::State& state) {
  Workload w(WorkloadOptions{});
  GeneratedEvent e;
  for (auto _ : state) {
    w.Next(&e);
    benchmark::DoNotOptimize(e.canonical_json.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WorkloadNext);

}  // namespace
}  // namespace annals::bench

BENCHMARK_MAIN();
