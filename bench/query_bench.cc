// query_bench: first-page query latency with millions of stored events.
//
//   build/bench/query_bench --data DIR --phase build      # ingest the dataset (kept for reuse)
//   build/bench/query_bench --data DIR --phase inprocess  # Store::Scan in this process
//   build/bench/query_bench --data DIR --phase http --server URL --key KEY [--server-pid PID]
//
// The dataset (default 10 million events of the benchmark workload over ~60 days) is written
// with the real ingestor into DIR/store, the layout `annals serve --data DIR` uses, so the
// server can be opened on it afterwards. A manifest (DIR/bench-dataset.txt) records how it was
// generated; a build resumes an interrupted one and skips a complete one.
//
// Queries: the first page (limit 100, newest first) of (1) one organization and a one-day
// range and (2) one organization and one action, for random organizations, days and actions,
// with p50/p99 over --queries of each (after a short warm-up).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "annals/clock.h"
#include "annals/options.h"
#include "common.h"
#include "domain/event_decoder.h"
#include "http_client.h"
#include "ingest/ingestor.h"
#include "storage/rocksdb/rocks_store.h"
#include "workload.h"

namespace annals::bench {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

constexpr int64_t kDayUs = 86400LL * 1000000;

struct Manifest {
  uint64_t seed = 42;
  uint64_t events = 0;
  int64_t start_us = 0;
  int64_t mean_gap_us = 0;
  int organizations = 20;
  int64_t end_us = 0;  // occurred_at clock after the last event
  bool complete = false;
  double build_seconds = 0;
  double compact_seconds = 0;

