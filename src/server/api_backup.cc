// POST /v1/backup: a consistent online copy of the embedded store, laid out as a data
// directory (<to>/store) that `annals serve --data <to>` starts from.
#include <sys/stat.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "common/files.h"
#include "domain/canonical_json.h"
#include "domain/json_fields.h"
#include "domain/time.h"
#include "server/api_internal.h"
#include "storage/rocksdb/rocks_store.h"

namespace annals {

namespace {

constexpr size_t kMaxPathLength = 4096;

Status InvalidTo(std::string message, std::string detail) {
  return Status::InvalidArgument(std::move(message), "invalid_request",
                                 {{"/to", std::move(detail)}});
}

// Opens the copy as a store of its own, which proves it usable, and returns the last
// position it holds.
Result<uint64_t> OpenCopy(const std::string& store_dir) {
  RocksStoreOptions options;
  options.path = store_dir;
  options.create_if_missing = false;
  options.block_cache_bytes = 4 << 20;
  options.write_buffer_bytes = 4 << 20;
  Result<std::unique_ptr<RocksStore>> copy = RocksStore::Open(options);
  if (!copy.ok()) {
    return Status::Internal("the backup was written but cannot be opened: " +
                            copy.status().message());
  }
  return (*copy)->LastPosition();
}

}  // namespace

void Api::Backup(Call& c) {
  if (!c.who.platform()) {
    return c.respond(ErrorResponse(Status(Code::kPermissionDenied, "insufficient_scope",
                                          "only platform keys can back up the store")));
  }
  Result<boost::json::object> body = ParseRequestObject(c.req.body, {"to"});
  if (!body.ok()) return c.respond(ErrorResponse(body.status()));
  FieldReader fields(*body);
  std::optional<std::string> to = fields.String("to", kMaxPathLength, true);
  if (to && to->front() != '/') {
    fields.Fail("to", "to must be an absolute path on the server");
  } else if (to && to->find('\0') != std::string::npos) {
    fields.Fail("to", "to must not contain a NUL character");
  }
  Status bad = fields.Finish();
  if (!bad.ok()) return c.respond(ErrorResponse(bad));
  std::string path = std::move(*to);
  while (path.size() > 1 && path.back() == '/') path.pop_back();

  // Creating the directory is the existence check, free of races; only its owner reads it.
  if (::mkdir(path.c_str(), 0700) != 0) {
    const int err = errno;
    if (err == EEXIST) {
      return c.respond(ErrorResponse(InvalidTo(
          path + " already exists; a backup goes to a new directory", "already exists")));
    }
    if (err == ENOENT) {
      return c.respond(ErrorResponse(InvalidTo("the parent directory of " + path +
                                                   " does not exist",
                                               "the parent directory does not exist")));
    }
    return c.respond(ErrorResponse(
        InvalidTo("cannot create " + path + ": " + std::strerror(err), std::strerror(err))));
  }
  const std::string store_dir = path + "/store";
  Status written = deps_.store->Checkpoint(store_dir);
  Result<uint64_t> last_position = written.ok() ? OpenCopy(store_dir) : Result<uint64_t>(written);
  if (!last_position.ok()) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    deps_.logger->Error("backup failed",
                        {{"path", path}, {"error", last_position.status().message()}});
    return c.respond(ErrorResponse(last_position.status()));
  }
  const uint64_t bytes = BytesUnder(path);
  const std::string created_at = FormatRfc3339Micros(deps_.clock->NowMicros());
  deps_.logger->Info("backup written", {{"path", path},
                                        {"last_position", std::to_string(*last_position)},
                                        {"bytes", std::to_string(bytes)}});

  std::string out = "{\"bytes\":" + std::to_string(bytes) + ",\"created_at\":";
  AppendJsonString(created_at, &out);
  out += ",\"last_position\":" + std::to_string(*last_position) + ",\"path\":";
  AppendJsonString(path, &out);
  out += '}';
  MetaAuditEntry e =
      AuditEntry(c, std::string(kPlatformOrganization), "annals.backup.created");
  e.targets.push_back({"backup", path, ""});
  e.metadata["last_position"] = *last_position;
  e.metadata["bytes"] = bytes;
  AuditThenRespond(c, std::move(e), JsonResponse(201, std::move(out)));
}

}  // namespace annals
