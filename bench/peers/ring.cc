#include "peer.h"

namespace annals::bench {

std::atomic<bool> g_interrupted{false};

Ring BuildRing(const WorkloadOptions& options, size_t slots, size_t batch_size) {
  Workload workload(options);
  Ring ring;
  ring.batch_size = batch_size;
  ring.organizations = workload.organizations();
  ring.org_counts.assign(ring.organizations.size(), 0);
  int64_t first = 0;
  for (size_t s = 0; s < slots; ++s) {
    std::vector<GeneratedEvent> batch = workload.NextBatch(batch_size);
    if (s == 0) first = batch.front().occurred_at_us;
    std::string raw;
    uint64_t json_bytes = 0;
    for (const auto& e : batch) {
      AppendRawRecord(e, &raw);
      json_bytes += e.canonical_json.size();
      ring.org_counts[static_cast<size_t>(e.org_index)]++;
    }
    ring.bodies.push_back(BatchBody(batch, 0, batch.size()));
    ring.raw_batches.push_back(std::move(raw));
    ring.batch_json_bytes.push_back(json_bytes);
    ring.batches.push_back(std::move(batch));
  }
  // One lap later the clock continues where this lap ended.
  ring.lap_us = workload.clock_us() - first + options.mean_gap_us;
  return ring;
}

}  // namespace annals::bench