  std::string Path(const std::string& data) const { return data + "/bench-dataset.txt"; }
  bool Load(const std::string& data) {
    std::ifstream in(Path(data));
    if (!in) return false;
    std::map<std::string, std::string> kv;
    std::string line;
    while (std::getline(in, line)) {
      auto eq = line.find('=');
      if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
    }
    try {
      seed = std::stoull(kv.at("seed"));
      events = std::stoull(kv.at("events"));
      start_us = std::stoll(kv.at("start_us"));
      mean_gap_us = std::stoll(kv.at("mean_gap_us"));
      end_us = kv.count("end_us") ? std::stoll(kv["end_us"]) : 0;
      organizations = kv.count("organizations") ? std::stoi(kv["organizations"]) : 20;
      complete = kv.count("complete") && kv["complete"] == "1";
      build_seconds = kv.count("build_seconds") ? std::stod(kv["build_seconds"]) : 0;
      compact_seconds = kv.count("compact_seconds") ? std::stod(kv["compact_seconds"]) : 0;
    } catch (...) {
      return false;
    }
    return true;
  }
  void Save(const std::string& data) const {
    std::ofstream out(Path(data), std::ios::trunc);
    out << "# query_bench dataset: the benchmark workload, written with the ingestor\n"
        << "seed=" << seed << "\nevents=" << events << "\nstart_us=" << start_us
         << "\nmean_gap_us=" << mean_gap_us
        << "\norganizations=" << organizations << "\nend_us=" << end_us
        << "\ncomplete=" << (complete ? 1 : 0) << "\nbuild_seconds=" << build_seconds
        << "\ncompact_seconds=" << compact_seconds << "\n";
  }
  WorkloadOptions Options() const {
    WorkloadOptions o;
    o.seed = seed;
    o.start_us = start_us;
    o.mean_gap_us = mean_gap_us;
    o.organizations = organizations;
    return o;
  }
};

Result<std::unique_ptr<RocksStore>> OpenStore(const std::string& data) {
  RocksStoreOptions o;
  o.path = data + "/store";
  return RocksStore::Open(o);
}

// Ingests events [have, want) of the workload; progress on stderr.
int Build(const std::string& data, Manifest* m, uint64_t want) {
  Result<std::unique_ptr<RocksStore>> store = OpenStore(data);
  if (!store.ok()) {
    std::fprintf(stderr, "query_bench: cannot open the store in %s: %s\n", data.c_str(),
                 store.status().ToString().c_str());
    return 1;
  }
  Result<uint64_t> last = (*store)->LastPosition();
  if (!last.ok()) {
    std::fprintf(stderr, "query_bench: %s\n", last.status().ToString().c_str());
    return 1;
  }
  const uint64_t have = *last;
  if (have > want) {
    std::fprintf(stderr, "query_bench: the store already holds %llu events, more than --events.\n",
                 static_cast<unsigned long long>(have));
    return 1;
  }
  std::fprintf(stderr, "query_bench: building %llu events in %s (%llu there already)\n",
               static_cast<unsigned long long>(want), data.c_str(),
               static_cast<unsigned long long>(have));
  Workload workload(m->Options());
  GeneratedEvent skip;
  for (uint64_t i = 0; i < have; ++i) workload.Next(&skip);  // resume where it stopped

  SystemClock clock;
  IngestOptions io;
  Result<std::unique_ptr<Ingestor>> ingestor = Ingestor::Start(store->get(), &clock, io);
  if (!ingestor.ok()) {
    std::fprintf(stderr, "query_bench: %s\n", ingestor.status().ToString().c_str());
    return 1;
  }
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  std::string failure;
  const int kMaxInFlight = 8;
  const double t0 = NowSeconds();
  double last_report = t0;
  uint64_t done = have;
  const size_t kBatch = 1000;
  DecodeContext ctx;
  while (done < want && !g_stop.load()) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kBatch, want - done));
    std::vector<GeneratedEvent> events = workload.NextBatch(n);
    ctx.now = clock.NowMicros();
    Result<DecodedBatch> d = DecodeEventsBody(BatchBody(events, 0, n), BodyFormat::kJson,
                                              EventLimits{}, RequestLimits{}, ctx);
    if (!d.ok()) {
      std::fprintf(stderr, "query_bench: the workload does not decode: %s\n",
                   d.status().ToString().c_str());
      return 1;
    }
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight < kMaxInFlight; });
      if (!failure.empty()) break;
      ++in_flight;
    }
    (*ingestor)->Submit(std::move(d->drafts), [&](Result<std::vector<Ack>> acks) {
      std::lock_guard<std::mutex> lock(mu);
      if (!acks.ok() && failure.empty()) failure = acks.status().ToString();
      --in_flight;
      cv.notify_all();
    });
    done += n;
    const double now = NowSeconds();
    if (now - last_report >= 10 || done == want) {
      const double rate = static_cast<double>(done - have) / (now - t0);
      std::fprintf(stderr, "query_bench: %5.1f%%  %s events  %s events/s  ETA %.0f s\n",
                   100.0 * static_cast<double>(done) / static_cast<double>(want),
                   FormatCount(static_cast<double>(done)).c_str(), FormatCount(rate).c_str(),
                   rate > 0 ? static_cast<double>(want - done) / rate : 0.0);
      last_report = now;
    }
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return in_flight == 0; });
  }
  (*ingestor)->Stop();
  ingestor->reset();
  if (!failure.empty()) {
    std::fprintf(stderr, "query_bench: ingest failed: %s\n", failure.c_str());
    return 1;
  }
  if (done == want && !g_stop.load()) {
    // Queries are measured on a settled store, not against the compaction backlog of a bulk
    // load that a long-running server would have worked off long ago.
    std::fprintf(stderr, "query_bench: compacting the store...\n");
    const double c0 = NowSeconds();
    Status st = (*store)->CompactAll();
    if (!st.ok()) {
      std::fprintf(stderr, "query_bench: compaction failed: %s\n", st.ToString().c_str());
      return 1;
    }
    m->compact_seconds = NowSeconds() - c0;
  }
  m->end_us = workload.clock_us();
  m->build_seconds += NowSeconds() - t0;
  m->complete = done == want && !g_stop.load();
  m->Save(data);
  if (m->complete) {
    std::fprintf(stderr, "query_bench: built %s events in %.0f s\n",
                 FormatCount(static_cast<double>(want)).c_str(), m->build_seconds);
  }
  return m->complete ? 0 : 1;
}

struct QueryPlan {
  std::string org;
  int64_t from = 0, to = 0;  // day range; 0 when unused
  std::string action;        // "" when unused
};

