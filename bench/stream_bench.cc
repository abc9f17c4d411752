// Log-stream delivery, in process, to a local webhook receiver (annals' own HTTP server on
// 127.0.0.1 answering 200 to every request, counting events and measuring their lag).
//
//   stream_bench --mode drain --data bench/results/export-data-5000000-1org --events 1000000
//       a backlog of --events events of a stored dataset (query_bench) drained by one webhook
//       stream in batches of --batch: events/s and the stream thread's CPU per event.
//   stream_bench --mode live --rate 10000 --seconds 30 --streams 3
//       a fresh store fed at --rate events/s through the ingestor, with --streams webhook
//       streams (all events each), then the same without streams: lag from an event's
//       received_at to its arrival at the receiver (p50/p99/max) and CPU per event.
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include "annals/clock.h"
#include "common.h"
#include "common/sha256.h"
#include "domain/event_decoder.h"
#include "domain/time.h"
#include "http/server.h"
#include "ingest/ingestor.h"
#include "sinks/destinations.h"
#include "storage/rocksdb/rocks_store.h"
#include "streams/stream_manager.h"
#include "workload.h"

namespace annals::bench {
namespace {

// The receiver: counts the events of NDJSON webhook bodies and, when asked, the lag of each
// (now - its received_at). Thread-safe.
class Receiver {
 public:
  explicit Receiver(bool measure_lag) : measure_lag_(measure_lag) {}

