// annals verify: checks a data directory's tamper evidence offline (docs/integrity.md
// "Verifying a store"): every event against its Merkle leaf, every tree against every signed
// head, the head chains. Works on a data directory that no server holds; changes nothing.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "integrity/verifier.h"
#include "storage/rocksdb/rocks_store.h"

namespace annals {

int RunVerify(const VerifyArgs& args) {
  namespace fs = std::filesystem;
  if (args.data_dir.empty()) return UsageError("--data DIR is required");
  std::error_code ec;
  if (!fs::is_directory(args.data_dir, ec)) {
    return UsageError(args.data_dir + " is not a directory");
  }
  RocksStoreOptions options;
  options.path = (fs::path(args.data_dir) / "store").string();
  options.create_if_missing = false;
  options.block_cache_bytes = 64 << 20;
  options.write_buffer_bytes = 4 << 20;
  // Seen as it is: nothing is built or repaired before it is checked.
  options.merkle_catch_up = false;
  Result<std::unique_ptr<RocksStore>> store = RocksStore::Open(options);
  if (!store.ok()) {
    if (store.status().error_code() == "store_locked") {
      return Fail("the data directory " + args.data_dir +
                  " is in use by a running server; stop it (or verify a backup made with "
                  "`annals backup`)");
    }
    return Fail(store.status().message());
  }
  if (!args.org.empty() && (*store)->LastSeq(args.org).value() == 0) {
    return Fail("organization " + args.org + " has no events in " + args.data_dir);
  }

  const bool tty = isatty(STDERR_FILENO) != 0;
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  integrity::VerifyOptions vo;
  vo.organization_id = args.org;
  if (tty) {
    vo.progress = [&](uint64_t events) {
      std::cerr << "\r  " << events << " events checked (" << FormatRate(events, seconds())
                << " events/s)" << std::flush;
    };
  }
  Result<integrity::VerifySummary> summary = integrity::VerifyStore(store->get(), vo);
  if (tty) std::cerr << "\r\033[K" << std::flush;
  if (!summary.ok()) return Fail("cannot verify: " + summary.status().message());
  const double elapsed = seconds();
  if (summary->failure) {
    const integrity::VerifyFailure& f = *summary->failure;
    std::string where;
    if (!f.organization_id.empty()) where = "organization " + f.organization_id;
    if (f.seq != 0) where += (where.empty() ? "" : ", ") + std::string("seq ") + std::to_string(f.seq);
    return Fail("verification FAILED" + (where.empty() ? std::string() : " at " + where) + ": " +
                f.reason);
  }
  std::cout << "verified " << summary->events << " events (" << summary->tombstones
            << " purged) of " << summary->organizations << " organization"
            << (summary->organizations == 1 ? "" : "s") << " against " << summary->heads
            << " signed tree head" << (summary->heads == 1 ? "" : "s") << " (" << summary->keys
            << " signing key" << (summary->keys == 1 ? "" : "s") << " on record) in "
            << std::fixed << std::setprecision(1) << elapsed << " s, " << FormatRate(summary->events, elapsed)
            << " events/s: OK\n";
  return 0;
}

}  // namespace annals
