// A deterministic, realistic audit-event workload for the benchmarks.
//
// The events look like what a security-testing platform sends: ~20 organizations of very
// different sizes (Zipf-like), ~50 actions in 8 namespaces (finding.created, scan.completed,
// user.login_succeeded, ...), an actor with a name and metadata, a context {location,
// user_agent}, 1-3 targets (the item the action is about, plus its project and asset), a few
// metadata keys, and on item changes a small `changes` {op, before, after}. Stored in canonical
// form an event is ~500-800 bytes.
//
// The same seed gives the same sequence of events on every machine (own PRNG, no
// <random> distributions). Each generated event carries:
//  (a) the JSON a client would POST (compact, the client's member order), and
//  (b) what a store keeps: the canonical JSON (RFC 8785 JCS) of the whole stored event
//      including the server fields (id, seq, received_at, source), and the index fields
//      (organization, occurred_at, action, actor id, targets) that feed the four secondary
//      indexes. Every peer benchmark stores exactly these bytes and these index entries.
// Not thread-safe; use one Workload per thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace annals::bench {

struct WorkloadOptions {
  uint64_t seed = 42;
  // Organizations (at most 20 distinct names are built in; more get numbered names).
  int organizations = 20;
  // occurred_at of the first event, µs since the Unix epoch (UTC). 0 means "now - span".
  int64_t start_us = 0;
  // Mean gap between consecutive events' occurred_at across the whole platform, µs.
  // 500 µs ≈ 173k events a day.
  int64_t mean_gap_us = 500;
};

struct GeneratedTarget {
  std::string type;
  std::string id;
};

struct GeneratedEvent {
  // Index fields.
  int org_index = 0;
  std::string organization_id;
  std::string action;
  std::string actor_id;
  std::string actor_type;
  int64_t occurred_at_us = 0;
  std::vector<GeneratedTarget> targets;
  // Server-assigned fields as a store would assign them (the peers use these).
  uint64_t position = 0;  // 1, 2, 3, ... over the whole workload
  uint64_t seq = 0;       // 1, 2, 3, ... per organization
  int64_t received_at_us = 0;
  std::string id;         // "evt_" + 26-char ULID
  // (a) What a client POSTs (one event object, with organization_id).
  std::string client_json;
  // (b) The stored event in canonical form.
  std::string canonical_json;
};

class Workload {
 public:
  explicit Workload(WorkloadOptions options);

  // Fills `out` with the next event.
  void Next(GeneratedEvent* out);
  std::vector<GeneratedEvent> NextBatch(size_t n);

  const std::vector<std::string>& organizations() const { return orgs_; }
  const std::vector<std::string>& actions() const;
  uint64_t generated() const { return position_; }
  // occurred_at of the last generated event.
  int64_t clock_us() const { return clock_us_; }

 private:
  struct Rng {
    uint64_t s[4];
    uint64_t Next();
    uint64_t Below(uint64_t n);  // uniform in [0, n)
    double Unit();               // uniform in [0, 1)
    bool Chance(double p) { return Unit() < p; }
  };
  // Per-organization item counters, so actions name items that exist (biased to recent
  // ones) and item timelines form naturally.
  struct OrgItems {
    uint64_t findings = 0, assets = 0, scans = 0, projects = 0, reports = 0, users = 0,
             api_keys = 0;
  };
  size_t PickWeighted(const std::vector<double>& cumulative);

  WorkloadOptions options_;
  Rng rng_;
  std::vector<std::string> orgs_;
  std::vector<double> org_cumulative_;
  std::vector<uint64_t> org_seq_;
  std::vector<OrgItems> items_;
  std::vector<double> action_cumulative_;
  uint64_t position_ = 0;
  int64_t clock_us_ = 0;
};

// The body of a batched POST: {"events":[e1,e2,...]} from events[begin, end).
std::string BatchBody(const std::vector<GeneratedEvent>& events, size_t begin, size_t end);

// RFC 3339 UTC with exactly `fraction_digits` (0, 3 or 6) fractional digits.
std::string FormatTimestamp(int64_t us, int fraction_digits);

// Start of the UTC day containing `us`.
int64_t FloorToDay(int64_t us);
// Current wall-clock time, µs since the epoch.
int64_t WallClockUs();

// The binary record the raw-ceiling peer appends: the event's canonical JSON plus its index
// tuples. Layout (little endian): u32 record length, u64 position, u64 seq, i64 occurred_at,
// u16+bytes organization, u16+bytes action, u16+bytes actor id, u8 target count,
// (u16+bytes type, u16+bytes id) per target, u32+bytes canonical JSON.
void AppendRawRecord(const GeneratedEvent& e, std::string* out);

}  // namespace annals::bench
