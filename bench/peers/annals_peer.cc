// (d) annals in-process: RocksStore + Ingestor, the durable ingest path every source uses.
// Drafts come from DecodeEventsBody on the client JSON before timing starts, so what is
// measured is the ingestor (ids, per-organization seqs, canonical rendering, group commit)
// and the store (events, four secondary indexes, item records, one synced WriteBatch per
// group). Several submitter threads each keep one batch in flight (SubmitAndWait), as
// concurrent HTTP requests do.
#include <cstdio>
#include <mutex>
#include <thread>

#include "../common.h"
#include "annals/clock.h"
#include "annals/options.h"
#include "domain/event_decoder.h"
#include "ingest/ingestor.h"
#include "peer.h"
#include "storage/rocksdb/rocks_store.h"

namespace annals::bench {
namespace {

struct DraftRing {
  std::vector<std::vector<EventDraft>> batches;
  // Index of the "occurred_at" member of each draft, per batch.
  std::vector<std::vector<size_t>> occurred_member;
};

bool DecodeRing(const Ring& ring, DraftRing* out, std::string* error) {
  SystemClock clock;
  DecodeContext ctx;
  ctx.now = clock.NowMicros();
  for (const std::string& body : ring.bodies) {
    Result<DecodedBatch> d =
        DecodeEventsBody(body, BodyFormat::kJson, EventLimits{}, RequestLimits{}, ctx);
    if (!d.ok()) {
      *error = "the workload does not decode: " + d.status().ToString();
      return false;
    }
    std::vector<size_t> idx;
    for (const EventDraft& draft : d->drafts) {
      size_t found = draft.members.size();
      for (size_t m = 0; m < draft.members.size(); ++m) {
        if (draft.members[m].first == "occurred_at") found = m;
      }
      if (found == draft.members.size()) {
        *error = "a decoded draft has no occurred_at member";
        return false;
      }
      idx.push_back(found);
    }
    out->batches.push_back(std::move(d->drafts));
    out->occurred_member.push_back(std::move(idx));
  }
  return true;
}

// The drafts of batch k: the ring slot's drafts, moved forward in time by whole laps.
std::vector<EventDraft> DraftsFor(const Ring& ring, const DraftRing& drafts, uint64_t k) {
  const size_t slot = k % ring.slots();
  std::vector<EventDraft> batch = drafts.batches[slot];
  const int64_t shift = static_cast<int64_t>(ring.Lap(k)) * ring.lap_us;
  if (shift != 0) {
    for (size_t i = 0; i < batch.size(); ++i) {
      EventDraft& d = batch[i];
      d.fields.occurred_at += shift;
      d.members[drafts.occurred_member[slot][i]].second =
          "\"" + FormatTimestamp(d.fields.occurred_at, 6) + "\"";
    }
  }
  return batch;
}

}  // namespace

PeerResult RunAnnalsPeer(const Ring& ring, const PeerConfig& config) {
  PeerResult r;
  const int submitters = std::max(1, config.annals_submitters);
  r.name = "annals (RocksStore + Ingestor)";
  r.setup = "group commit, one synced WriteBatch per group, " + std::to_string(submitters) +
            " submitters × 1 batch in flight, events + 4 indexes + items";

  DraftRing drafts;
  if (!DecodeRing(ring, &drafts, &r.error)) return r;
  {
    // What copying a ring slot costs the harness (not annals): measured, reported apart.
    const CpuTimes c0 = ThreadCpu();
    size_t n = 0;
    for (uint64_t k = ring.slots(); k < 2 * ring.slots() && k < ring.slots() + 20; ++k) {
      n += DraftsFor(ring, drafts, k).size();
    }
    const double per_event = (ThreadCpu().total() - c0.total()) / static_cast<double>(n);
    r.notes.push_back("annals: the harness copies each batch's drafts from the ring (" +
                      FormatFixed(per_event, 2) + " µs of CPU per event, included in its CPU)");
  }

  {
    // The peers store the workload's canonical bytes; check that annals renders the very same
    // bytes for the same event (given the same id, seq and received_at).
    size_t same = 0, total = 0;
    for (size_t i = 0; i < drafts.batches[0].size(); ++i) {
      const GeneratedEvent& e = ring.batches[0][i];
      std::string json = RenderCanonicalEvent(drafts.batches[0][i], e.id, e.seq, e.received_at_us);
      same += json == e.canonical_json;
      ++total;
    }
    r.notes.push_back("annals renders byte-identical canonical JSON to the bytes the peers store "
                      "for " + std::to_string(same) + " of " + std::to_string(total) +
                      " sampled events");
  }

  const std::string dir = MakeTempDir(config.work_parent, "annals-");
  RocksStoreOptions store_options;
  store_options.path = dir + "/store";
  store_options.merkle_log = config.annals_merkle_log;
  if (!config.annals_merkle_log) r.notes.push_back("annals: Merkle log off");
  store_options.event_compression = config.annals_event_compression;
  if (config.annals_event_compression != annals::EventCompression::kLz4) {
    r.notes.push_back("annals: events not stored with LZ4");
  }
  Result<std::unique_ptr<RocksStore>> store = RocksStore::Open(store_options);
  if (!store.ok()) {
    r.error = "RocksStore::Open: " + store.status().ToString();
    return r;
  }
  SystemClock clock;
  IngestOptions ingest_options;
  Result<std::unique_ptr<Ingestor>> ingestor =
      Ingestor::Start(store->get(), &clock, ingest_options);
  if (!ingestor.ok()) {
    r.error = "Ingestor::Start: " + ingestor.status().ToString();
    return r;
  }

  std::atomic<uint64_t> next_batch{0};
  std::atomic<uint64_t> events{0}, json_bytes{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::string first_error;
  Latencies commits;

  const std::map<std::string, double> threads0 = ThreadCpuByName();
  double submitters_cpu_us = 0;
  const CpuTimes cpu0 = ProcessCpu();
  const double t0 = NowSeconds();
  const double deadline = t0 + config.seconds;
  std::atomic<double> last_done{t0};
  auto worker = [&] {
    const CpuTimes thread0 = ThreadCpu();
    Latencies local;
    while (!g_interrupted.load() && !failed.load()) {
      const double now = NowSeconds();
      if (now >= deadline) break;
      const uint64_t k = next_batch.fetch_add(1);
      std::vector<EventDraft> batch = DraftsFor(ring, drafts, k);
      const size_t n = batch.size();
      Result<std::vector<Ack>> acks = (*ingestor)->SubmitAndWait(std::move(batch));
      if (!acks.ok() || acks->size() != n) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.empty()) {
          first_error = acks.ok() ? "wrong number of acks" : acks.status().ToString();
        }
        failed.store(true);
        break;
      }
      const double done = NowSeconds();
      local.Add((done - now) * 1e6);
      events.fetch_add(n);
      json_bytes.fetch_add(ring.batch_json_bytes[k % ring.slots()]);
      double prev = last_done.load();
      while (done > prev && !last_done.compare_exchange_weak(prev, done)) {
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    commits.Merge(local);
    submitters_cpu_us += ThreadCpu().total() - thread0.total();
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < submitters; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  r.seconds = last_done.load() - t0;
  r.process_cpu_us = ProcessCpu().total() - cpu0.total();
  const std::map<std::string, double> threads1 = ThreadCpuByName();
  r.events = events.load();
  r.json_bytes = json_bytes.load();
  r.commit_p50_ms = commits.Percentile(0.5) / 1000;
  r.commit_p99_ms = commits.Percentile(0.99) / 1000;

  if (r.events > 0) {
    // Where the CPU went, by thread. RocksDB names its pools (rocksdb:high = flushes,
    // rocksdb:low = compactions); the ingestor's writer and this harness's threads share the
    // program's name, so the submitters (which exited, measured by themselves) are apart.
    std::string line = "annals: CPU µs/event by thread:";
    double unnamed = 0;
    for (const auto& [name, us] : threads1) {
      auto before = threads0.find(name);
      const double d = us - (before == threads0.end() ? 0 : before->second);
      if (d <= 0) continue;
      if (name.rfind("rocksdb:", 0) == 0) {
        line += " " + name + " " + FormatFixed(d / r.events, 1) + ",";
      } else {
        unnamed += d;
      }
    }
    line += " ingest writer and other threads " + FormatFixed(unnamed / r.events, 1) +
            ", submitters (harness) " + FormatFixed(submitters_cpu_us / r.events, 1);
    r.notes.push_back(line);
  }
  IngestStats stats = (*ingestor)->Stats();
  if (stats.groups_committed > 0) {
    r.notes.push_back("annals: " + FormatCount(stats.groups_committed) + " group commits, " +
                      FormatFixed(static_cast<double>(stats.events_committed) /
                                      static_cast<double>(stats.groups_committed),
                                  0) +
                      " events per synced WriteBatch on average");
  }
  Result<uint64_t> approx = (*store)->ApproximateSizeBytes();
  Result<uint64_t> stored = (*store)->LastPosition();
  if (first_error.empty() && (!stored.ok() || *stored != r.events)) {
    first_error = "the store holds " + std::to_string(stored.ok() ? *stored : 0) +
                  " events, but " + std::to_string(r.events) + " were acknowledged";
  }
  (*ingestor)->Stop();
  ingestor->reset();
  store->reset();
  r.disk_bytes = DiskUsageBytes(dir);
  if (approx.ok() && r.events > 0) {
    r.notes.push_back("annals: store size right after the run " +
                      FormatFixed(static_cast<double>(r.disk_bytes) / r.events, 0) +
                      " bytes/event on disk (ApproximateSizeBytes: " +
                      FormatFixed(static_cast<double>(*approx) / r.events, 0) +
                      "), WAL and not yet compacted levels included");
  }
  if (!first_error.empty()) {
    r.error = first_error;
    return r;
  }
  r.ok = true;
  if (!config.keep) RemoveTree(dir);
  return r;
}

DecodeResult RunDecodeBench(const Ring& ring, double seconds) {
  DecodeResult r;
  SystemClock clock;
  DecodeContext ctx;
  ctx.now = clock.NowMicros();
  const CpuTimes c0 = ThreadCpu();
  const double t0 = NowSeconds();
  double now = t0;
  for (uint64_t k = 0; now < t0 + seconds && !g_interrupted.load(); ++k) {
    const std::string& body = ring.bodies[k % ring.slots()];
    Result<DecodedBatch> d =
        DecodeEventsBody(body, BodyFormat::kJson, EventLimits{}, RequestLimits{}, ctx);
    if (!d.ok()) {
      r.error = d.status().ToString();
      return r;
    }
    r.events += d->drafts.size();
    r.bytes += body.size();
    now = NowSeconds();
  }
  r.seconds = now - t0;
  r.cpu_us = ThreadCpu().total() - c0.total();
  r.ok = true;
  return r;
}

}  // namespace annals::bench