  Status Start() {
    HttpServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.threads = 1;
    o.max_body_bytes = 8 << 20;
    Result<std::unique_ptr<HttpServer>> s =
        HttpServer::Start(o, [this](HttpRequest&& req, Responder respond) {
          Handle(req);
          HttpResponse r;
          r.status = 200;
          r.body = "{}";
          respond(std::move(r));
        });
    if (!s.ok()) return s.status();
    server_ = std::move(s).value();
    return Status::Ok();
  }
  void Stop() {
    if (server_) server_->Stop(std::chrono::milliseconds(100));
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  uint64_t events() const { return events_.load(); }
  uint64_t requests() const { return requests_.load(); }
  Latencies TakeLags() {
    std::lock_guard lock(mu_);
    return lags_;
  }

 private:
  void Handle(const HttpRequest& req) {
    requests_.fetch_add(1);
    uint64_t n = 0;
    const std::string& b = req.body;
    const double now_us = static_cast<double>(SystemClock().NowMicros());  // wall clock
    std::vector<double> lags;
    size_t start = 0;
    while (start < b.size()) {
      size_t end = b.find('\n', start);
      if (end == std::string::npos) end = b.size();
      ++n;
      if (measure_lag_) {
        const std::string_view line(b.data() + start, end - start);
        const size_t at = line.find("\"received_at\":\"");
        if (at != std::string_view::npos) {
          const size_t v = at + 15;
          const size_t q = line.find('"', v);
          Result<TimestampUs> t = ParseRfc3339(line.substr(v, q - v));
          if (t.ok()) lags.push_back(now_us - static_cast<double>(*t));
        }
      }
      start = end + 1;
    }
    events_.fetch_add(n);
    if (!lags.empty()) {
      std::lock_guard lock(mu_);
      for (double l : lags) lags_.Add(l);
    }
  }

  const bool measure_lag_;
  std::unique_ptr<HttpServer> server_;
  std::atomic<uint64_t> events_{0};
  std::atomic<uint64_t> requests_{0};
  std::mutex mu_;
  Latencies lags_;
};

std::string NewWebhookSecret() {
  return "whsec_" + Base64Encode("0123456789abcdef01234567");
}

streams::StreamSpec WebhookSpec(const std::string& org, const std::string& url, size_t batch,
                                int64_t delay_ms) {
  streams::StreamSpec spec;
  spec.organization_id = org;
  spec.name = "bench";
  spec.type = "webhook";
  spec.config = {{"url", url}, {"format", "ndjson"}, {"secret", NewWebhookSecret()}};
  spec.batch.max_events = batch;
  spec.batch.max_bytes = 4u << 20;
  spec.batch.max_delay = std::chrono::milliseconds(delay_ms);
  return spec;
}

double StreamThreadsCpuUs() {
  std::map<std::string, double> by_name = ThreadCpuByName();
  auto it = by_name.find("annals-stream");
  return it == by_name.end() ? 0 : it->second;
}

int Drain(const Flags& flags) {
  RocksStoreOptions so;
  so.path = flags.Get("data") + "/store";
  so.create_if_missing = false;
  auto opened = RocksStore::Open(so);
  if (!opened.ok()) {
    std::cerr << "stream_bench: " << opened.status().ToString() << "\n";
    return 1;
  }
  std::unique_ptr<RocksStore> store = std::move(opened).value();
  std::string org;
  uint64_t last = 0;
  Result<std::vector<std::string>> orgs = store->OrganizationsWithEvents();
  if (!orgs.ok()) {
    std::cerr << "stream_bench: " << orgs.status().ToString() << "\n";
    return 1;
  }
  for (const std::string& o : *orgs) {
    const uint64_t n = store->LastSeq(o).value();
    if (n > last) last = n, org = o;
  }
  const uint64_t want = std::min<uint64_t>(last, static_cast<uint64_t>(flags.GetInt("events")));
  Receiver receiver(false);
  if (Status s = receiver.Start(); !s.ok()) {
    std::cerr << "stream_bench: " << s.ToString() << "\n";
    return 1;
  }
  SystemClock clock;
  sinks::DestinationOptions dopts;
  dopts.policy.allow_private_destinations = true;
  dopts.clock = &clock;
  sinks::Destinations destinations(dopts);
  auto manager =
      streams::StreamManager::Open({}, store.get(), &clock, &destinations).value();
  manager->Start();
  streams::StreamInfo s =
      manager->Create(WebhookSpec(org, receiver.url() + "/hook",
                                  static_cast<size_t>(flags.GetInt("batch")), 0),
                      "bench")
          .value();
  const double cpu0 = StreamThreadsCpuUs();
  const CpuTimes proc0 = ProcessCpu();
  const double t0 = NowSeconds();
  manager->Replay(org, s.id, last - want + 1, std::nullopt).value();
  for (;;) {
    if (manager->Get(org, s.id).value().delivered_seq >= last) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double secs = NowSeconds() - t0;
  const double cpu = StreamThreadsCpuUs() - cpu0;
  const CpuTimes proc1 = ProcessCpu();
  (void)manager->Delete(org, s.id);
  manager->Stop();
  receiver.Stop();
  const double n = static_cast<double>(want);
  std::printf("| drain | %s | %.0f | %.2f | %.0f | %llu | %.2f | %.2f |\n", org.c_str(), n, secs,
              n / secs, static_cast<unsigned long long>(receiver.requests()), cpu / n,
              (proc1.total() - proc0.total()) / n);
  std::printf("(columns: mode | organization | events | seconds | events/s | requests | "
              "stream thread CPU µs/event | process CPU µs/event incl. receiver)\n");
  if (receiver.events() < want) {
    std::cerr << "stream_bench: the receiver counted " << receiver.events() << " events, want "
              << want << "\n";
    return 1;
  }
  return 0;
}

struct LiveResult {
  uint64_t ingested = 0;
  uint64_t delivered = 0;
  double seconds = 0;
  double process_cpu_us = 0;
  double stream_cpu_us = 0;
  Latencies lags;
};

LiveResult RunLive(const Flags& flags, int streams_n) {
  const std::string dir = MakeTempDir(flags.Get("dir"), "stream-bench-");
  RocksStoreOptions so;
  so.path = dir + "/store";
  auto store = RocksStore::Open(so).value();
  SystemClock clock;
  Receiver receiver(true);
  if (Status s = receiver.Start(); !s.ok()) {
    std::cerr << "stream_bench: " << s.ToString() << "\n";
    std::exit(1);
  }
  sinks::DestinationOptions dopts;
  dopts.policy.allow_private_destinations = true;
  dopts.clock = &clock;
  sinks::Destinations destinations(dopts);
  auto manager = streams::StreamManager::Open({}, store.get(), &clock, &destinations).value();
  auto ingestor = Ingestor::Start(store.get(), &clock, IngestOptions{}).value();
  streams::StreamManager* m = manager.get();
  ingestor->AddCommitObserver([m](const std::vector<EventRecord>& e) { m->OnCommit(e); });
  manager->Start();

  WorkloadOptions wo;
  wo.organizations = 1;
  Workload workload(wo);
  const std::string org = workload.organizations().front();
  for (int i = 0; i < streams_n; ++i) {
    (void)manager
        ->Create(WebhookSpec(org, receiver.url() + "/s" + std::to_string(i), 1000,
                             flags.GetInt("delay-ms")),
                 "bench")
        .value();
  }
  const int64_t rate = flags.GetInt("rate");
  const double seconds = static_cast<double>(flags.GetInt("seconds"));
  const size_t per_tick = static_cast<size_t>(std::max<int64_t>(1, rate / 100));  // every 10 ms
  std::atomic<uint64_t> acked{0};
  const CpuTimes cpu0 = ProcessCpu();
  const double stream0 = StreamThreadsCpuUs();
  const double t0 = NowSeconds();
  uint64_t sent = 0;
  DecodeContext ctx;
  for (uint64_t tick = 0;; ++tick) {
    const double due = t0 + static_cast<double>(tick) * 0.01;
    if (due - t0 >= seconds) break;
    const double wait = due - NowSeconds();
    if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    std::vector<GeneratedEvent> events = workload.NextBatch(per_tick);
    ctx.now = clock.NowMicros();
    Result<DecodedBatch> d = DecodeEventsBody(BatchBody(events, 0, events.size()),
                                              BodyFormat::kJson, EventLimits{}, RequestLimits{},
                                              ctx);
    if (!d.ok()) {
      std::cerr << "stream_bench: " << d.status().ToString() << "\n";
      std::exit(1);
    }
    const size_t n = d->drafts.size();
    ingestor->Submit(std::move(d->drafts), [&acked, n](Result<std::vector<Ack>> acks) {
      if (acks.ok()) acked.fetch_add(n);
    });
    sent += n;
  }
  // Let the streams catch up (bounded), then measure.
  const uint64_t want = sent * static_cast<uint64_t>(streams_n);
  const double deadline = NowSeconds() + 30;
  while ((acked.load() < sent || receiver.events() < want) && NowSeconds() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  LiveResult r;
  r.seconds = NowSeconds() - t0;
  r.process_cpu_us = ProcessCpu().total() - cpu0.total();
  r.stream_cpu_us = StreamThreadsCpuUs() - stream0;
  r.ingested = acked.load();
  r.delivered = receiver.events();
  r.lags = receiver.TakeLags();
  manager->Stop();
  ingestor.reset();
  receiver.Stop();
  manager.reset();
  store.reset();
  RemoveTree(dir);
  return r;
}

int Live(const Flags& flags) {
  const int streams_n = static_cast<int>(flags.GetInt("streams"));
  LiveResult with = RunLive(flags, streams_n);
  LiveResult without = RunLive(flags, 0);
  const double per_event_with = with.process_cpu_us / static_cast<double>(with.ingested);
  const double per_event_without = without.process_cpu_us / static_cast<double>(without.ingested);
  std::printf("| %d streams | %llu | %llu | %.0f | %.0f | %.0f | %.1f | %.1f | %.2f |\n", streams_n,
              static_cast<unsigned long long>(with.ingested),
              static_cast<unsigned long long>(with.delivered), with.lags.Percentile(0.5) / 1000,
              with.lags.Percentile(0.99) / 1000, with.lags.Max() / 1000, per_event_with,
              per_event_without,
              with.stream_cpu_us / static_cast<double>(std::max<uint64_t>(1, with.delivered)));
  std::printf("(columns: streams | events ingested | events delivered (all streams) | lag p50 ms "
              "| lag p99 ms | lag max ms | process CPU µs per ingested event, with streams "
              "(incl. the receiver) | the same without streams | stream threads' CPU µs per "
              "delivered event)\n");
  if (with.delivered < with.ingested * static_cast<uint64_t>(streams_n)) {
    std::cerr << "stream_bench: delivered " << with.delivered << " of "
              << with.ingested * static_cast<uint64_t>(streams_n) << "\n";
    return 1;
  }
  return 0;
}

int Main(int argc, char** argv) {
  Flags flags("stream_bench", "log-stream delivery to a local webhook receiver, in process");
  flags.Describe("mode", "drain", "drain (a stored backlog) or live (paced ingest)");
  flags.Describe("data", "bench/results/export-data-5000000-1org", "drain: dataset (query_bench)");
  flags.Describe("events", "1000000", "drain: backlog size");
  flags.Describe("batch", "1000", "drain: events per delivery");
  flags.Describe("rate", "10000", "live: events/s ingested");
  flags.Describe("seconds", "30", "live: how long");
  flags.Describe("streams", "3", "live: webhook streams");
  flags.Describe("delay-ms", "100", "live: the streams' batch max_delay_ms");
  flags.Describe("dir", "/var/tmp", "live: where the temporary store goes");
  flags.Parse(argc, argv);
  if (flags.Get("mode") == "drain") return Drain(flags);
  if (flags.Get("mode") == "live") return Live(flags);
  std::cerr << "stream_bench: --mode is drain or live\n";
  return 2;
}

}  // namespace
}  // namespace annals::bench

int main(int argc, char** argv) { return annals::bench::Main(argc, argv); }
