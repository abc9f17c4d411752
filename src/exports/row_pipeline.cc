#include "exports/row_pipeline.h"

#include <algorithm>
#include <utility>

namespace annals::exports {

RowPipeline::RowPipeline(Store* store, RowPipelineOptions options)
    : store_(store), options_(std::move(options)) {
  const size_t n = std::max<size_t>(options_.threads, 1);
  threads_.reserve(n);
  for (size_t i = 0; i < n; ++i) threads_.emplace_back([this] { Work(); });
}

RowPipeline::~RowPipeline() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void RowPipeline::Submit(std::vector<uint64_t> positions) {
  {
    std::lock_guard lock(mu_);
    queue_.emplace_back(submitted_++, std::move(positions));
  }
  work_cv_.notify_one();
}

std::optional<EncodedBatch> RowPipeline::Next(bool wait) {
  if (outstanding() == 0) return std::nullopt;
  std::unique_lock lock(mu_);
  if (wait) done_cv_.wait(lock, [&] { return done_.count(taken_) != 0; });
  auto it = done_.find(taken_);
  if (it == done_.end()) return std::nullopt;
  EncodedBatch batch = std::move(it->second);
  done_.erase(it);
  ++taken_;
  return batch;
}

void RowPipeline::Work() {
  // Only EncodeRow and EncodeVerifiableRow are used: no file state, no compression.
  Result<ExportEncoder> encoder = ExportEncoder::Create(options_.format, /*gzip=*/false);
  std::optional<RowCompressor> compressor;
  Status setup;
  if (options_.gzip) {
    Result<RowCompressor> created = RowCompressor::Create();
    if (created.ok()) {
      compressor.emplace(std::move(created).value());
    } else {
      setup = created.status();
    }
  }
  for (;;) {
    std::pair<uint64_t, std::vector<uint64_t>> item;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    EncodedBatch batch;
    if (!encoder.ok()) {
      batch.status = encoder.status();
    } else if (!setup.ok()) {
      batch.status = setup;
    } else {
      batch = Encode(*encoder, compressor ? &*compressor : nullptr, item.second);
    }
    {
      std::lock_guard lock(mu_);
      done_.emplace(item.first, std::move(batch));
    }
    done_cv_.notify_one();
  }
}

EncodedBatch RowPipeline::Encode(ExportEncoder& encoder, RowCompressor* compressor,
                                 const std::vector<uint64_t>& positions) {
  EncodedBatch batch;
  // Rows are about as long from batch to batch: start with room for as many as the last.
  thread_local size_t last_rows_bytes = 0;
  batch.rows.reserve(last_rows_bytes + last_rows_bytes / 8);
  Status failed;
  batch.status = store_->VisitEvents(
      positions, options_.filter, /*fill_cache=*/false,
      [&](uint64_t position, uint64_t seq, std::string_view json) {
        if (!failed.ok()) return;
        if (position > options_.max_position) return;
        if (options_.accept && !options_.accept(json)) return;
        if (options_.verifiable) {
          failed = encoder.EncodeVerifiableRow(json, seq - 1, &batch.rows);
          if (failed.ok()) batch.leaf_indices.push_back(seq - 1);
        } else {
          failed = encoder.EncodeRow(json, &batch.rows);
        }
        if (failed.ok()) ++batch.count;
      });
  if (batch.status.ok() && !failed.ok()) batch.status = failed;
  last_rows_bytes = batch.rows.size();
  if (batch.status.ok() && compressor != nullptr && batch.count != 0) {
    batch.status = compressor->Compress(batch.rows, &batch.piece);
  }
  return batch;
}

}  // namespace annals::exports
