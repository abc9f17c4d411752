// annals compact: rewrites a data directory's store offline (no server may hold it) with the
// configured options, e.g. after `[store] event_compression` changed, so that every event is
// stored with the new codec; also drops what purges and overwrites left behind.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "server/config.h"
#include "storage/rocksdb/rocks_store.h"

extern char** environ;

namespace annals {

namespace {

namespace fs = std::filesystem;

// Bytes of the store's table files (what compaction rewrites; logs and manifests aside).
uint64_t TableBytes(const fs::path& store) {
  uint64_t total = 0;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(store, ec)) {
    if (e.path().extension() != ".sst") continue;
    const uintmax_t size = e.file_size(ec);
    if (!ec) total += size;
  }
  return total;
}

const char* CodecName(EventCompression c) {
  switch (c) {
    case EventCompression::kZstd:
      return "zstd";
    case EventCompression::kLz4:
      return "lz4";
    case EventCompression::kNone:
      return "none";
  }
  return "?";
}

}  // namespace

int RunCompact(const CompactArgs& args) {
  ConfigOverrides overrides;
  overrides.config_file = args.config_file;
  if (args.data_dir) overrides.values["server.data"] = *args.data_dir;
  if (args.event_compression) overrides.values["store.event_compression"] = *args.event_compression;
  Result<Config> config = LoadConfig(overrides, environ);
  if (!config.ok()) return UsageError(config.status().message());
  const std::string& data_dir = config->server.data_dir;
  std::error_code ec;
  if (!fs::is_directory(fs::path(data_dir) / "store", ec)) {
    return Fail(data_dir + " is not an annals data directory (it has no store)");
  }
  RocksStoreOptions options = config->store;
  options.path = (fs::path(data_dir) / "store").string();
  options.create_if_missing = false;
  const bool tty = isatty(STDERR_FILENO) != 0;
  if (tty) {
    // A store from before the Merkle log gets it built on open.
    options.merkle_catch_up_progress = [](uint64_t done, uint64_t total) {
      std::cerr << "\rbuilding the Merkle log: " << done << " of " << total << " events"
                << (done == total ? "\r\033[K" : "") << std::flush;
    };
  }
  Result<std::unique_ptr<RocksStore>> store = RocksStore::Open(options);
  if (!store.ok()) {
    if (store.status().error_code() == "store_locked") {
      return Fail("the data directory " + data_dir +
                  " is in use by a running server; stop it first");
    }
    return Fail(store.status().message());
  }
  const uint64_t before = TableBytes(options.path);
  if (tty) std::cerr << "compacting " << data_dir << " (" << FormatBytes(before) << ")…" << std::flush;
  const auto start = std::chrono::steady_clock::now();
  Status s = (*store)->CompactAll();
  if (tty) std::cerr << "\r\033[K" << std::flush;
  if (!s.ok()) return Fail("cannot compact " + data_dir + ": " + s.message());
  store->reset();  // closes the store; obsolete files are deleted by then
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "compacted " << data_dir << " in " << std::fixed << std::setprecision(1)
            << seconds << " s: " << FormatBytes(before) << " -> "
            << FormatBytes(TableBytes(options.path)) << " (events stored with "
            << CodecName(options.event_compression) << ")\n";
  return 0;
}

}  // namespace annals
