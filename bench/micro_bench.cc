// Micro benchmarks (Google Benchmark) of the per-event CPU work on the ingest path:
// decoding and validating client JSON, rendering the stored canonical JSON, encoding index
// keys, and, for reference, the benchmark workload generator itself.
//
//   build/bench/micro_bench [--benchmark_filter=Decode]
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include <unistd.h>

#include <filesystem>
#include <memory>

#include "access/api_keys.h"
#include "access/rate_limiter.h"
#include "annals/clock.h"
#include "common/sha256.h"
#include "storage/rocksdb/rocks_store.h"
#include "annals/event.h"
#include "annals/options.h"
#include "domain/event_decoder.h"
#include "exports/export_format.h"
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

// 1,000 workload events decoded as the API decodes them.
Result<DecodedBatch> DecodedEvents() {
  const auto events = Events(1000);
  return DecodeEventsBody(BatchBody(events, 0, events.size()), BodyFormat::kJson, EventLimits{},
                          RequestLimits{}, Context());
}

void BM_RenderCanonicalEvent(benchmark::State& state) {
  Result<DecodedBatch> d = DecodedEvents();
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

// One export row from a stored (canonical) workload event, per format (arg: 0 csv, 1 ndjson,
// 2 json): the per-row work of an export's encoding threads.
void BM_ExportEncodeRow(benchmark::State& state) {
  Result<DecodedBatch> d = DecodedEvents();
  if (!d.ok()) {
    state.SkipWithError(d.status().ToString().c_str());
    return;
  }
  std::vector<std::string> stored;
  for (size_t i = 0; i < d->drafts.size(); ++i) {
    stored.push_back(RenderCanonicalEvent(d->drafts[i], "evt_01JDQ8Z3W9K5Y6T7R8S9A0B1C2",
                                          1042 + i, 1764381784130412));
  }
  const auto format = static_cast<exports::ExportFormat>(state.range(0));
  exports::ExportEncoder encoder = exports::ExportEncoder::Create(format, false).value();
  std::string rows;
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    rows.clear();
    Status s = encoder.EncodeRow(stored[i++ % stored.size()], &rows);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    bytes += rows.size();
    benchmark::DoNotOptimize(rows);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_ExportEncodeRow)->Arg(0)->Arg(1)->Arg(2);

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

// Per-request access checks: authenticating a bearer key and taking a rate-limit token.
// A real (temporary) store holds the key records; lookups are in memory.
class AccessFixture {
 public:
  AccessFixture() {
    dir_ = std::filesystem::temp_directory_path() /
           ("annals-micro-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    RocksStoreOptions o;
    o.path = (dir_ / "store").string();
    o.sync = false;
    store_ = std::move(RocksStore::Open(o)).value();
    keys_ = std::move(KeyRegistry::Load(store_.get(), &clock_, {Sha256(kBootstrap)})).value();
    for (int i = 0; i < 1000; ++i) {  // a realistic number of keys
      ApiKeyCreate c;
      c.name = "k" + std::to_string(i);
      c.organization_id = "org_" + std::to_string(i % 100);
      c.scopes = kScopeEventsWrite | kScopeEventsRead;
      auto made = keys_->Create(c);
      if (i == 500) org_token_ = made->second;
    }
  }
  ~AccessFixture() {
    keys_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  static constexpr const char* kBootstrap = "bench-bootstrap-admin-key-0123456789abcdef";
  KeyRegistry& keys() { return *keys_; }
  const std::string& org_token() const { return org_token_; }
  const Clock* clock() const { return &clock_; }

 private:
  std::filesystem::path dir_;
  SystemClock clock_;
  std::unique_ptr<RocksStore> store_;
  std::unique_ptr<KeyRegistry> keys_;
  std::string org_token_;
};

void BM_AuthenticateOrganizationKey(benchmark::State& state) {
  AccessFixture f;
  for (auto _ : state) {
    Result<Principal> who = f.keys().Authenticate(f.org_token());
    benchmark::DoNotOptimize(who.ok());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuthenticateOrganizationKey);

void BM_AuthenticateBootstrapKey(benchmark::State& state) {
  AccessFixture f;
  for (auto _ : state) {
    Result<Principal> who = f.keys().Authenticate(AccessFixture::kBootstrap);
    benchmark::DoNotOptimize(who.ok());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuthenticateBootstrapKey);

void BM_RateLimiterAcquire(benchmark::State& state) {
  SystemClock clock;
  RateLimiter limiter(RateLimitOptions{1e9, 1e9}, &clock);
  for (auto _ : state) benchmark::DoNotOptimize(limiter.Acquire("key_01JDQ8Z3W9K5Y6T7R8S9A0B1C2").ok());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RateLimiterAcquire);

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