// Deterministic random queries over the dataset's organizations, full days and actions.
std::vector<QueryPlan> MakePlans(const Manifest& m, bool by_action, size_t n, uint64_t seed) {
  Workload names(m.Options());
  const auto& orgs = names.organizations();
  const auto& actions = names.actions();
  const int64_t first_day = FloorToDay(m.start_us) + kDayUs;
  const int64_t days = std::max<int64_t>(1, (FloorToDay(m.end_us) - first_day) / kDayUs);
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + (by_action ? 1 : 2);
  auto next = [&]() {
    x += 0x9e3779b97f4a7c15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  std::vector<QueryPlan> plans(n);
  for (auto& p : plans) {
    p.org = orgs[next() % orgs.size()];
    if (by_action) {
      p.action = actions[next() % actions.size()];
    } else {
      p.from = first_day + static_cast<int64_t>(next() % static_cast<uint64_t>(days)) * kDayUs;
      p.to = p.from + kDayUs;
    }
  }
  return plans;
}

struct QueryStats {
  std::string name;
  Latencies latency;
  uint64_t rows = 0;
  uint64_t empty = 0;
  uint64_t errors = 0;
  std::string first_error;
};

// Times `n` scans (after `warmup` unmeasured ones) built by `request(i)`.
template <typename MakeRequest>
QueryStats TimeScans(Store* store, const std::string& name, size_t n, size_t warmup,
                     MakeRequest&& request) {
  QueryStats s;
  s.name = name;
  for (size_t i = 0; i < n + warmup && !g_stop.load(); ++i) {
    const ScanRequest req = request(i % n);
    const double t0 = NowSeconds();
    Result<std::vector<EventRecord>> r = store->Scan(req);
    const double us = (NowSeconds() - t0) * 1e6;
    if (i < warmup) continue;
    if (!r.ok()) {
      if (s.errors++ == 0) s.first_error = r.status().ToString();
      continue;
    }
    s.latency.Add(us);
    s.rows += r->size();
    if (r->empty()) s.empty++;
  }
  return s;
}

QueryStats RunInProcess(Store* store, const std::vector<QueryPlan>& plans, const std::string& name,
                        size_t warmup) {
  return TimeScans(store, name, plans.size(), warmup, [&](size_t i) {
    const QueryPlan& p = plans[i];
    ScanRequest req;
    req.filter.organization_id = p.org;
    if (!p.action.empty()) req.filter.actions.push_back(p.action);
    if (p.to) {
      req.filter.from = p.from;
      req.filter.to = p.to;
    }
    req.limit = 100;
    req.descending = true;
    return req;
  });
}

QueryStats RunHttp(HttpClient* client, const std::vector<QueryPlan>& plans, const std::string& name,
                   size_t warmup) {
  QueryStats s;
  s.name = name;
  HttpClient::Response res;
  std::string error;
  for (size_t i = 0; i < plans.size() + warmup && !g_stop.load(); ++i) {
    const QueryPlan& p = plans[i % plans.size()];
    std::string target = "/v1/events?organization_id=" + UrlEncode(p.org) + "&limit=100";
    if (p.to) {
      target += "&from=" + UrlEncode(FormatTimestamp(p.from, 0)) +
                "&to=" + UrlEncode(FormatTimestamp(p.to, 0));
    }
    if (!p.action.empty()) target += "&action=" + UrlEncode(p.action);
    const double t0 = NowSeconds();
    bool ok = client->Request("GET", target, "", "", &res, &error);
    const double us = (NowSeconds() - t0) * 1e6;
    if (i < warmup) continue;
    if (!ok || res.status != 200) {
      if (s.errors++ == 0) {
        s.first_error = ok ? "HTTP " + std::to_string(res.status) + ": " + res.body.substr(0, 300)
                           : error;
      }
      continue;
    }
    s.latency.Add(us);
    // Count the events of the page: each stored event starts with {"action":
    size_t rows = 0;
    for (size_t pos = res.body.find("{\"action\":"); pos != std::string::npos;
         pos = res.body.find("{\"action\":", pos + 1)) {
      ++rows;
    }
    s.rows += rows;
    if (rows == 0) s.empty++;
  }
  return s;
}

// An item drawn from the dataset, for item history and state queries.
struct ItemPlan {
  std::string org, type, id;
  int64_t at = 0;  // occurred_at of the event it was drawn from: state?at= asks about then
};

// Draws items by reading the events at pseudo-random positions.
std::vector<ItemPlan> DrawItems(Store* store, uint64_t events, size_t n) {
  std::vector<ItemPlan> out;
  uint64_t x = 0x51ed270b27a3f1c5ULL;
  for (size_t i = 0; i < n && events > 0; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    Result<std::vector<EventRecord>> r = store->ReadFrom((x >> 11) % events, 1);
    if (!r.ok() || r->empty()) continue;
    const EventRecord& e = r->front();
    out.push_back({e.fields.organization_id, e.fields.targets[0].type, e.fields.targets[0].id,
                   e.fields.occurred_at});
  }
  return out;
}

void SaveItems(const std::string& path, const std::vector<ItemPlan>& items) {
  std::ofstream out(path, std::ios::trunc);
  for (const ItemPlan& p : items) {
    out << p.org << '\t' << p.type << '\t' << p.id << '\t' << p.at << '\n';
  }
}

std::vector<ItemPlan> LoadItems(const std::string& path) {
  std::vector<ItemPlan> out;
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::vector<std::string> f;
    size_t a = start;
    for (;;) {
      size_t tab = text.find('\t', a);
      if (tab == std::string::npos || tab > end) {
        f.push_back(text.substr(a, end - a));
        break;
      }
      f.push_back(text.substr(a, tab - a));
      a = tab + 1;
    }
    if (f.size() == 4) out.push_back({f[0], f[1], f[2], std::stoll(f[3])});
    start = end + 1;
  }
  return out;
}

