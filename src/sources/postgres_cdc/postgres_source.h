// The PostgreSQL change-capture source: a logical replication consumer (pgoutput, protocol
// version 1) that turns every INSERT, UPDATE, DELETE and TRUNCATE of the configured tables
// into events (docs/change-capture.md, "PostgreSQL").
//
// One thread per source. It connects twice to the database (a normal connection for catalog
// checks and the initial snapshot, a replication=database connection for the stream),
// creates the slot when it is missing (taking the initial snapshot from the slot's exported
// snapshot), then streams. Events go through the ingestor in chunks as they arrive; the
// position confirmed to the server (the slot's confirmed_flush_lsn) is always the end of the
// last transaction whose events are all durable, so a crash or a restart resumes without
// loss, and idempotency keys derived from the commit LSN make redelivery store nothing twice.
// Connection problems are retried with exponential backoff (state "error"); a lost slot
// stops the source for good (state "failed").
//
// Thread-safety: Status and Stop may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "annals/clock.h"
#include "annals/options.h"
#include "annals/status.h"
#include "annals/store.h"
#include "sources/source.h"
#include "sources/source_config.h"

namespace annals {

class Ingestor;
class Logger;
class OrgRegistry;

struct PostgresSourceDeps {
  Store* store = nullptr;        // required: metadata (slot state, mask key) and item lookups
  Ingestor* ingestor = nullptr;  // required: the only way events enter the store
  // Organizations every event is checked against; null skips the check (tools, benches).
  OrgRegistry* orgs = nullptr;
  const Clock* clock = nullptr;  // required
  std::shared_ptr<Logger> logger;  // required
  EventLimits limits;
  bool auto_create_orgs = false;  // [orgs] auto_create
  // How long idempotency keys are kept (SourcesConfig::idempotency_window_us).
  int64_t idempotency_window_us = 14LL * 24 * 3600 * 1000000;
};

// Tuning; the defaults are what annals runs with (tests shorten the waits).
struct PostgresSourceOptions {
  size_t chunk_events = 1000;          // events per ingestor submission
  // How long decoded events may wait for more to join their submission. Larger group commits
  // cost the store much less per event; this bounds what the batching adds to the lag.
  std::chrono::milliseconds max_batch_delay{20};
  size_t max_inflight_events = 8000;   // submitted but not yet durable (bounds memory)
  std::chrono::milliseconds feedback_interval{1000};   // confirm new positions this often
  std::chrono::milliseconds keepalive_interval{10000}; // status updates while idle
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30000};
  std::chrono::milliseconds connect_timeout{10000};
  // While streaming: after this long without any message the server is asked to answer;
  // after half as long again the connection counts as dead and is opened again.
  std::chrono::milliseconds silence_timeout{60000};
  // Fault injection for tests: called on the source's thread right after each submission
  // of streamed changes to the ingestor.
  std::function<void()> after_submit;
};

// Checks what the configuration must satisfy on its own: a name of [A-Za-z0-9_.-] (it is
// part of idempotency keys), a slot name of [a-z0-9_], exactly one of organization_column
// and organization, snapshot "initial" or "never", at least one table, no table twice, and
// target types that make valid actions ([a-z0-9_.-]). kInvalidArgument "invalid_config".
Status ValidatePostgresSourceConfig(const PostgresSourceConfig& config);

// Store meta names used by the source.
inline constexpr char kMaskKeyMeta[] = "sources/mask_key";
std::string PostgresSourceStateMeta(const std::string& source_name);

// The 32-byte key of masked columns: read from store meta, created on first use.
Result<std::string> GetOrCreateMaskKey(Store* store);

class PostgresSource final : public Source {
 public:
  // Validates the configuration; the source does nothing until Start. The deps must
  // outlive the source; call Stop before stopping the ingestor.
  static Result<std::shared_ptr<PostgresSource>> Create(PostgresSourceConfig config,
                                                        PostgresSourceDeps deps,
                                                        PostgresSourceOptions options = {});
  ~PostgresSource() override;

  // Starts the source's thread, which connects in the background: a database that is down
  // never delays the caller. Call once.
  void Start();

  PostgresSource(const PostgresSource&) = delete;
  PostgresSource& operator=(const PostgresSource&) = delete;

  SourceStatus Status() const override;

  // Stops streaming, waits for events already submitted to become durable, confirms their
  // position to the server and closes the connections. Idempotent.
  void Stop();

  const std::string& name() const;

 private:
  class Impl;
  explicit PostgresSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace annals
