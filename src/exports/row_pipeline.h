// The read-and-encode stage of an export, run on several threads: batches of candidate
// positions go in, in export order; each is read from the store (Store::VisitEvents),
// filtered and encoded into rows by one of the pipeline's threads, and the encoded batches
// come out in the order they went in.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "annals/status.h"
#include "annals/store.h"
#include "exports/export_format.h"

namespace annals::exports {

struct RowPipelineOptions {
  ExportFormat format = ExportFormat::kCsv;
  bool verifiable = false;  // NDJSON only: rows carry their leaf index
  bool gzip = false;        // also deflate each batch's rows (EncodedBatch::piece)
  EventFilter filter;
  // Events stored after this position are skipped (the export's snapshot).
  uint64_t max_position = UINT64_MAX;
  // When set, only events for which it returns true are encoded (called on the pipeline's
  // threads with the event's JSON; must be thread-safe).
  std::function<bool(std::string_view event_json)> accept;
  size_t threads = 2;
};

// One batch of rows, encoded.
struct EncodedBatch {
  Status status;                       // not ok: the batch could not be read or encoded
  std::string rows;                    // for ExportEncoder::AddEncoded
  CompressedRows piece;                // gzip: `rows` deflated, for AddCompressed
  uint64_t count = 0;                  // rows in `rows`
  std::vector<uint64_t> leaf_indices;  // verifiable exports: each row's leaf index
};

// Not thread-safe itself: one thread (the export's) calls Submit and Next; the work runs on
// the pipeline's own threads. `store` must outlive it.
class RowPipeline {
 public:
  RowPipeline(Store* store, RowPipelineOptions options);
  ~RowPipeline();  // Abandons what is outstanding and joins the threads.
  RowPipeline(const RowPipeline&) = delete;
  RowPipeline& operator=(const RowPipeline&) = delete;

  // Queues a batch of positions, in export order. Never blocks: callers bound what is
  // outstanding by taking batches (Next) first.
  void Submit(std::vector<uint64_t> positions);
  // Batches submitted and not yet taken.
  size_t outstanding() const { return submitted_ - taken_; }
  // The oldest batch not yet taken: waits for it when `wait`, else nullopt unless it is
  // done; nullopt when none is outstanding.
  std::optional<EncodedBatch> Next(bool wait);

 private:
  void Work();
  EncodedBatch Encode(ExportEncoder& encoder, RowCompressor* compressor,
                      const std::vector<uint64_t>& positions);

  Store* const store_;
  const RowPipelineOptions options_;
  uint64_t submitted_ = 0;  // the export's thread only
  uint64_t taken_ = 0;      // the export's thread only

  std::mutex mu_;
  std::condition_variable work_cv_;  // work queued, or stopping
  std::condition_variable done_cv_;  // a batch finished
  std::deque<std::pair<uint64_t, std::vector<uint64_t>>> queue_;  // guarded by mu_
  std::map<uint64_t, EncodedBatch> done_;                         // guarded by mu_
  bool stop_ = false;                                             // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace annals::exports
