// Small file-system helpers shared by the server and the CLI. Thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace annals {

// The bytes the regular files under `dir` occupy, recursively (hard-linked files count in
// full); unreadable entries are skipped.
uint64_t BytesUnder(const std::string& dir);

}  // namespace annals
