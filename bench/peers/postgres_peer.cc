// (c) PostgreSQL 15: binary COPY of each batch into the same tables and the same four
// secondary indexes, one transaction per batch, with fsync=on and synchronous_commit=on (a
// COMMIT returns only after its WAL is flushed). Several connections commit concurrently, as
// several annals submitters do, so the server can group WAL flushes.
//
// The benchmark starts its own server with scripts/start-postgres.sh in a fresh directory
// (or uses --pg-host/--pg-port) and stops it afterwards. The server's CPU (postmaster and
// every backend and worker, from /proc/<pid>/stat) is counted with the client's.
#include <libpq-fe.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

#include "../common.h"
#include "peer.h"

namespace annals::bench {
namespace {

// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
constexpr int64_t kPgEpochOffsetUs = 946684800LL * 1000000;

const char* const kSchema =
    "CREATE TABLE events("
    " position bigint PRIMARY KEY,"
    " org text NOT NULL,"
    " seq bigint NOT NULL,"
    " occurred_at timestamptz NOT NULL,"
    " action text NOT NULL,"
    " actor_id text NOT NULL,"
    " json text NOT NULL);"
    "CREATE TABLE event_targets("
    " position bigint NOT NULL,"
    " org text NOT NULL,"
    " target_type text NOT NULL,"
    " target_id text NOT NULL,"
    " occurred_at timestamptz NOT NULL);"
    "CREATE INDEX events_org_time ON events(org, occurred_at, seq);"
    "CREATE INDEX events_org_action_time ON events(org, action, occurred_at, seq);"
    "CREATE INDEX events_org_actor_time ON events(org, actor_id, occurred_at, seq);"
    "CREATE INDEX targets_org_type_id ON event_targets(org, target_type, target_id, occurred_at);";

// Server settings: durable defaults made explicit, memory like annals' block cache, and room
// for WAL so a 60 s run is not dominated by forced checkpoints.
const char* const kServerSettings[] = {
    "fsync=on",           "synchronous_commit=on", "full_page_writes=on",
    "shared_buffers=256MB", "max_wal_size=4GB",    "wal_buffers=16MB",
};

class CopyBuffer {
 public:
  void Header() {
    static const char kSig[] = "PGCOPY\n\377\r\n\0";
    buf_.assign(kSig, 11);
    Int32(0);  // flags
    Int32(0);  // header extension length
  }
  void Tuple(int16_t fields) { Int16(fields); }
  void Int8(int64_t v) {
    Int32(8);
    uint64_t u = static_cast<uint64_t>(v);
    for (int s = 56; s >= 0; s -= 8) buf_.push_back(static_cast<char>((u >> s) & 0xff));
  }
  void Text(const std::string& s) {
    Int32(static_cast<int32_t>(s.size()));
    buf_.append(s);
  }
  void Trailer() { Int16(-1); }
  const std::string& data() const { return buf_; }

 private:
  void Int16(int16_t v) {
    uint16_t u = static_cast<uint16_t>(v);
    buf_.push_back(static_cast<char>(u >> 8));
    buf_.push_back(static_cast<char>(u & 0xff));
  }
  void Int32(int32_t v) {
    uint32_t u = static_cast<uint32_t>(v);
    for (int s = 24; s >= 0; s -= 8) buf_.push_back(static_cast<char>((u >> s) & 0xff));
  }
  std::string buf_;
};

bool ExecOk(PGconn* c, const char* sql, std::string* error) {
  PGresult* res = PQexec(c, sql);
  bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
  if (!ok) *error = std::string(sql).substr(0, 60) + ": " + PQerrorMessage(c);
  PQclear(res);
  return ok;
}

std::string Show(PGconn* c, const char* setting) {
  std::string sql = std::string("SHOW ") + setting;
  PGresult* res = PQexec(c, sql.c_str());
  std::string v = PQresultStatus(res) == PGRES_TUPLES_OK ? PQgetvalue(res, 0, 0) : "?";
  PQclear(res);
  return v;
}

bool Copy(PGconn* c, const char* sql, const std::string& data, std::string* error) {
  PGresult* res = PQexec(c, sql);
  if (PQresultStatus(res) != PGRES_COPY_IN) {
    *error = std::string("COPY did not start: ") + PQerrorMessage(c);
    PQclear(res);
    return false;
  }
  PQclear(res);
  if (PQputCopyData(c, data.data(), static_cast<int>(data.size())) != 1 ||
      PQputCopyEnd(c, nullptr) != 1) {
    *error = std::string("COPY send failed: ") + PQerrorMessage(c);
    return false;
  }
  bool ok = true;
  while (PGresult* r = PQgetResult(c)) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      *error = std::string("COPY failed: ") + PQerrorMessage(c);
      ok = false;
    }
    PQclear(r);
  }
  return ok;
}

