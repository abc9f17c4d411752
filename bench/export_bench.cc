// Export throughput and memory: runs exports with the server's ExportManager over a stored
// dataset (query_bench builds one: `query_bench --phase build`), in process, and reports
// rows/s, CPU per row and the growth of the process's resident memory while exporting.
//
//   export_bench --data bench/results/query-data-10000000 --rows 1000000 --format csv
//
// The export covers one organization (default: the one with the most events) and, when
// --rows is smaller than the organization, an occurred_at range [start, to) whose `to` is
// chosen with Store::CountEvents so that the export holds about --rows events.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "annals/clock.h"
#include "common.h"
#include "exports/export_jobs.h"
#include "storage/rocksdb/rocks_store.h"

namespace annals::bench {
namespace {

// Resident set size now, from /proc/self/statm.
uint64_t CurrentRssBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

int Main(int argc, char** argv) {
  Flags flags("export_bench", "export throughput and memory over a stored dataset, in process");
  flags.Describe("data", "bench/results/query-data-10000000", "dataset directory (query_bench)");
  flags.Describe("org", "", "organization to export (default: the one with the most events)");
  flags.Describe("rows", "1000000", "about this many events (0: the whole organization)");
  flags.Describe("format", "csv", "csv, ndjson or json");
  flags.Describe("gzip", "false", "gzip the file", true);
  flags.Describe("out", "/var/tmp/annals-export-bench", "where export files are written");
  flags.Parse(argc, argv);

  RocksStoreOptions so;
  so.path = flags.Get("data") + "/store";
  so.create_if_missing = false;
  auto opened = RocksStore::Open(so);
  if (!opened.ok()) {
    std::cerr << "export_bench: " << opened.status().ToString() << "\n";
    return 1;
  }
  std::unique_ptr<RocksStore> store = std::move(opened).value();

  std::string org = flags.Get("org");
  if (org.empty()) {
    uint64_t best = 0;
    Result<std::vector<std::string>> orgs = store->OrganizationsWithEvents();
    if (!orgs.ok()) {
      std::cerr << "export_bench: " << orgs.status().ToString() << "\n";
      return 1;
    }
    const std::vector<std::string> names = std::move(orgs).value();
    for (const std::string& o : names) {
      const uint64_t n = store->LastSeq(o).value();
      if (n > best) best = n, org = o;
    }
  }
  exports::ExportRequest request;
  request.filter.organization_id = org;
  Result<exports::ExportFormat> format = exports::ParseExportFormat(flags.Get("format"));
  if (!format.ok()) {
    std::cerr << "export_bench: " << format.status().message() << "\n";
    return 2;
  }
  request.format = *format;
  request.gzip = flags.GetBool("gzip");

  const uint64_t want = static_cast<uint64_t>(flags.GetInt("rows"));
  bool exact = false;
  const uint64_t all = store->CountEvents(request.filter, 0, &exact).value();
  if (want > 0 && want < all) {
    // The earliest occurred_at, then bisect `to` on CountEvents.
    ScanRequest first;
    first.filter.organization_id = org;
    first.descending = false;
    first.limit = 1;
    const TimestampUs lo0 = store->Scan(first).value().front().fields.occurred_at;
    first.descending = true;
    TimestampUs lo = lo0, hi = store->Scan(first).value().front().fields.occurred_at + 1;
    while (hi - lo > 1000000) {
      const TimestampUs mid = lo + (hi - lo) / 2;
      EventFilter f = request.filter;
      f.to = mid;
      if (store->CountEvents(f, 0, &exact).value() < want) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    request.filter.to = hi;
  }

  std::filesystem::remove_all(flags.Get("out"));
  SystemClock clock;
  exports::ExportManagerOptions eo;
  eo.dir = flags.Get("out");
  auto manager = exports::ExportManager::Open(eo, store.get(), &clock).value();
  const uint64_t rss_before = CurrentRssBytes();
  uint64_t rss_max = rss_before;
  const CpuTimes cpu0 = ProcessCpu();
  const double t0 = NowSeconds();
  manager->Start();
  exports::ExportJob job = manager->Create(request, "bench", "native").value();
  for (;;) {
    job = manager->Get(org, job.id).value();
    rss_max = std::max(rss_max, CurrentRssBytes());
    if (job.state == exports::ExportState::kReady || job.state == exports::ExportState::kError) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double secs = NowSeconds() - t0;
  const CpuTimes cpu1 = ProcessCpu();
  manager->Stop();
  if (job.state != exports::ExportState::kReady) {
    std::cerr << "export_bench: the export failed: " << job.error << "\n";
    return 1;
  }
  const double rows = static_cast<double>(job.rows);
  std::printf(
      "| %s%s | %s | %.0f | %.2f | %.0f | %.2f | %.1f | %.1f |\n",
      flags.Get("format").c_str(), request.gzip ? " + gzip" : "", org.c_str(), rows, secs,
      rows / secs, (cpu1.total() - cpu0.total()) / rows, static_cast<double>(job.bytes) / rows,
      static_cast<double>(rss_max - rss_before) / (1 << 20));
  std::printf("(columns: format | organization | rows | seconds | rows/s | CPU µs/row | "
              "bytes/row | RSS growth MiB); file %s, %llu bytes; the store's estimate of the "
              "rows: %llu\n",
              manager->FilePath(job).c_str(), static_cast<unsigned long long>(job.bytes),
              static_cast<unsigned long long>(store->EstimateEvents(request.filter).value()));
  return 0;
}

}  // namespace
}  // namespace annals::bench

int main(int argc, char** argv) { return annals::bench::Main(argc, argv); }
