// http_bench: a load generator for POST /v1/events over real HTTP with keep-alive.
//
//   build/bench/http_bench --server http://127.0.0.1:8080 --key KEY [--seconds 60]
//       [--mode batched,single] [--server-pid PID]
//
// batched: 1000 events per request as {"events": [...]}, 4 connections.
// single:  one event per request, 32 connections; acknowledgement latency p50/p99.
// Each connection is a thread doing blocking request/response (closed loop). It starts no
// server: scripts/bench.sh does. With --server-pid the server's CPU (/proc/<pid>/stat) and
// peak RSS are reported too. Note the generator shares the machine's cores with the server.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "common.h"
#include "http_client.h"
#include "workload.h"

namespace annals::bench {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

struct ModeResult {
  std::string name;
  int connections = 0;
  size_t events_per_request = 0;
  uint64_t requests = 0;
  uint64_t events = 0;
  uint64_t bytes = 0;
  uint64_t rejected = 0;  // 503 overloaded (retried after a pause)
  uint64_t failed = 0;    // other statuses
  std::string first_failure;
  double seconds = 0;
  double client_cpu_us = 0;
  double server_cpu_us = -1;
  Latencies latency;  // per successful request, µs
};

ModeResult RunMode(const std::string& name, const ServerUrl& server, const std::string& key,
                   const std::vector<std::string>& bodies, size_t events_per_request,
                   int connections, double seconds, pid_t server_pid,
                   const std::string& path = "/v1/events") {
  ModeResult r;
  r.name = name;
  r.connections = connections;
  r.events_per_request = events_per_request;
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < connections; ++i) {
    clients.push_back(std::make_unique<HttpClient>(server, key));
    std::string error;
    if (!clients.back()->Connect(&error)) {
      r.failed = 1;
      r.first_failure = error;
      return r;
    }
  }
  std::atomic<uint64_t> next{0}, requests{0}, events{0}, bytes{0}, rejected{0}, failed{0};
  std::mutex mu;
  const double server_cpu0 = server_pid ? ProcCpuUs(server_pid, true) : 0;
  const CpuTimes cpu0 = ProcessCpu();
  const double t0 = NowSeconds();
  const double deadline = t0 + seconds;
  std::atomic<double> last_done{t0};
  auto worker = [&](HttpClient* client) {
    Latencies local;
    HttpClient::Response res;
    std::string error;
    while (!g_stop.load()) {
      const double start = NowSeconds();
      if (start >= deadline) break;
      const std::string& body = bodies[next.fetch_add(1) % bodies.size()];
      if (!client->Request("POST", path, body, "application/json", &res, &error)) {
        failed.fetch_add(1);
        std::lock_guard<std::mutex> lock(mu);
        if (r.first_failure.empty()) r.first_failure = error;
        usleep(100000);
        continue;
      }
      if (res.status == 201) {
        const double done = NowSeconds();
        local.Add((done - start) * 1e6);
        requests.fetch_add(1);
        events.fetch_add(events_per_request);
        bytes.fetch_add(body.size());
        double prev = last_done.load();
        while (done > prev && !last_done.compare_exchange_weak(prev, done)) {
        }
      } else if (res.status == 503) {
        rejected.fetch_add(1);
        usleep(10000);
      } else {
        failed.fetch_add(1);
        std::lock_guard<std::mutex> lock(mu);
        if (r.first_failure.empty()) {
          r.first_failure = "HTTP " + std::to_string(res.status) + ": " + res.body.substr(0, 300);
        }
        usleep(100000);
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    r.latency.Merge(local);
  };
  std::vector<std::thread> threads;
  for (auto& c : clients) threads.emplace_back(worker, c.get());
  for (auto& t : threads) t.join();
  r.seconds = last_done.load() - t0;
  r.client_cpu_us = ProcessCpu().total() - cpu0.total();
  if (server_pid) r.server_cpu_us = ProcCpuUs(server_pid, true) - server_cpu0;
  r.requests = requests.load();
  r.events = events.load();
  r.bytes = bytes.load();
  r.rejected = rejected.load();
  r.failed = failed.load();
  return r;
}

int Main(int argc, char** argv) {
  Flags flags("http_bench", "POST /v1/events load over HTTP keep-alive: batched and single events");
  const char* env_server = std::getenv("ANNALS_SERVER");
  const char* env_key = std::getenv("ANNALS_KEY");
  flags.Describe("server", env_server ? env_server : "http://127.0.0.1:8080",
                 "server URL (env ANNALS_SERVER)");
  flags.Describe("key", env_key ? env_key : "", "API key with events:write (env ANNALS_KEY)");
  flags.Describe("seconds", "60", "duration of each mode");
  flags.Describe("quick", "false", "5 seconds per mode (overrides --seconds)", true);
  flags.Describe("mode", "batched,single", "modes to run: batched, single, workos (single events on POST /audit_logs/events)");
  flags.Describe("batch", "1000", "events per request in batched mode");
  flags.Describe("batch-connections", "4", "connections in batched mode");
  flags.Describe("single-connections", "32", "connections in single mode");
  flags.Describe("seed", "7", "workload seed");
  flags.Describe("server-pid", "0", "the server's pid, to report its CPU and peak RSS");
  flags.Describe("markdown", "", "append the markdown section to this file");
  flags.Describe("targets", "", "append target rows (markdown) to this file");
  flags.Parse(argc, argv);

  ServerUrl server;
  if (!ParseServerUrl(flags.Get("server"), &server)) {
    std::fprintf(stderr, "http_bench: --server must look like http://HOST:PORT.\n");
    return 2;
  }
  const std::string key = flags.Get("key");
  if (key.empty()) {
    std::fprintf(stderr, "http_bench: give an API key with --key or ANNALS_KEY.\n");
    return 2;
  }
  const double seconds = flags.GetBool("quick") ? 5 : flags.GetDouble("seconds");
  const auto batch = static_cast<size_t>(std::max<int64_t>(1, flags.GetInt("batch")));
  const pid_t server_pid = static_cast<pid_t>(flags.GetInt("server-pid"));
  const std::string modes = "," + flags.Get("mode") + ",";
  const bool run_batched = modes.find(",batched,") != std::string::npos;
  const bool run_single = modes.find(",single,") != std::string::npos;
  const bool run_workos = modes.find(",workos,") != std::string::npos;
  if (!run_batched && !run_single && !run_workos) {
    std::fprintf(stderr, "http_bench: --mode takes batched, single and workos.\n");
    return 2;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);

  // Bodies are made before timing. Events occurred during the last day (the API refuses
  // occurred_at more than an hour ahead).
  WorkloadOptions wopts;
  wopts.seed = static_cast<uint64_t>(flags.GetInt("seed"));
  wopts.start_us = WallClockUs() - 86400LL * 1000000;
  wopts.mean_gap_us = 1000000;
  Workload workload(wopts);
  std::vector<ModeResult> results;
  if (run_batched) {
    std::vector<std::string> bodies;
    for (int i = 0; i < 48; ++i) {
      std::vector<GeneratedEvent> events = workload.NextBatch(batch);
      bodies.push_back(BatchBody(events, 0, events.size()));
    }
    std::fprintf(stderr, "http_bench: batched, %zu events/request, %d connections, %.0f s...\n",
                 batch, static_cast<int>(flags.GetInt("batch-connections")), seconds);
    results.push_back(RunMode("batched", server, key, bodies, batch,
                              static_cast<int>(flags.GetInt("batch-connections")), seconds,
                              server_pid));
  }
  if (run_single && !g_stop.load()) {
    std::vector<std::string> bodies;
    GeneratedEvent e;
    for (int i = 0; i < 20000; ++i) {
      workload.Next(&e);
      bodies.push_back(e.client_json);
    }
    if (run_batched) sleep(2);
    std::fprintf(stderr, "http_bench: single events, %d connections, %.0f s...\n",
                 static_cast<int>(flags.GetInt("single-connections")), seconds);
    results.push_back(RunMode("single", server, key, bodies, 1,
                              static_cast<int>(flags.GetInt("single-connections")), seconds,
                              server_pid));
  }
  if (run_workos && !g_stop.load()) {
    // The same single events through the WorkOS-compatible route: {"organization_id", "event"}.
    std::vector<std::string> bodies;
    GeneratedEvent e;
    for (int i = 0; i < 20000; ++i) {
      workload.Next(&e);
      const std::string prefix = "{\"organization_id\":\"" + e.organization_id + "\",";
      if (e.client_json.rfind(prefix, 0) != 0) {
        std::fprintf(stderr, "http_bench: unexpected client JSON shape\n");
        return 1;
      }
      bodies.push_back(prefix + "\"event\":{" + e.client_json.substr(prefix.size()) + "}");
    }
    if (run_batched || run_single) sleep(2);
    std::fprintf(stderr, "http_bench: WorkOS single events, %d connections, %.0f s...\n",
                 static_cast<int>(flags.GetInt("single-connections")), seconds);
    results.push_back(RunMode("workos", server, key, bodies, 1,
                              static_cast<int>(flags.GetInt("single-connections")), seconds,
                              server_pid, "/audit_logs/events"));
  }

  std::string md = "### Ingest over HTTP (POST /v1/events, keep-alive, " +
                   FormatFixed(seconds, 0) + " s per mode)\n\n";
  MarkdownTable table({"mode", "connections", "events/s", "requests/s", "MB/s (request bodies)",
                       "ack latency p50 / p99 / max ms", "server CPU µs/event",
                       "load generator CPU µs/event", "503s"});
  std::string rows;
  bool all_ok = true;
  for (auto& r : results) {
    const double eps = r.seconds > 0 ? r.events / r.seconds : 0;
    std::string server_cpu =
        r.server_cpu_us >= 0 && r.events ? FormatFixed(r.server_cpu_us / r.events, 1) : "n/a";
    table.AddRow({r.name + (r.events_per_request > 1
                                ? " (" + std::to_string(r.events_per_request) + " events/request)"
                                : " (1 event/request)"),
                  std::to_string(r.connections), FormatCount(eps),
                  FormatCount(r.seconds > 0 ? r.requests / r.seconds : 0),
                  FormatFixed(r.seconds > 0 ? r.bytes / r.seconds / 1e6 : 0, 1),
                  FormatFixed(r.latency.Percentile(0.5) / 1000, 2) + " / " +
                      FormatFixed(r.latency.Percentile(0.99) / 1000, 2) + " / " +
                      FormatFixed(r.latency.Max() / 1000, 2),
                  server_cpu, r.events ? FormatFixed(r.client_cpu_us / r.events, 1) : "",
                  FormatCount(static_cast<double>(r.rejected))});
    if (r.failed) {
      all_ok = false;
      std::fprintf(stderr, "http_bench: %s: %llu failed requests, first: %s\n", r.name.c_str(),
                   static_cast<unsigned long long>(r.failed), r.first_failure.c_str());
    }
    if (r.name == "batched") {
      rows += "| HTTP batched (1000/request, 4 connections) ≥ 75,000 events/s | " +
              FormatCount(eps) + " events/s | " + (eps >= 75000 ? "yes" : "**no**") + " |\n";
    } else {
      rows += std::string(r.name == "workos" ? "| WorkOS path (POST /audit_logs/events)"
                                             : "| HTTP") +
              " single events, 32 connections: throughput, p50/p99 ack latency (reported) | " +
              FormatCount(eps) + " events/s, p50 " + FormatFixed(r.latency.Percentile(0.5) / 1000, 2) +
              " ms, p99 " + FormatFixed(r.latency.Percentile(0.99) / 1000, 2) + " ms | — |\n";
    }
  }
  md += table.Render() + "\n";
  md += "Closed loop: each connection sends its next request when the previous one is "
        "acknowledged (201 after the group commit's fsync). The load generator runs on the "
        "same machine and competes with the server for its cores.";
  if (server_pid) {
    md += " Server peak RSS: " +
          FormatFixed(static_cast<double>(ProcPeakRssBytes(server_pid)) / (1 << 20), 0) + " MiB.";
  }
  md += "\n\n";
  std::printf("%s", md.c_str());
  AppendToFile(flags.Get("markdown"), md);
  AppendToFile(flags.Get("targets"), rows);
  return all_ok && !g_stop.load() ? 0 : 1;
}

}  // namespace
}  // namespace annals::bench

int main(int argc, char** argv) { return annals::bench::Main(argc, argv); }