// A server started by this benchmark, stopped on destruction.
class OwnServer {
 public:
  ~OwnServer() { Stop(); }
  bool Start(const PeerConfig& config, std::string* error) {
    dir_ = MakeTempDir(config.work_parent, "pg-");
    keep_ = config.keep;
    std::string cmd = "'" + config.pg_script + "' --dir '" + dir_ + "'";
    for (const char* s : kServerSettings) cmd += std::string(" -c ") + s;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) {
      *error = "cannot run " + config.pg_script;
      return false;
    }
    char line[64] = {0};
    bool got = std::fgets(line, sizeof line, p) != nullptr;
    int rc = pclose(p);
    if (!got || rc != 0) {
      *error = "scripts/start-postgres.sh failed (see its message above)";
      return false;
    }
    port_ = std::atoi(line);
    started_ = true;
    std::ifstream pidfile(dir_ + "/data/postmaster.pid");
    pidfile >> postmaster_;
    return port_ > 0;
  }
  void Stop() {
    if (started_) {
      std::string cmd = "'" + script_ + "' --stop '" + dir_ + "' >/dev/null";
      if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "warning: stopping PostgreSQL failed\n");
      started_ = false;
    }
    if (!dir_.empty() && !keep_) RemoveTree(dir_);
    dir_.clear();
  }
  void set_script(const std::string& s) { script_ = s; }
  const std::string& dir() const { return dir_; }
  int port() const { return port_; }
  pid_t postmaster() const { return postmaster_; }

 private:
  std::string script_;
  std::string dir_;
  bool keep_ = false;
  bool started_ = false;
  int port_ = 0;
  pid_t postmaster_ = 0;
};

}  // namespace

