// (a) The raw ceiling: each batch's bytes (canonical JSON plus serialized index tuples)
// appended to one file with a single write and one fdatasync. Nothing is indexed or parsed;
// this is the most any durable store could do with these bytes on this disk.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "../common.h"
#include "peer.h"

namespace annals::bench {

PeerResult RunRawPeer(const Ring& ring, const PeerConfig& config) {
  PeerResult r;
  r.name = "raw file (ceiling)";
  r.setup = "append + fdatasync per batch of " + std::to_string(ring.batch_size) +
            ", canonical JSON + index tuples";
  std::string dir = MakeTempDir(config.work_parent, "raw-");
  std::string path = dir + "/events.log";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    r.error = "cannot open " + path + ": " + std::strerror(errno);
    return r;
  }
  uint64_t file_bytes = 0;
  Latencies commits;
  const CpuTimes cpu0 = ProcessCpu();
  const double t0 = NowSeconds();
  const double deadline = t0 + config.seconds;
  uint64_t k = 0;
  double now = t0;
  for (; now < deadline && !g_interrupted.load(); ++k) {
    const std::string& bytes = ring.raw_batches[k % ring.slots()];
    const double b0 = now;
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        r.error = std::string("write failed: ") + std::strerror(errno);
        ::close(fd);
        return r;
      }
      off += static_cast<size_t>(n);
    }
    if (::fdatasync(fd) != 0) {
      r.error = std::string("fdatasync failed: ") + std::strerror(errno);
      ::close(fd);
      return r;
    }
    now = NowSeconds();
    commits.Add((now - b0) * 1e6);
    file_bytes += bytes.size();
    r.events += ring.batch_size;
    r.json_bytes += ring.batch_json_bytes[k % ring.slots()];
  }
  r.seconds = now - t0;
  r.process_cpu_us = ProcessCpu().total() - cpu0.total();
  ::close(fd);
  r.disk_bytes = DiskUsageBytes(dir);
  r.commit_p50_ms = commits.Percentile(0.5) / 1000;
  r.commit_p99_ms = commits.Percentile(0.99) / 1000;
  r.notes.push_back("raw: " + FormatFixed(file_bytes / r.seconds / 1e6, 1) +
                    " MB/s written to the file including index tuples");
  r.ok = true;
  if (!config.keep) RemoveTree(dir);
  return r;
}

}  // namespace annals::bench
