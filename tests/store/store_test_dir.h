// A scratch directory for tests that need a real RocksDB store.
#pragma once

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "storage/rocksdb/rocks_store.h"

namespace annals::testing {

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
