// A scratch directory for tests that need a real RocksDB store.
#pragma once

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "annals/event.h"
#include "storage/rocksdb/rocks_store.h"

namespace annals::testing {

// A small stored event ("doc.updated" on one doc) for tests of the log itself: its JSON is
// {"action","id","organization_id","seq"}, its id "evt_" + the position, zero padded.
inline EventRecord LogEvent(const std::string& org, uint64_t position, uint64_t seq,
                            TimestampUs occurred_at) {
  EventRecord e;
  e.fields.organization_id = org;
  e.fields.action = "doc.updated";
  e.fields.occurred_at = occurred_at;
  e.fields.actor_id = "user_1";
  e.fields.actor_type = "user";
  e.fields.targets = {{"doc", "D-" + std::to_string(position % 7)}};
  e.position = position;
  e.seq = seq;
  char id[32];
  std::snprintf(id, sizeof id, "evt_%026llu", static_cast<unsigned long long>(position));
  e.id = id;
  e.received_at = occurred_at;
  e.json = "{\"action\":\"doc.updated\",\"id\":\"" + e.id + "\",\"organization_id\":\"" + org +
           "\",\"seq\":" + std::to_string(seq) + "}";
  return e;
}

// A fresh directory under the system's temporary directory, removed with everything in it on
// destruction (close the stores opened in it first). Not copyable.
class StoreTestDir {
 public:
  // `prefix` names the directory, e.g. "annals-export-test".
  explicit StoreTestDir(const std::string& prefix) {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    path_ = tmpl;
  }
  ~StoreTestDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  StoreTestDir(const StoreTestDir&) = delete;
  StoreTestDir& operator=(const StoreTestDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Opens the store at path()/store (creating it the first time), with small caches and
  // without syncing writes.
  Result<std::unique_ptr<RocksStore>> OpenStore() const {
    RocksStoreOptions o;
    o.path = (path_ / "store").string();
    o.sync = false;
    o.block_cache_bytes = 8 << 20;
    o.write_buffer_bytes = 4 << 20;
    return RocksStore::Open(o);
  }

 private:
  std::filesystem::path path_;
};

}  // namespace annals::testing
