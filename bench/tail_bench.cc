// tail_bench: live-tail fan-out and idle-connection memory against a running server.
//
//   build/bench/tail_bench --server http://127.0.0.1:8080 --key KEY --server-pid PID
//       --mode tail --subscribers 100 --rate 1000 --seconds 30
//   build/bench/tail_bench ... --mode idle --connections 5000
//
// tail: opens N subscribers on GET /v1/events/stream for one organization, then a producer
// posts events at a fixed rate (a batch every 10 ms). Each subscriber parses the chunked SSE
// stream, checks that seqs arrive in order without gaps, and records the delivery lag: the
// time it read the event minus the event's received_at (both from this machine's clock), so
// the lag includes the group commit's fsync. At the end every subscriber must have every
// acknowledged event ("no loss"). Server CPU per delivered event comes from /proc/PID/stat;
// it includes the ingest of the events themselves (reported separately by the producer run
// without subscribers in docs/benchmarks.md).
// idle: opens N keep-alive connections, makes one request on each, and reports the server's
// resident memory growth per connection while they sit idle.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <thread>

#include "common.h"
#include "http_client.h"

namespace annals::bench {
namespace {

int Dial(const ServerUrl& server) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(server.host.c_str(), server.port.c_str(), &hints, &res) != 0) return -1;
  int fd = ::socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Microseconds since the epoch of an RFC 3339 UTC timestamp with 6 fractional digits.
int64_t ParseMicros(std::string_view t) {
  if (t.size() < 27) return 0;
  std::tm tm{};
  tm.tm_year = std::stoi(std::string(t.substr(0, 4))) - 1900;
  tm.tm_mon = std::stoi(std::string(t.substr(5, 2))) - 1;
  tm.tm_mday = std::stoi(std::string(t.substr(8, 2)));
  tm.tm_hour = std::stoi(std::string(t.substr(11, 2)));
  tm.tm_min = std::stoi(std::string(t.substr(14, 2)));
  tm.tm_sec = std::stoi(std::string(t.substr(17, 2)));
  return static_cast<int64_t>(timegm(&tm)) * 1000000 + std::stoll(std::string(t.substr(20, 6)));
}

int64_t WallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Subscriber {
  int fd = -1;
  std::atomic<uint64_t> events{0};
  uint64_t last_seq = 0;
  uint64_t gaps = 0;
  Latencies lag;
  std::string error;
};

// Reads the chunked SSE stream; stops when `stop` is set and the socket is shut down.
void ReadStream(Subscriber* s, const std::atomic<bool>* stop) {
  std::string buf, body;
  char tmp[65536];
  bool headers_done = false;
  size_t chunk_left = 0;
  bool in_size_line = true;
  for (;;) {
    ssize_t n = ::recv(s->fd, tmp, sizeof tmp, 0);
    if (n <= 0) {
      if (!stop->load()) s->error = "the stream ended early";
      return;
    }
    const int64_t now = WallMicros();
    buf.append(tmp, static_cast<size_t>(n));
    if (!headers_done) {
      size_t end = buf.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      if (buf.compare(0, 12, "HTTP/1.1 200") != 0) {
        s->error = buf.substr(0, buf.find("\r\n"));
        return;
      }
      headers_done = true;
      buf.erase(0, end + 4);
    }
    // De-chunk into `body`.
    size_t pos = 0;
    for (;;) {
      if (in_size_line) {
        size_t eol = buf.find("\r\n", pos);
        if (eol == std::string::npos) break;
        chunk_left = std::stoul(buf.substr(pos, eol - pos), nullptr, 16);
        pos = eol + 2;
        in_size_line = false;
        if (chunk_left == 0) return;
      }
      const size_t take = std::min(chunk_left, buf.size() - pos);
      body.append(buf, pos, take);
      pos += take;
      chunk_left -= take;
      if (chunk_left > 0) break;
      if (buf.size() - pos < 2) break;  // wait for the chunk's CRLF
      pos += 2;
      in_size_line = true;
    }
    buf.erase(0, pos);
    if (!in_size_line && chunk_left == 0 && buf.size() >= 2) {
      buf.erase(0, 2);
      in_size_line = true;
    }
    // Dispatch complete SSE messages.
    size_t msg_end;
    while ((msg_end = body.find("\n\n")) != std::string::npos) {
      std::string_view msg(body.data(), msg_end);
      size_t data = msg.find("data: ");
      if (data != std::string_view::npos) {
        std::string_view json = msg.substr(data + 6);
        size_t seq_at = json.find("\"seq\":");
        size_t recv_at = json.find("\"received_at\":\"");
        if (seq_at != std::string_view::npos && recv_at != std::string_view::npos) {
          const uint64_t seq = std::strtoull(json.data() + seq_at + 6, nullptr, 10);
          if (s->last_seq != 0 && seq != s->last_seq + 1) ++s->gaps;
          s->last_seq = seq;
          s->lag.Add(static_cast<double>(now - ParseMicros(json.substr(recv_at + 15, 27))));
          s->events.fetch_add(1);
        }
      }
      body.erase(0, msg_end + 2);
    }
  }
}

std::string EventJson(const std::string& org, uint64_t i) {
  char t[64];
  const int64_t us = WallMicros();
  const std::time_t sec = us / 1000000;
  std::tm tm{};
  gmtime_r(&sec, &tm);
  std::strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[640];
  std::snprintf(out, sizeof out,
                "{\"organization_id\":\"%s\",\"action\":\"finding.updated\",\"occurred_at\":\"%s.%06" PRId64
                "Z\",\"actor\":{\"id\":\"user_%" PRIu64 "\",\"type\":\"user\",\"name\":\"Ada\"},"
                "\"targets\":[{\"id\":\"F-%" PRIu64 "\",\"type\":\"finding\",\"name\":\"SQLi in /login\"}],"
                "\"context\":{\"location\":\"203.0.113.7\",\"user_agent\":\"Mozilla/5.0\"},"
                "\"metadata\":{\"reason\":\"retest\",\"severity\":\"high\"}}",
                org.c_str(), t, us % 1000000, i % 50, i);
  return out;
}

int RunTail(const Flags& flags, const ServerUrl& server, const std::string& key, pid_t pid) {
  const int subscribers = static_cast<int>(flags.GetInt("subscribers"));
  const double rate = flags.GetDouble("rate");
  const double seconds = flags.GetDouble("seconds");
  const std::string org = flags.Get("org");
  HttpClient admin(server, key);
  std::string error;
  if (!admin.Connect(&error)) {
    std::fprintf(stderr, "tail_bench: %s\n", error.c_str());
    return 1;
  }
  HttpClient::Response resp;
  admin.Request("POST", "/v1/orgs", "{\"id\":\"" + org + "\"}", "application/json", &resp, &error);

  std::vector<std::unique_ptr<Subscriber>> subs;
  std::vector<std::thread> readers;
  std::atomic<bool> stop{false};
  for (int i = 0; i < subscribers; ++i) {
    auto s = std::make_unique<Subscriber>();
    s->fd = Dial(server);
    if (s->fd < 0 ||
        !SendAll(s->fd, "GET /v1/events/stream?organization_id=" + org +
                            " HTTP/1.1\r\nHost: " + server.host + "\r\nAuthorization: Bearer " +
                            key + "\r\nAccept: text/event-stream\r\n\r\n")) {
      std::fprintf(stderr, "tail_bench: cannot open subscriber %d\n", i);
      return 1;
    }
    subs.push_back(std::move(s));
  }
  for (auto& s : subs) readers.emplace_back(ReadStream, s.get(), &stop);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // subscriptions registered

  const double cpu_before = pid > 0 ? ProcCpuUs(pid, false) : 0;
  const double t0 = NowSeconds();
  const double tick = 0.01;
  const double per_tick = rate * tick;
  double owed = 0;
  uint64_t sent = 0, acked = 0, failed = 0;
  for (double next = t0; NowSeconds() - t0 < seconds; next += tick) {
    owed += per_tick;
    const size_t n = static_cast<size_t>(owed);
    owed -= static_cast<double>(n);
    if (n > 0) {
      std::string body = "{\"events\":[";
      for (size_t i = 0; i < n; ++i) {
        if (i) body += ',';
        body += EventJson(org, sent + i);
      }
      body += "]}";
      sent += n;
      if (admin.Request("POST", "/v1/events", body, "application/json", &resp, &error) &&
          resp.status == 201) {
        acked += n;
      } else {
        ++failed;
      }
    }
    const double wait = next + tick - NowSeconds();
    if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
  }
  const double produce_seconds = NowSeconds() - t0;
  // Let the subscribers catch up (bounded), then stop.
  const double deadline = NowSeconds() + 10;
  for (;;) {
    uint64_t min_seen = UINT64_MAX;
    for (auto& s : subs) min_seen = std::min<uint64_t>(min_seen, s->events.load());
    if (min_seen >= acked || NowSeconds() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double cpu_after = pid > 0 ? ProcCpuUs(pid, false) : 0;
  stop.store(true);
  for (auto& s : subs) ::shutdown(s->fd, SHUT_RDWR);
  for (auto& t : readers) t.join();

  Latencies lag;
  uint64_t delivered = 0, gaps = 0, short_subs = 0, min_events = UINT64_MAX;
  std::string first_error;
  for (auto& s : subs) {
    lag.Merge(s->lag);
    delivered += s->events.load();
    gaps += s->gaps;
    min_events = std::min<uint64_t>(min_events, s->events.load());
    if (s->events.load() < acked) ++short_subs;
    if (first_error.empty() && !s->error.empty()) first_error = s->error;
    ::close(s->fd);
  }
  std::printf("| subscribers | target rate | events acked | delivered | lost | gaps | lag p50 ms | lag p99 ms | lag max ms | server CPU s | server CPU µs/delivered |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::printf("| %d | %.0f/s (%.0f/s achieved) | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %" PRIu64
              " | %.1f | %.1f | %.1f | %.1f | %.2f |\n",
              subscribers, rate, static_cast<double>(acked) / produce_seconds, acked, delivered,
              static_cast<uint64_t>(subscribers) * acked - std::min<uint64_t>(delivered, static_cast<uint64_t>(subscribers) * acked),
              gaps, lag.Percentile(0.5) / 1000, lag.Percentile(0.99) / 1000, lag.Max() / 1000,
              (cpu_after - cpu_before) / 1e6, pid > 0 && delivered > 0 ? (cpu_after - cpu_before) / static_cast<double>(delivered) : -1.0);
  if (failed) std::fprintf(stderr, "tail_bench: %" PRIu64 " producer requests failed\n", failed);
  if (!first_error.empty()) std::fprintf(stderr, "tail_bench: a subscriber: %s\n", first_error.c_str());
  if (short_subs) {
    std::fprintf(stderr, "tail_bench: %" PRIu64 " subscribers missed events (fewest: %" PRIu64 ")\n",
                 short_subs, min_events);
  }
  return 0;
}

uint64_t ProcRssBytes(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

int RunIdle(const Flags& flags, const ServerUrl& server, const std::string& key, pid_t pid) {
  int connections = static_cast<int>(flags.GetInt("connections"));
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  // Leave descriptors for reading /proc and for the process itself.
  if (lim.rlim_cur != RLIM_INFINITY && static_cast<rlim_t>(connections) + 64 > lim.rlim_cur) {
    connections = static_cast<int>(lim.rlim_cur) - 64;
    std::fprintf(stderr, "tail_bench: the open-file limit allows %d connections\n", connections);
  }
  if (pid <= 0) {
    std::fprintf(stderr, "tail_bench: --mode idle needs --server-pid\n");
    return 2;
  }
  const uint64_t before = ProcRssBytes(pid);
  std::vector<int> fds;
  const std::string request = "GET /v1/orgs?limit=1 HTTP/1.1\r\nHost: " + server.host +
                              "\r\nAuthorization: Bearer " + key + "\r\n\r\n";
  char buf[4096];
  for (int i = 0; i < connections; ++i) {
    int fd = Dial(server);
    if (fd < 0 || !SendAll(fd, request) || ::recv(fd, buf, sizeof buf, 0) <= 0) {
      std::fprintf(stderr, "tail_bench: connection %d failed\n", i);
      if (fd >= 0) ::close(fd);
      break;
    }
    fds.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const uint64_t after = ProcRssBytes(pid);
  std::printf("| idle keep-alive connections | server RSS before | after | per connection |\n");
  std::printf("|---:|---:|---:|---:|\n");
  std::printf("| %zu | %.1f MiB | %.1f MiB | %.1f KiB |\n", fds.size(), before / 1048576.0,
              after / 1048576.0,
              fds.empty() ? 0.0 : (static_cast<double>(after) - static_cast<double>(before)) / fds.size() / 1024.0);
  for (int fd : fds) ::close(fd);
  return 0;
}

}  // namespace
}  // namespace annals::bench

int main(int argc, char** argv) {
  using namespace annals::bench;
  Flags flags("tail_bench", "Live-tail fan-out and idle-connection memory against a running annals server");
  flags.Describe("server", "http://127.0.0.1:8080", "server URL");
  flags.Describe("key", "", "platform admin key");
  flags.Describe("server-pid", "0", "the server's pid, for its CPU and memory");
  flags.Describe("mode", "tail", "tail or idle");
  flags.Describe("subscribers", "100", "tail: SSE subscribers");
  flags.Describe("rate", "1000", "tail: events per second produced");
  flags.Describe("seconds", "30", "tail: production time");
  flags.Describe("org", "org_tail_bench", "tail: organization");
  flags.Describe("connections", "5000", "idle: connections to open");
  flags.Parse(argc, argv);
  ServerUrl server;
  if (!ParseServerUrl(flags.Get("server"), &server)) {
    std::fprintf(stderr, "tail_bench: bad --server\n");
    return 2;
  }
  const pid_t pid = static_cast<pid_t>(flags.GetInt("server-pid"));
  if (flags.Get("mode") == "tail") return RunTail(flags, server, flags.Get("key"), pid);
  if (flags.Get("mode") == "idle") return RunIdle(flags, server, flags.Get("key"), pid);
  std::fprintf(stderr, "tail_bench: --mode must be tail or idle\n");
  return 2;
}
