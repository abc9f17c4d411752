#include "common/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <climits>

namespace annals {
namespace {

constexpr int kGzipWindowBits = 15 + 16;  // 32 KiB window, gzip wrapper
constexpr int kMemLevel = 8;
constexpr size_t kChunkBytes = 64 * 1024;

// zlib counts in uInt; feed larger inputs in pieces.
constexpr size_t kMaxFeed = UINT_MAX / 2;

}  // namespace

Result<std::string> GzipCompress(std::string_view data, GzipOptions options) {
  z_stream z{};
  if (deflateInit2(&z, options.level, Z_DEFLATED, kGzipWindowBits, kMemLevel,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return Status::Internal("gzip: zlib could not start a deflate stream");
  }
  std::string out;
  out.reserve(data.size() / 4 + 64);
  char buffer[kChunkBytes];
  size_t offset = 0;
  int rc = Z_OK;
  do {
    const size_t feed = std::min(data.size() - offset, kMaxFeed);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + offset));
    z.avail_in = static_cast<uInt>(feed);
    offset += feed;
    const int flush = offset == data.size() ? Z_FINISH : Z_NO_FLUSH;
    do {
      z.next_out = reinterpret_cast<Bytef*>(buffer);
      z.avail_out = sizeof buffer;
      rc = deflate(&z, flush);
      if (rc == Z_STREAM_ERROR) {
        deflateEnd(&z);
        return Status::Internal("gzip: zlib deflate failed");
      }
      out.append(buffer, sizeof buffer - z.avail_out);
    } while (z.avail_out == 0);
  } while (rc != Z_STREAM_END);
  deflateEnd(&z);
  return out;
}

Result<std::string> GzipDecompress(std::string_view data, size_t max_output_bytes) {
  if (data.empty()) return Status::InvalidArgument("gzip: empty input", "invalid_gzip");
  z_stream z{};
  if (inflateInit2(&z, kGzipWindowBits) != Z_OK) {
    return Status::Internal("gzip: zlib could not start an inflate stream");
  }
  std::string out;
  char buffer[kChunkBytes];
  size_t offset = 0;
  while (true) {
    if (z.avail_in == 0 && offset < data.size()) {
      const size_t feed = std::min(data.size() - offset, kMaxFeed);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + offset));
      z.avail_in = static_cast<uInt>(feed);
      offset += feed;
    }
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof buffer;
    const int rc = inflate(&z, Z_NO_FLUSH);
    const size_t produced = sizeof buffer - z.avail_out;
    if (out.size() + produced > max_output_bytes) {
      inflateEnd(&z);
      return Status(Code::kTooLarge, "too_large",
                    "gzip: the decompressed data exceeds " + std::to_string(max_output_bytes) +
                        " bytes");
    }
    out.append(buffer, produced);
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0 && offset == data.size()) break;
      inflateReset(&z);  // another member follows
      continue;
    }
    if (rc != Z_OK && !(rc == Z_BUF_ERROR && produced == 0 && z.avail_in == 0 &&
                        offset < data.size())) {
      inflateEnd(&z);
      return Status::InvalidArgument("gzip: the data is not valid gzip", "invalid_gzip");
    }
    if (rc == Z_OK && produced == 0 && z.avail_in == 0 && offset == data.size()) {
      inflateEnd(&z);
      return Status::InvalidArgument("gzip: the data is truncated", "invalid_gzip");
    }
  }
  inflateEnd(&z);
  return out;
}

}  // namespace annals
