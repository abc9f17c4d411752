// The side-by-side durable-ingest benchmark: the same workload written by annals and by its
// peers (a raw append-only file, SQLite, PostgreSQL), in batches with one durable sync or
// commit per batch, sustained for a fixed duration.
//
// The workload is generated before timing starts into a ring of batches (default 100 × 1000
// events). A sustained run replays the ring; batch number k uses ring slot k % R and shifts
// what must stay unique or ordered: global position = k·B + i + 1, per-organization seq and
// occurred_at advanced by one ring's worth per lap, so every index sees a realistic, growing
// key range (appends at the time-ordered end, never re-inserts into old ranges).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "../workload.h"
#include "annals/options.h"

namespace annals::bench {

struct Ring {
  size_t batch_size = 1000;
  std::vector<std::vector<GeneratedEvent>> batches;
  // Raw-ceiling records (canonical JSON + serialized index tuples) per batch.
  std::vector<std::string> raw_batches;
  // Client JSON bodies {"events": [...]} per batch (for the annals peer's decoder).
  std::vector<std::string> bodies;
  // Canonical JSON bytes per batch.
  std::vector<uint64_t> batch_json_bytes;
  // Events per organization in one lap of the ring.
  std::vector<uint64_t> org_counts;
  // occurred_at advance per lap.
  int64_t lap_us = 0;
  std::vector<std::string> organizations;

  size_t slots() const { return batches.size(); }
  const std::vector<GeneratedEvent>& Batch(uint64_t k) const { return batches[k % slots()]; }
  uint64_t Lap(uint64_t k) const { return k / slots(); }
  uint64_t Position(uint64_t k, size_t i) const { return k * batch_size + i + 1; }
  uint64_t Seq(uint64_t k, const GeneratedEvent& e) const {
    return e.seq + Lap(k) * org_counts[static_cast<size_t>(e.org_index)];
  }
  int64_t OccurredAt(uint64_t k, const GeneratedEvent& e) const {
    return e.occurred_at_us + static_cast<int64_t>(Lap(k)) * lap_us;
  }
};

Ring BuildRing(const WorkloadOptions& options, size_t slots, size_t batch_size);

struct PeerConfig {
  double seconds = 60;
  std::string work_parent;  // a fresh directory is made under it per peer
  bool keep = false;        // keep the peer's directory afterwards
  // PostgreSQL
  int pg_connections = 4;
  std::string pg_script;    // scripts/start-postgres.sh
  std::string pg_host;      // use a running server instead of starting one
  int pg_port = 0;
  // SQLite
  int sqlite_wal_autocheckpoint = 1000;  // pages; SQLite's default
  // annals
  int annals_submitters = 4;
  bool annals_merkle_log = true;  // --annals-merkle-log on|off
  annals::EventCompression annals_event_compression =
      annals::EventCompression::kLz4;  // --annals-event-compression
};

struct PeerResult {
  std::string name;
  std::string setup;  // one line: durability settings and shape
  bool ok = false;
  std::string error;
  uint64_t events = 0;
  uint64_t json_bytes = 0;  // canonical JSON bytes of the stored events
  double seconds = 0;
  double process_cpu_us = 0;  // this process (getrusage user + sys)
  double server_cpu_us = -1;  // a separate server's CPU, -1 when not applicable
  uint64_t disk_bytes = 0;    // the peer's directory after the run (du)
  double commit_p50_ms = 0;   // per-batch write + sync/commit latency
  double commit_p99_ms = 0;
  std::vector<std::string> notes;

  double events_per_second() const { return seconds > 0 ? events / seconds : 0; }
  double mb_per_second() const { return seconds > 0 ? json_bytes / seconds / 1e6 : 0; }
  double cpu_us_per_event() const {
    if (events == 0) return 0;
    return (process_cpu_us + (server_cpu_us > 0 ? server_cpu_us : 0)) / events;
  }
};

// Set by SIGINT/SIGTERM: runs end early and clean up.
extern std::atomic<bool> g_interrupted;

PeerResult RunRawPeer(const Ring& ring, const PeerConfig& config);
PeerResult RunSqlitePeer(const Ring& ring, const PeerConfig& config);
PeerResult RunPostgresPeer(const Ring& ring, const PeerConfig& config);
// Returns ok=false with an explanation when built without the annals core library.
PeerResult RunAnnalsPeer(const Ring& ring, const PeerConfig& config);

// Decoder throughput (DecodeEventsBody) on one core; ok=false without the core library.
struct DecodeResult {
  bool ok = false;
  std::string error;
  uint64_t events = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  double cpu_us = 0;
};
DecodeResult RunDecodeBench(const Ring& ring, double seconds);

}  // namespace annals::bench