// In process: the store reads the item endpoints make (history's first page; state's
// backward scan from the instant).
QueryStats RunItemsInProcess(Store* store, const std::vector<ItemPlan>& items, bool state,
                             size_t warmup) {
  return TimeScans(store, state ? "item state at an instant" : "item history, first page",
                   items.size(), warmup, [&](size_t i) {
                     const ItemPlan& p = items[i];
                     ScanRequest req;
                     req.filter.organization_id = p.org;
                     req.filter.target_types = {p.type};
                     req.filter.target_ids = {p.id};
                     if (state) {
                       req.descending = true;
                       req.limit = 8;  // the server's first read; the latest change is usually here
                       req.start_after = ListKey{p.at + 1, 0};
                     } else {
                       req.descending = false;
                       req.limit = 101;
                     }
                     return req;
                   });
}

QueryStats RunItemsHttp(HttpClient* client, const std::vector<ItemPlan>& items, bool state,
                        size_t warmup) {
  QueryStats s;
  s.name = state ? "item state at an instant" : "item history, first page";
  HttpClient::Response res;
  std::string error;
  for (size_t i = 0; i < items.size() + warmup && !g_stop.load(); ++i) {
    const ItemPlan& p = items[i % items.size()];
    std::string target = "/v1/items/" + UrlEncode(p.type) + "/" + UrlEncode(p.id) +
                         (state ? "/state" : "/history") + "?organization_id=" + UrlEncode(p.org);
    target += state ? "&at=" + UrlEncode(FormatTimestamp(p.at, 6)) : "&limit=100";
    const double t0 = NowSeconds();
    bool ok = client->Request("GET", target, "", "", &res, &error);
    const double us = (NowSeconds() - t0) * 1e6;
    if (i < warmup) continue;
    const bool no_state = ok && state && res.status == 404 &&
                          res.body.find("no_state") != std::string::npos;
    if (!ok || (res.status != 200 && !no_state)) {
      if (s.errors++ == 0) {
        s.first_error = ok ? "HTTP " + std::to_string(res.status) + ": " + res.body.substr(0, 300)
                           : error;
      }
      continue;
    }
    s.latency.Add(us);
    size_t rows = 0;
    for (size_t pos = res.body.find("{\"event\":"); pos != std::string::npos;
         pos = res.body.find("{\"event\":", pos + 1)) {
      ++rows;
    }
    s.rows += state ? (res.status == 200 ? 1 : 0) : rows;
    if (res.status != 200) s.empty++;
  }
  return s;
}

