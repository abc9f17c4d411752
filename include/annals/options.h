// Options structs for annals' components, with the documented defaults.
// Every field is configurable (docs/configuration.md names the config key of each).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace annals {

// Event validation limits (PRODUCT.md "Limits"). Lengths count Unicode code points.
struct EventLimits {
  size_t max_metadata_keys = 50;          // per metadata object
  size_t max_metadata_key_length = 40;    // keys are [A-Za-z0-9_-]
  size_t max_metadata_value_length = 500; // string values
  size_t max_action_length = 128;         // [a-z0-9_.-]
  size_t max_targets = 32;
  size_t max_event_bytes = 1 << 20;       // one event, as sent
  int64_t max_future_us = 3600LL * 1000000;  // occurred_at at most this far ahead of now
  size_t max_depth = 64;                  // JSON nesting depth
};

// Request-level limits of the ingestion API.
struct RequestLimits {
  size_t max_request_bytes = 16 << 20;
  size_t max_batch_events = 1000;
};

struct IngestOptions {
  // Events admitted but not yet durable, across all requests. A submission that would
  // exceed it is refused with 503 + Retry-After.
  size_t max_queued_events = 100000;
  // At most this many events are written by one group commit.
  size_t max_commit_events = 8192;
  // Idempotency records are honoured for this long after first use.
  int64_t idempotency_window_us = 24LL * 3600 * 1000000;
};

// The codec of the `events` column family's bottommost level, where nearly every event
// lives once it settles (docs/storage.md "Options"). The upper levels use LZ4 either way
// (none with kNone).
enum class EventCompression {
  kZstd,  // about a fifth less disk in all; reading events in bulk costs about 1.5x the CPU
  kLz4,   // the default: reads (verify, exports, replays, history) are cheapest
  kNone,
};

struct RocksStoreOptions {
  std::string path;                 // the data directory's store folder
  bool sync = true;                 // fsync each append before acknowledging
  size_t block_cache_bytes = 256 << 20;
  size_t write_buffer_bytes = 64 << 20;
  int background_jobs = 2;
  bool create_if_missing = true;
  // Applies to files written from now on: existing files keep their codec until compaction
  // rewrites them (`annals compact`).
  EventCompression event_compression = EventCompression::kLz4;
  // Keep each organization's Merkle log (docs/integrity.md). When a store opened without it is
  // opened with it again, the log is built for the events appended meanwhile.
  bool merkle_log = true;
  // With merkle_log: build, on open, the leaves and nodes of events that lack them (a store
  // from before format 3, or one run without the log). Off for `annals verify`, which must
  // see the store as it is.
  bool merkle_catch_up = true;
  // Told, on the opening thread, how far that catch-up is: events added to the log so far
  // and the total to add, once before the first event, after each batch of at most 4,096
  // events, and at the end (done == total). Not called when there is nothing to build.
  std::function<void(uint64_t done, uint64_t total)> merkle_catch_up_progress;
};

}  // namespace annals
