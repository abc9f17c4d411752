// annals backup: a consistent copy of the store as a new data directory (DIR/store), either
// made by the running server (POST /v1/backup) or, with --data, made here from a data
// directory that no server holds (then DIR/admin.key is copied too).
#include <sys/stat.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "common/files.h"
#include "annals/clock.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "domain/time.h"
#include "storage/rocksdb/rocks_store.h"

namespace annals {

namespace {

namespace fs = std::filesystem;

// A backup can take long (SST files are copied when DIR is on another file system).
constexpr std::chrono::hours kBackupTimeout(6);

// Prints the result of a backup: {"path", "bytes", "last_position", "created_at"}.
void PrintBackup(const boost::json::value& result, bool json) {
  if (json) return PrintJsonLine(result);
  const auto* bytes = result.as_object().if_contains("bytes");
  std::cout << "backup written to " << Member(result, "path") << " (last position "
            << Member(result, "last_position") << ", "
            << (bytes != nullptr && bytes->is_number() ? FormatBytes(bytes->to_number<uint64_t>()) : "-")
            << "); start a server on it with: annals serve --data " << Member(result, "path")
            << "\n"
            << std::flush;
}

int Online(const ClientArgs& client, const BackupArgs& args) {
  if (args.to.empty() || args.to.front() != '/') {
    return UsageError("--to must be an absolute path: the server writes the backup on its own "
                      "machine (or use --data DATA to back up a data directory here)");
  }
  HttpClient http(client.server, client.key, client.ca_file);
  http.set_timeout(kBackupTimeout);
  boost::json::object body;
  body["to"] = args.to;
  std::optional<boost::json::value> result =
      CallJson(http, "POST", "/v1/backup", 201, boost::json::serialize(body));
  if (!result) return 1;
  PrintBackup(*result, args.json);
  return 0;
}

int Offline(const BackupArgs& args) {
  RocksStoreOptions options;
  options.path = (fs::path(args.data_dir) / "store").string();
  options.create_if_missing = false;
  options.block_cache_bytes = 8 << 20;
  options.write_buffer_bytes = 4 << 20;
  Result<std::unique_ptr<RocksStore>> store = RocksStore::Open(options);
  if (!store.ok()) {
    if (store.status().error_code() == "store_locked") {
      return Fail("the data directory is in use by a running server; run `annals backup --to " +
                  args.to + "` against it instead");
    }
    return Fail(store.status().message());
  }

  std::error_code ec;
  fs::path to = fs::absolute(args.to, ec);
  if (ec) return Fail("cannot resolve " + args.to + ": " + ec.message());
  if (!to.has_filename()) to = to.parent_path();
  if (::mkdir(to.c_str(), 0700) != 0) {
    const int err = errno;
    return Fail(err == EEXIST   ? to.string() + " already exists; a backup goes to a new directory"
                : err == ENOENT ? "the parent directory of " + to.string() + " does not exist"
                                : "cannot create " + to.string() + ": " + std::strerror(err));
  }
  auto fail = [&](const std::string& why) {
    fs::remove_all(to, ec);
    return Fail(why);
  };
  Status written = (*store)->Checkpoint((to / "store").string());
  if (!written.ok()) return fail(written.message());
  // No server writes meanwhile: the copy ends exactly here.
  const uint64_t last_position = (*store)->LastPosition().value();
  store->reset();

  // The admin key file, so that the copy starts with the same admin key.
  const fs::path admin_key = fs::path(args.data_dir) / "admin.key";
  if (fs::exists(admin_key, ec)) {
    fs::copy_file(admin_key, to / "admin.key", ec);
    if (!ec) {
      fs::permissions(to / "admin.key", fs::perms::owner_read | fs::perms::owner_write,
                      fs::perm_options::replace, ec);
    }
    if (ec) return fail("cannot copy " + admin_key.string() + ": " + ec.message());
  }

  boost::json::object result;
  result["path"] = to.string();
  result["bytes"] = BytesUnder(to);
  result["last_position"] = last_position;
  result["created_at"] = FormatRfc3339Micros(SystemClock().NowMicros());
  PrintBackup(result, args.json);
  return 0;
}

}  // namespace

int RunBackup(const ClientArgs& client, const BackupArgs& args) {
  return args.data_dir.empty() ? Online(client, args) : Offline(args);
}

}  // namespace annals
