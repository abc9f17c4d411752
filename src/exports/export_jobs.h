// Export jobs: background exports of one organization's events, of any range and size, to
// a file in the data directory, downloaded through an expiring signed URL.
//
// A job is created `pending`, runs on a worker thread (`running`), and ends `ready` (its
// file complete and synced) or `error` (with a message). Jobs are records in the store's
// meta space (`kv/export/<organization>/<id>`), so they survive restarts: a job found
// `pending` or `running` when the manager opens is run again from the start (its partial
// file is discarded), and its output is the same as it would have been — an export covers
// exactly the events stored when it was created (`snapshot_position`), whatever is ingested
// while it runs. Ready files and their records are removed `keep_for` after they were
// finished.
//
// Events are exported in (occurred_at, seq) order, oldest first, as `GET /v1/events?order=asc`
// lists them; memory stays bounded (one page of events plus the encoder's buffers).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "annals/clock.h"
#include "annals/status.h"
#include "annals/store.h"
#include "domain/ids.h"
#include "exports/export_format.h"

namespace annals::exports {

enum class ExportState { kPending, kRunning, kReady, kError };

// "pending", "running", "ready", "error".
const char* ExportStateName(ExportState state);

// What to export.
struct ExportRequest {
  EventFilter filter;  // organization_id is required; every other field narrows
  // Actor names (WorkOS `actor_names`): when not empty, an event matches when its
  // actor.name is one of them.
  std::vector<std::string> actor_names;
  ExportFormat format = ExportFormat::kCsv;
  bool gzip = false;
  // NDJSON only: each line carries the event's leaf index, and the file ends with a signed
  // tree head and the proof that recomputes its root (docs/integrity.md "Verifiable
  // exports"). Holds 8 bytes per exported event in memory until the proof is written.
  bool verifiable = false;
};

struct ExportJob {
  std::string id;  // "exp_" + 26 characters, increasing with creation time
  ExportRequest request;
  ExportState state = ExportState::kPending;
  uint64_t rows = 0;             // events written so far (all of them once ready)
  uint64_t bytes = 0;            // bytes of the file so far
  // Events the export will hold while it runs: counted from the indexes (an upper bound
  // when the filter is not decided by one index, or names actors by name), or estimated
  // for large exports (ExportManagerOptions::exact_count_max); unset until known. Once the
  // export is ready, the rows it holds.
  std::optional<uint64_t> total_estimate;
  uint64_t snapshot_position = 0;  // events stored after creation are not exported
  TimestampUs created_at = 0;
  TimestampUs updated_at = 0;
  TimestampUs finished_at = 0;  // when it became ready or error; 0 before
  std::string error;            // why it failed (state error)
  std::string created_by;       // the API key id that created it ("" for the CLI of tests)
  std::string label;            // free-form origin tag: "native" or "workos"
};

struct ExportManagerOptions {
  std::string dir;  // where export files are written (created if missing)
  // How long a finished export (its file and its record) is kept.
  TimestampUs keep_for = 24LL * 3600 * 1000000;
  size_t page_size = 8192;  // index entries read from the store per step
  // Events read and encoded together on one of the encoding threads.
  size_t batch_size = 1024;
  // Threads that read and encode rows (0: one per core, at most 4).
  size_t encode_threads = 0;
  // Progress (rows, bytes) is written to the job's record at most this often.
  TimestampUs progress_interval = 1000000;
  // The progress total (ExportJob::total_estimate): exports that the store estimates at no
  // more than this many events are counted exactly, on a thread of their own alongside the
  // rows; larger ones take the estimate (Store::EstimateEvents), which costs nothing, where
  // an exact count would cost about a tenth of the export's CPU. Either way the total is
  // the exact number of rows once the export is ready.
  uint64_t exact_count_max = 250000;
  // Verifiable exports: builds the trailer line for an organization's leaves (strictly
  // increasing leaf indices; see integrity::BuildVerificationTrailer). Empty: verifiable
  // exports are refused.
  std::function<Result<std::string>(const std::string& organization_id,
                                    const std::vector<uint64_t>& sorted_leaf_indices)>
      verification_trailer;
};

// Runs export jobs on one worker thread. Thread-safe: every public method may be called
// from any thread.
class ExportManager {
 public:
  // Loads the jobs recorded in `store` and queues those that did not finish. Start() starts
  // the worker. `store` and `clock` must outlive the manager.
  static Result<std::unique_ptr<ExportManager>> Open(ExportManagerOptions options, Store* store,
                                                     const Clock* clock);
  ~ExportManager();  // Stops.

  void Start();
  // Stops the worker after the page in progress; an unfinished job stays recorded as it was
  // and is run again by the next Open.
  void Stop();

  // Records a new pending job and queues it. The request must name an organization; a
  // verifiable request must be NDJSON (kInvalidArgument) on a manager that can prove it
  // (kUnavailable).
  Result<ExportJob> Create(ExportRequest request, std::string created_by, std::string label);

  // The job `id` of `organization_id`; NotFound ("export_not_found") for an unknown id and
  // for another organization's.
  Result<ExportJob> Get(const std::string& organization_id, const std::string& id);

  // The job `id` of whichever organization; NotFound ("export_not_found") when none.
  Result<ExportJob> GetById(const std::string& id);

  // Every job of the organization, newest first (finished jobs go after keep_for, so the
  // list stays short).
  Result<std::vector<ExportJob>> List(const std::string& organization_id);

  // The path of a ready job's file.
  std::string FilePath(const ExportJob& job) const;

  // Removes finished jobs older than keep_for (files and records). Called by the worker
  // between jobs; exposed for tests.
  Status RemoveExpired();

  // Waits until the queue is empty and no job runs (tests).
  void WaitIdle();

  // The signature of a download URL for job `id` of `organization_id` valid until
  // `expires_at` (Unix seconds): base64url HMAC-SHA256 under a random 32-byte key the store
  // keeps (meta "exports/url_key", created on first use, never in configuration).
  std::string SignDownload(const std::string& organization_id, const std::string& id,
                           int64_t expires_at) const;
  // Whether `signature` is SignDownload's for these values, compared in constant time.
  // Expiry is the caller's check.
  bool VerifyDownload(const std::string& organization_id, const std::string& id,
                      int64_t expires_at, const std::string& signature) const;

 private:
  ExportManager(ExportManagerOptions options, Store* store, const Clock* clock);
  void Loop();
  // Runs one job to its end state; returns false when stopped midway.
  bool Run(ExportJob* job);
  Status Save(const ExportJob& job);

  const ExportManagerOptions options_;
  std::string url_key_;  // set by Open, then constant
  Store* const store_;
  const Clock* const clock_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ExportJob> queue_;  // guarded by mu_
  bool running_job_ = false;     // guarded by mu_
  bool stop_ = false;            // guarded by mu_
  IdGenerator ids_;              // guarded by mu_
  ExportJob live_;               // guarded by mu_: the running job, with live counters
  std::thread worker_;
};

// Encodes a job as its stored record (JSON) and back.
std::string EncodeExportJob(const ExportJob& job);
Result<ExportJob> DecodeExportJob(std::string_view json);

}  // namespace annals::exports
