// bench_peers: durable ingest of one workload by annals and by its peers, side by side.
//
//   build/bench/bench_peers [--seconds 60 | --quick] [--peers raw,sqlite,postgres,annals]
//
// Prints a markdown section (also appended to --markdown FILE) with events/s, MB/s, CPU µs per
// event, commit latency and disk use per system, and annals' ratios to each peer from this run.
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <sstream>

#include "../common.h"
#include "peer.h"

#ifndef ANNALS_SOURCE_DIR
#define ANNALS_SOURCE_DIR "."
#endif

namespace annals::bench {
namespace {

void OnSignal(int) { g_interrupted.store(true); }

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string WorkloadSummary(const Ring& ring) {
  std::vector<size_t> sizes;
  size_t targets[4] = {0, 0, 0, 0};
  size_t client = 0;
  for (const auto& b : ring.batches) {
    for (const auto& e : b) {
      sizes.push_back(e.canonical_json.size());
      targets[std::min<size_t>(3, e.targets.size())]++;
      client += e.client_json.size();
    }
  }
  std::sort(sizes.begin(), sizes.end());
  double n = static_cast<double>(sizes.size());
  double sum = 0;
  for (size_t s : sizes) sum += static_cast<double>(s);
  auto pct = [&](double q) { return sizes[static_cast<size_t>(q * (n - 1))]; };
  std::string s = FormatCount(n) + " distinct events (" + std::to_string(ring.slots()) +
                  " batches of " + std::to_string(ring.batch_size) + ", replayed with fresh " +
                  "positions, seqs and times), " + std::to_string(ring.organizations.size()) +
                  " organizations, 50 actions; canonical JSON " + FormatFixed(sum / n, 0) +
                  " bytes on average (p5 " + std::to_string(pct(0.05)) + ", p95 " +
                  std::to_string(pct(0.95)) + ", max " + std::to_string(sizes.back()) +
                  "), client JSON " + FormatFixed(static_cast<double>(client) / n, 0) +
                  " bytes; targets per event 1/2/3: " +
                  FormatFixed(100.0 * static_cast<double>(targets[1]) / n, 0) + "/" +
                  FormatFixed(100.0 * static_cast<double>(targets[2]) / n, 0) + "/" +
                  FormatFixed(100.0 * static_cast<double>(targets[3]) / n, 0) + " %";
  return s;
}

void Settle() {
  // Let the previous system's writeback finish so it does not bill the next one.
  ::sync();
  for (int i = 0; i < 30 && !g_interrupted.load(); ++i) usleep(100000);
}

int Main(int argc, char** argv) {
  Flags flags("bench_peers",
              "durable batched ingest: annals vs a raw file, SQLite and PostgreSQL, same workload");
  flags.Describe("seconds", "60", "how long each system ingests");
  flags.Describe("quick", "false", "5 seconds per system (overrides --seconds)", true);
  flags.Describe("peers", "raw,sqlite,postgres,annals", "systems to run, in this order");
  flags.Describe("batch", "1000", "events per batch (one durable sync/commit each)");
  flags.Describe("ring-batches", "100", "distinct batches generated before timing");
  flags.Describe("seed", "42", "workload seed");
  flags.Describe("dir", "/var/tmp", "parent of the per-system working directories (on disk)");
  flags.Describe("keep", "false", "keep the working directories", true);
  flags.Describe("pg-connections", "4", "concurrent PostgreSQL connections");
  flags.Describe("pg-script", std::string(ANNALS_SOURCE_DIR) + "/scripts/start-postgres.sh",
                 "starts/stops the PostgreSQL server");
  flags.Describe("pg-host", "", "use this running server (socket dir or host) instead");
  flags.Describe("pg-port", "5432", "port of --pg-host");
  flags.Describe("sqlite-wal-autocheckpoint", "1000", "SQLite WAL auto-checkpoint, in pages");
  flags.Describe("annals-submitters", "4", "submitter threads, one batch in flight each");
  flags.Describe("annals-merkle-log", "on", "on|off: keep the Merkle log (tamper evidence)");
  flags.Describe("annals-event-compression", "lz4",
                 "lz4|zstd|none: codec of the events' bottommost level");
  flags.Describe("decode-seconds", "3", "duration of the decoder throughput measurement");
  flags.Describe("markdown", "", "append the markdown section to this file");
  flags.Describe("targets", "", "append target rows (markdown) to this file");
  flags.Parse(argc, argv);

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  PeerConfig config;
  config.seconds = flags.GetBool("quick") ? 5 : flags.GetDouble("seconds");
  config.work_parent = flags.Get("dir");
  config.keep = flags.GetBool("keep");
  config.pg_connections = static_cast<int>(flags.GetInt("pg-connections"));
  config.pg_script = flags.Get("pg-script");
  config.pg_host = flags.Get("pg-host");
  config.pg_port = static_cast<int>(flags.GetInt("pg-port"));
  config.annals_submitters = static_cast<int>(flags.GetInt("annals-submitters"));
  const std::string merkle_log = flags.Get("annals-merkle-log");
  if (merkle_log != "on" && merkle_log != "off") {
    std::fprintf(stderr, "--annals-merkle-log must be on or off\n");
    return 2;
  }
  config.annals_merkle_log = merkle_log == "on";
  const std::string codec = flags.Get("annals-event-compression");
  if (codec == "lz4") {
    config.annals_event_compression = annals::EventCompression::kLz4;
  } else if (codec == "zstd") {
    config.annals_event_compression = annals::EventCompression::kZstd;
  } else if (codec == "none") {
    config.annals_event_compression = annals::EventCompression::kNone;
  } else {
    std::fprintf(stderr, "--annals-event-compression must be lz4, zstd or none\n");
    return 2;
  }
  config.sqlite_wal_autocheckpoint = static_cast<int>(flags.GetInt("sqlite-wal-autocheckpoint"));
  if (config.seconds <= 0) {
    std::fprintf(stderr, "bench_peers: --seconds must be positive.\n");
    return 2;
  }
  const auto batch = static_cast<size_t>(std::max<int64_t>(1, flags.GetInt("batch")));
  const auto slots = static_cast<size_t>(std::max<int64_t>(1, flags.GetInt("ring-batches")));
  const std::vector<std::string> peers = Split(flags.Get("peers"), ',');
  for (const auto& p : peers) {
    if (p != "raw" && p != "sqlite" && p != "postgres" && p != "annals") {
      std::fprintf(stderr, "bench_peers: unknown system '%s' in --peers (raw, sqlite, postgres, annals).\n",
                   p.c_str());
      return 2;
    }
  }
  if (IsMemoryFilesystem(config.work_parent)) {
    std::fprintf(stderr, "bench_peers: warning: %s is in memory; fsync costs nothing there.\n",
                 config.work_parent.c_str());
  }

  WorkloadOptions wopts;
  wopts.seed = static_cast<uint64_t>(flags.GetInt("seed"));
  std::fprintf(stderr, "bench_peers: generating %zu batches of %zu events...\n", slots, batch);
  const Ring ring = BuildRing(wopts, slots, batch);
  const std::string workload = WorkloadSummary(ring);
  std::fprintf(stderr, "bench_peers: %s\n", workload.c_str());

  DecodeResult decode;
  if (std::find(peers.begin(), peers.end(), "annals") != peers.end()) {
    std::fprintf(stderr, "bench_peers: measuring DecodeEventsBody on one core...\n");
    decode = RunDecodeBench(ring, flags.GetDouble("decode-seconds"));
  }

  std::vector<PeerResult> results;
  for (size_t i = 0; i < peers.size() && !g_interrupted.load(); ++i) {
    const std::string& p = peers[i];
    if (i > 0) Settle();
    std::fprintf(stderr, "bench_peers: %s for %.0f s...\n", p.c_str(), config.seconds);
    PeerResult r = p == "raw"        ? RunRawPeer(ring, config)
                   : p == "sqlite"   ? RunSqlitePeer(ring, config)
                   : p == "postgres" ? RunPostgresPeer(ring, config)
                                     : RunAnnalsPeer(ring, config);
    if (r.ok) {
      std::fprintf(stderr, "bench_peers:   %s events/s, %.1f µs CPU/event\n",
                   FormatCount(r.events_per_second()).c_str(), r.cpu_us_per_event());
    } else {
      std::fprintf(stderr, "bench_peers:   %s failed: %s\n", p.c_str(), r.error.c_str());
    }
    results.push_back(std::move(r));
  }

  const PeerResult* annals = nullptr;
  for (const auto& r : results) {
    if (r.name.rfind("annals", 0) == 0 && r.ok) annals = &r;
  }

  std::string md;
  md += "### Durable ingest, in process, batches of " + std::to_string(batch) + " (" +
        FormatFixed(config.seconds, 0) + " s per system)\n\n";
  md += "Workload: " + workload + ".\n\n";
  MarkdownTable table({"system", "setup", "events/s", "MB/s", "CPU µs/event",
                       "batch commit p50 / p99 ms", "disk bytes/event", "annals ÷ system"},
                      2);
  for (const auto& r : results) {
    if (!r.ok) {
      table.AddRow({r.name, "failed: " + r.error, "", "", "", "", "", ""});
      continue;
    }
    std::string ratio = "";
    if (annals && &r != annals && r.events_per_second() > 0) {
      ratio = FormatRatio(annals->events_per_second() / r.events_per_second());
    }
    table.AddRow({r.name, r.setup, FormatCount(r.events_per_second()),
                  FormatFixed(r.mb_per_second(), 1), FormatFixed(r.cpu_us_per_event(), 1),
                  FormatFixed(r.commit_p50_ms, 2) + " / " + FormatFixed(r.commit_p99_ms, 2),
                  r.events ? FormatCount(static_cast<double>(r.disk_bytes) / r.events) : "",
                  ratio});
  }
  md += table.Render() + "\n";
  md += "MB/s counts the events' canonical JSON. CPU is user + system time of the benchmark "
        "process (getrusage) over the timed run";
  md += ", plus the PostgreSQL server's processes for PostgreSQL. Batch commit latency is the "
        "time from handing a batch over to its durable acknowledgement.\n\n";
  if (decode.ok) {
    const double per_core = decode.cpu_us > 0 ? decode.events / (decode.cpu_us / 1e6) : 0;
    md += "Decoder (`DecodeEventsBody`, client JSON → validated drafts, one core): " +
          FormatCount(per_core) + " events/s per CPU-second (" +
          FormatFixed(decode.cpu_us / std::max<uint64_t>(1, decode.events), 2) +
          " µs/event, " + FormatFixed(decode.bytes / (decode.cpu_us / 1e6) / 1e6, 1) +
          " MB/s of client JSON); not included in the annals row above.\n\n";
  } else if (!decode.error.empty()) {
    md += "Decoder: " + decode.error + ".\n\n";
  }
  for (const auto& r : results) {
    for (const auto& n : r.notes) md += "- " + n + "\n";
  }
  md += "\n";
  std::printf("%s", md.c_str());
  AppendToFile(flags.Get("markdown"), md);

  // Target rows: | target | measured | met |
  std::string rows;
  auto row = [&](const std::string& target, const std::string& measured, bool met) {
    rows += "| " + target + " | " + measured + " | " + (met ? "yes" : "**no**") + " |\n";
  };
  if (annals) {
    const double eps = annals->events_per_second();
    row("in-process durable ingest ≥ 100,000 events/s (stretch 200,000)",
        FormatCount(eps) + " events/s, " + FormatFixed(annals->cpu_us_per_event(), 1) +
            " CPU µs/event",
        eps >= 100000);
    for (const auto& r : results) {
      if (!r.ok || &r == annals || r.events_per_second() <= 0) continue;
      const double ratio = eps / r.events_per_second();
      if (r.name.rfind("raw", 0) == 0) {
        row("annals ≥ 25% of the raw file ceiling",
            FormatFixed(100 * ratio, 0) + "% (" + FormatCount(r.events_per_second()) + " events/s)",
            ratio >= 0.25);
      } else if (r.name.rfind("SQLite", 0) == 0) {
        row("annals ≥ 4× SQLite (WAL, synchronous=FULL)",
            FormatRatio(ratio) + " (" + FormatCount(r.events_per_second()) + " events/s)",
            ratio >= 4);
      } else if (r.name.rfind("PostgreSQL", 0) == 0) {
        row("annals ≥ 2.5× PostgreSQL COPY",
            FormatRatio(ratio) + " (" + FormatCount(r.events_per_second()) + " events/s)",
            ratio >= 2.5);
      }
    }
  }
  AppendToFile(flags.Get("targets"), rows);

  for (const auto& r : results) {
    if (!r.ok) return 1;
  }
  return g_interrupted.load() ? 1 : 0;
}

}  // namespace
}  // namespace annals::bench

int main(int argc, char** argv) { return annals::bench::Main(argc, argv); }