PeerResult RunPostgresPeer(const Ring& ring, const PeerConfig& config) {
  PeerResult r;
  const int nconn = std::max(1, config.pg_connections);
  r.name = "PostgreSQL";
  r.setup = "binary COPY, one transaction per batch, fsync=on, synchronous_commit=on, " +
            std::to_string(nconn) + " connections, 4 secondary indexes";

  OwnServer server;
  server.set_script(config.pg_script);
  std::string conninfo;
  if (config.pg_host.empty()) {
    if (!server.Start(config, &r.error)) return r;
    conninfo = "host=" + server.dir() + " port=" + std::to_string(server.port()) +
               " user=postgres dbname=postgres";
  } else {
    conninfo = "host=" + config.pg_host + " port=" + std::to_string(config.pg_port) +
               " user=postgres dbname=postgres";
  }

  std::vector<PGconn*> conns;
  auto close_all = [&] {
    for (PGconn* c : conns) PQfinish(c);
    conns.clear();
  };
  for (int i = 0; i < nconn; ++i) {
    PGconn* c = PQconnectdb(conninfo.c_str());
    conns.push_back(c);
    PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);
    if (PQstatus(c) != CONNECTION_OK) {
      r.error = std::string("cannot connect: ") + PQerrorMessage(c);
      close_all();
      return r;
    }
  }
  PGconn* c0 = conns[0];
  if (!ExecOk(c0, "DROP TABLE IF EXISTS events, event_targets", &r.error) ||
      !ExecOk(c0, kSchema, &r.error)) {
    close_all();
    return r;
  }
  r.name = "PostgreSQL " + Show(c0, "server_version");
  const std::string settings = "fsync=" + Show(c0, "fsync") +
                               ", synchronous_commit=" + Show(c0, "synchronous_commit") +
                               ", full_page_writes=" + Show(c0, "full_page_writes") +
                               ", shared_buffers=" + Show(c0, "shared_buffers") +
                               ", max_wal_size=" + Show(c0, "max_wal_size");
  if (Show(c0, "fsync") != "on" || Show(c0, "synchronous_commit") != "on") {
    r.error = "the server is not durable (" + settings + ")";
    close_all();
    return r;
  }
  r.notes.push_back("PostgreSQL settings: " + settings + "; wal_level=" + Show(c0, "wal_level"));

  std::atomic<uint64_t> next_batch{0};
  std::atomic<bool> failed{false};
  std::atomic<uint64_t> events{0}, json_bytes{0};
  std::mutex mu;
  Latencies commits;
  std::string first_error;

  const pid_t postmaster = server.postmaster();
  const double server_cpu0 = postmaster ? ProcessTreeCpuUs(postmaster) : 0;
  const CpuTimes cpu0 = ProcessCpu();
  const double t0 = NowSeconds();
  const double deadline = t0 + config.seconds;
  std::atomic<double> last_done{t0};

  auto worker = [&](PGconn* c) {
    Latencies local;
    CopyBuffer ev, tg;
    std::string error;
    while (!g_interrupted.load() && !failed.load()) {
      double now = NowSeconds();
      if (now >= deadline) break;
      uint64_t k = next_batch.fetch_add(1);
      const auto& batch = ring.Batch(k);
      ev.Header();
      tg.Header();
      for (size_t i = 0; i < batch.size(); ++i) {
        const GeneratedEvent& e = batch[i];
        const auto position = static_cast<int64_t>(ring.Position(k, i));
        const int64_t occurred = ring.OccurredAt(k, e) - kPgEpochOffsetUs;
        ev.Tuple(7);
        ev.Int8(position);
        ev.Text(e.organization_id);
        ev.Int8(static_cast<int64_t>(ring.Seq(k, e)));
        ev.Int8(occurred);
        ev.Text(e.action);
        ev.Text(e.actor_id);
        ev.Text(e.canonical_json);
        for (const auto& t : e.targets) {
          tg.Tuple(5);
          tg.Int8(position);
          tg.Text(e.organization_id);
          tg.Text(t.type);
          tg.Text(t.id);
          tg.Int8(occurred);
        }
      }
      ev.Trailer();
      tg.Trailer();
      if (!ExecOk(c, "BEGIN", &error) ||
          !Copy(c, "COPY events FROM STDIN (FORMAT binary)", ev.data(), &error) ||
          !Copy(c, "COPY event_targets FROM STDIN (FORMAT binary)", tg.data(), &error) ||
          !ExecOk(c, "COMMIT", &error)) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.empty()) first_error = error;
        failed.store(true);
        break;
      }
      double done = NowSeconds();
      local.Add((done - now) * 1e6);
      events.fetch_add(batch.size());
      json_bytes.fetch_add(ring.batch_json_bytes[k % ring.slots()]);
      double prev = last_done.load();
      while (done > prev && !last_done.compare_exchange_weak(prev, done)) {
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    commits.Merge(local);
  };
  std::vector<std::thread> threads;
  for (PGconn* c : conns) threads.emplace_back(worker, c);
  for (auto& t : threads) t.join();

  r.seconds = last_done.load() - t0;
  r.process_cpu_us = ProcessCpu().total() - cpu0.total();
  if (postmaster) {
    r.server_cpu_us = ProcessTreeCpuUs(postmaster) - server_cpu0;
    r.notes.push_back("PostgreSQL: CPU per event counts the client (" +
                      FormatFixed(r.process_cpu_us / std::max<uint64_t>(1, events.load()), 1) +
                      " µs) and the server's processes (" +
                      FormatFixed(r.server_cpu_us / std::max<uint64_t>(1, events.load()), 1) +
                      " µs)");
  } else {
    r.notes.push_back("PostgreSQL: external server, its CPU is not counted");
  }
  r.events = events.load();
  r.json_bytes = json_bytes.load();
  r.commit_p50_ms = commits.Percentile(0.5) / 1000;
  r.commit_p99_ms = commits.Percentile(0.99) / 1000;
  if (first_error.empty()) {
    PGresult* res = PQexec(c0, "SELECT count(*) FROM events");
    const std::string rows =
        PQresultStatus(res) == PGRES_TUPLES_OK ? PQgetvalue(res, 0, 0) : PQerrorMessage(c0);
    PQclear(res);
    if (rows != std::to_string(r.events)) {
      first_error = "the table holds " + rows + " events, but " + std::to_string(r.events) +
                    " were committed";
    }
  }
  close_all();
  if (!first_error.empty()) {
    r.error = first_error;
    return r;
  }
  if (!server.dir().empty()) r.disk_bytes = DiskUsageBytes(server.dir() + "/data/base");
  r.notes.push_back("PostgreSQL: disk bytes count the database files (data/base), not the WAL");
  r.ok = true;
  return r;
}

}  // namespace annals::bench
