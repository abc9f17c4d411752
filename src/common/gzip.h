// One-shot gzip (RFC 1952) compression and decompression of in-memory buffers with zlib.
// All functions are pure and thread-safe. (exports/ streams its own deflate state, because an
// export is written piece by piece; these are for bodies that are whole in memory.)
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "annals/status.h"

namespace annals {

struct GzipOptions {
  int level = 6;  // zlib level: 1 (fastest) .. 9 (smallest)
};

// `data` as one gzip member. kInternal only if zlib fails (out of memory).
Result<std::string> GzipCompress(std::string_view data, GzipOptions options = {});

// Decompresses one or more concatenated gzip members. kInvalidArgument ("invalid_gzip") for
// data that is not gzip or is truncated; kTooLarge ("too_large") once the output would exceed
// `max_output_bytes`.
Result<std::string> GzipDecompress(std::string_view data, size_t max_output_bytes);

}  // namespace annals