std::string Row(QueryStats& s, const std::string& where) {
  const double n = static_cast<double>(std::max<size_t>(1, s.latency.count()));
  return "| " + s.name + " | " + where + " | " + FormatCount(static_cast<double>(s.latency.count())) +
         " | " + FormatFixed(s.latency.Percentile(0.5) / 1000, 3) + " | " +
         FormatFixed(s.latency.Percentile(0.99) / 1000, 3) + " | " +
         FormatFixed(s.latency.Max() / 1000, 3) + " | " + FormatFixed(s.rows / n, 1) + " |\n";
}

int Main(int argc, char** argv) {
  Flags flags("query_bench", "first-page queries over a large stored dataset, in process and over HTTP");
  flags.Describe("data", "bench/results/query-data", "data directory (kept for reuse)");
  flags.Describe("phase", "build,inprocess", "build, inprocess, http (comma separated)");
  flags.Describe("events", "10000000", "events in the dataset");
  flags.Describe("days", "60", "days of occurred_at the dataset spans");
  flags.Describe("seed", "42", "workload seed");
  flags.Describe("organizations", "20", "organizations the events are spread over (build)");
  flags.Describe("queries", "1000", "measured queries of each kind");
  flags.Describe("warmup", "100", "unmeasured queries of each kind first");
  flags.Describe("server", "http://127.0.0.1:8080", "server URL (http phase)");
  flags.Describe("key", "", "API key with events:read (http phase; env ANNALS_KEY)");
  flags.Describe("server-pid", "0", "the server's pid, to report its peak RSS (http phase)");
  flags.Describe("markdown", "", "append the markdown section to this file");
  flags.Describe("targets", "", "append target rows (markdown) to this file");
  flags.Parse(argc, argv);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);

  const std::string data = flags.Get("data");
  const std::string phases = "," + flags.Get("phase") + ",";
  const bool do_build = phases.find(",build,") != std::string::npos;
  const bool do_inprocess = phases.find(",inprocess,") != std::string::npos;
  const bool do_http = phases.find(",http,") != std::string::npos;
  if (!do_build && !do_inprocess && !do_http) {
    std::fprintf(stderr, "query_bench: --phase takes build, inprocess and/or http.\n");
    return 2;
  }
  const auto want = static_cast<uint64_t>(std::max<int64_t>(1, flags.GetInt("events")));
  const auto nq = static_cast<size_t>(std::max<int64_t>(1, flags.GetInt("queries")));
  const auto warmup = static_cast<size_t>(std::max<int64_t>(0, flags.GetInt("warmup")));

  Manifest m;
  bool have_manifest = m.Load(data);
  if (do_build) {
    if (!have_manifest || m.seed != static_cast<uint64_t>(flags.GetInt("seed")) ||
        m.events != want ||
        m.organizations != static_cast<int>(flags.GetInt("organizations"))) {
      // A new dataset: an existing store of other parameters must be moved away first.
      if (access((data + "/store").c_str(), F_OK) == 0 && have_manifest) {
        std::fprintf(stderr,
                     "query_bench: %s holds a dataset of %llu events (seed %llu); remove it or "
                     "pick another --data.\n",
                     data.c_str(), static_cast<unsigned long long>(m.events),
                     static_cast<unsigned long long>(m.seed));
        return 1;
      }
      m = Manifest();
      m.seed = static_cast<uint64_t>(flags.GetInt("seed"));
      m.events = want;
      m.organizations = static_cast<int>(std::max<int64_t>(1, flags.GetInt("organizations")));
      const int64_t span = flags.GetInt("days") * kDayUs;
      m.mean_gap_us = std::max<int64_t>(1, span / static_cast<int64_t>(want));
      m.start_us = FloorToDay(WallClockUs()) - span - kDayUs;
      MakeDirs(data);
      m.Save(data);
    }
    if (!m.complete) {
      int rc = Build(data, &m, want);
      if (rc != 0) return rc;
    } else {
      std::fprintf(stderr, "query_bench: reusing the dataset in %s (%s events, built in %.0f s)\n",
                   data.c_str(), FormatCount(static_cast<double>(m.events)).c_str(),
                   m.build_seconds);
    }
    have_manifest = true;
  }
  if (!have_manifest || !m.complete) {
    std::fprintf(stderr, "query_bench: no complete dataset in %s; run --phase build first.\n",
                 data.c_str());
    return 1;
  }

  const std::vector<QueryPlan> range_plans = MakePlans(m, false, nq, 1);
  const std::vector<QueryPlan> action_plans = MakePlans(m, true, nq, 2);
  std::string md;
  std::string targets;
  const std::string header =
      "| query (first page, limit 100, newest first) | path | queries | p50 ms | p99 ms | max ms | "
      "rows/page |\n|---|---|---:|---:|---:|---:|---:|\n";

  if (do_inprocess) {
    Result<std::unique_ptr<RocksStore>> store = OpenStore(data);
    if (!store.ok()) {
      std::fprintf(stderr, "query_bench: %s\n", store.status().ToString().c_str());
      return 1;
    }
    Result<uint64_t> events = (*store)->LastPosition();
    Result<uint64_t> approx = (*store)->ApproximateSizeBytes();
    const uint64_t du = DiskUsageBytes(data + "/store");
    const double n = static_cast<double>(events.ok() ? *events : 0);
    QueryStats a = RunInProcess(store->get(), range_plans, "one org + 1-day range", warmup);
    QueryStats b = RunInProcess(store->get(), action_plans, "one org + one action", warmup);
    const std::vector<ItemPlan> items = DrawItems(store->get(), events.ok() ? *events : 0, nq);
    SaveItems(data + "/item-plans.tsv", items);
    QueryStats ih = RunItemsInProcess(store->get(), items, false, warmup);
    QueryStats is = RunItemsInProcess(store->get(), items, true, warmup);
    md += "### Queries at " + FormatCount(n) + " stored events\n\n";
    md += "Dataset: the benchmark workload over " + flags.Get("days") + " days, " +
          std::to_string(m.organizations) + " organizations (Zipf-like sizes), written with the ingestor in batches of 1000" +
          (m.build_seconds > 0 ? " (build: " + FormatFixed(m.build_seconds, 0) + " s, " +
                                     FormatCount(n / m.build_seconds) + " events/s including "
                                     "generation and decoding on the same two cores)"
                               : std::string()) +
          ", then fully compacted (RocksStore::CompactAll, " + FormatFixed(m.compact_seconds, 0) +
          " s) so queries see a settled store. Organizations, days and actions are drawn at "
          "random (uniformly); the page cache is warm (the store fits in memory).\n\n";
    md += header + Row(a, "Store::Scan, in process") + Row(b, "Store::Scan, in process") +
          Row(ih, "Store::Scan of the item's timeline, in process") +
          Row(is, "Store::Scan of the item's timeline backwards, in process");
    md += "\nStore size: " + FormatFixed(static_cast<double>(du) / (1 << 20), 0) + " MiB on disk (du), " +
          FormatFixed(n > 0 ? static_cast<double>(du) / n : 0, 0) + " bytes/event; " +
          "ApproximateSizeBytes " +
          FormatFixed(approx.ok() && n > 0 ? static_cast<double>(*approx) / n : 0, 0) +
          " bytes/event. Peak RSS of the in-process query run: " +
          FormatFixed(static_cast<double>(PeakRssBytes()) / (1 << 20), 0) + " MiB.\n\n";
    for (QueryStats* s : {&a, &b, &ih, &is}) {
      if (s->errors) {
        std::fprintf(stderr, "query_bench: %s: %llu errors, first: %s\n", s->name.c_str(),
                     static_cast<unsigned long long>(s->errors), s->first_error.c_str());
      }
      targets += "| in process, " + s->name + ": first page p99 (reported) | " +
                 FormatFixed(s->latency.Percentile(0.99) / 1000, 3) + " ms | — |\n";
    }
    targets += "| store bytes per event / peak RSS (reported) | " +
               FormatFixed(n > 0 ? static_cast<double>(du) / n : 0, 0) + " bytes/event, " +
               FormatFixed(static_cast<double>(PeakRssBytes()) / (1 << 20), 0) + " MiB | — |\n";
  }

  if (do_http) {
    ServerUrl server;
    if (!ParseServerUrl(flags.Get("server"), &server)) {
      std::fprintf(stderr, "query_bench: --server must look like http://HOST:PORT.\n");
      return 2;
    }
    std::string key = flags.Get("key");
    if (key.empty() && std::getenv("ANNALS_KEY")) key = std::getenv("ANNALS_KEY");
    if (key.empty()) {
      std::fprintf(stderr, "query_bench: give an API key with --key or ANNALS_KEY.\n");
      return 2;
    }
    HttpClient client(server, key);
    std::string error;
    if (!client.Connect(&error)) {
      std::fprintf(stderr, "query_bench: %s\n", error.c_str());
      return 1;
    }
    QueryStats a = RunHttp(&client, range_plans, "one org + 1-day range", warmup);
    QueryStats b = RunHttp(&client, action_plans, "one org + one action", warmup);
    const std::vector<ItemPlan> items = LoadItems(data + "/item-plans.tsv");
    QueryStats ih, is;
    if (!items.empty()) {
      ih = RunItemsHttp(&client, items, false, warmup);
      is = RunItemsHttp(&client, items, true, warmup);
    }
    if (!do_inprocess) {
      md += "### Queries at " + FormatCount(static_cast<double>(m.events)) +
            " stored events, over HTTP (annals serve on the dataset)\n\n";
    }
    md += header;
    md += Row(a, "GET /v1/events, HTTP keep-alive") + Row(b, "GET /v1/events, HTTP keep-alive");
    if (!items.empty()) {
      md += Row(ih, "GET /v1/items/{type}/{id}/history, HTTP keep-alive") +
            Row(is, "GET /v1/items/{type}/{id}/state?at=, HTTP keep-alive");
    }
    md += "\nOne client connection, one query at a time; latency from sending the request to "
          "reading the whole response (100 events of JSON).";
    const pid_t pid = static_cast<pid_t>(flags.GetInt("server-pid"));
    if (pid) {
      md += " Server peak RSS (VmHWM): " +
            FormatFixed(static_cast<double>(ProcPeakRssBytes(pid)) / (1 << 20), 0) + " MiB.";
    }
    md += "\n\n";
    for (QueryStats* s : {&a, &b}) {
      if (s->errors) {
        std::fprintf(stderr, "query_bench: %s over HTTP: %llu errors, first: %s\n",
                     s->name.c_str(), static_cast<unsigned long long>(s->errors),
                     s->first_error.c_str());
      }
      const double p99 = s->latency.Percentile(0.99) / 1000;
      const bool ok = s->errors == 0 && s->latency.count() > 0 && p99 < 10;
      targets += "| GET /v1/events at " + FormatCount(static_cast<double>(m.events)) +
                 " events, " + s->name + ": first page p99 < 10 ms | " + FormatFixed(p99, 2) +
                 " ms (p50 " + FormatFixed(s->latency.Percentile(0.5) / 1000, 2) + " ms) | " +
                 (ok ? "yes" : "**no**") + " |\n";
    }
    for (QueryStats* s : {&ih, &is}) {
      if (s->latency.count() == 0) continue;
      if (s->errors) {
        std::fprintf(stderr, "query_bench: %s over HTTP: %llu errors, first: %s\n",
                     s->name.c_str(), static_cast<unsigned long long>(s->errors),
                     s->first_error.c_str());
      }
      const double p99 = s->latency.Percentile(0.99) / 1000;
      const double limit = 2;  // history: < 2 ms over HTTP (< 1 ms server-side); state: < 2 ms
      targets += "| " + s->name + " over HTTP at " + FormatCount(static_cast<double>(m.events)) +
                 " events: p99 < " + FormatFixed(limit, 0) + " ms | " + FormatFixed(p99, 2) +
                 " ms (p50 " + FormatFixed(s->latency.Percentile(0.5) / 1000, 2) + " ms) | " +
                 (s->errors == 0 && p99 < limit ? "yes" : "**no**") + " |\n";
    }
  }
  std::printf("%s", md.c_str());
  AppendToFile(flags.Get("markdown"), md);
  AppendToFile(flags.Get("targets"), targets);
  return g_stop.load() ? 1 : 0;
}

}  // namespace
}  // namespace annals::bench

int main(int argc, char** argv) { return annals::bench::Main(argc, argv); }
