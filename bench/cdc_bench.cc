// cdc_bench: PostgreSQL change capture (docs/benchmarks.md, "Change capture").
//
//   --mode lag         end-to-end lag: transactions of --rows-per-txn updated rows are committed
//                      in PostgreSQL at each rate of --rates (changes/s) by --writers connections;
//                      annals (RocksStore + Ingestor + PostgresSource, in this process, durable)
//                      captures them; the lag of a change is the time its event became durable
//                      and queryable (the ingestor's commit observer) minus its commit time.
//   --mode throughput  PostgreSQL's throughput under pgbench's built-in simple-update workload
//                      (UPDATE pgbench_accounts, SELECT, INSERT pgbench_history) without
//                      capture, with annals capturing pgbench_accounts, and with an AFTER UPDATE
//                      trigger writing the old and new rows as JSONB to an audit table.
//
// Each PostgreSQL server is started fresh with scripts/start-postgres.sh in --dir, with
// durable settings (fsync, synchronous_commit, full_page_writes on). Prints markdown.
#include <libpq-fe.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "access/organizations.h"
#include "common.h"
#include "ingest/ingestor.h"
#include "server/logging.h"
#include "sources/postgres_cdc/postgres_source.h"
#include "storage/rocksdb/rocks_store.h"

#ifndef ANNALS_SOURCE_DIR
#error "ANNALS_SOURCE_DIR must name the source tree"
#endif

namespace annals::bench {
namespace {

constexpr char kPgBin[] = "/usr/lib/postgresql/15/bin";
constexpr int kOrgs = 20;

[[noreturn]] void Die(const std::string& message) {
  std::cerr << "cdc_bench: " << message << "\n";
  std::exit(1);
}

std::string Run(const std::string& command, int* exit_code = nullptr) {
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) Die("cannot run " + command);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  if (exit_code != nullptr) *exit_code = rc;
  return out;
}

// A PostgreSQL 15 server of its own.
class PgServer {
 public:
  PgServer(const std::string& parent, const std::vector<std::string>& settings) {
    dir_ = MakeTempDir(parent, "cdc-pg");
    std::string cmd = std::string("bash ") + ANNALS_SOURCE_DIR + "/scripts/start-postgres.sh --dir " + dir_;
    for (const std::string& s : settings) cmd += " -c " + s;
    int rc = 0;
    port_ = Run(cmd + " 2>/dev/null", &rc);
    while (!port_.empty() && (port_.back() == '\n' || port_.back() == ' ')) port_.pop_back();
    if (rc != 0 || port_.empty()) Die("PostgreSQL did not start (" + cmd + ")");
    std::ifstream pid(dir_ + "/data/postmaster.pid");
    pid >> postmaster_;
  }
  ~PgServer() {
    Run(std::string("bash ") + ANNALS_SOURCE_DIR + "/scripts/start-postgres.sh --stop " + dir_ +
        " 2>/dev/null");
    RemoveTree(dir_);
  }
  std::string Dsn() const { return "host=" + dir_ + " port=" + port_ + " user=postgres dbname=postgres"; }
  std::string PgbenchArgs() const { return "-h " + dir_ + " -p " + port_ + " -U postgres postgres"; }
  pid_t postmaster() const { return postmaster_; }

 private:
  std::string dir_;
  std::string port_;
  pid_t postmaster_ = 0;
};

std::vector<std::string> ServerSettings(bool logical) {
  return {"fsync=on",           "synchronous_commit=on", "full_page_writes=on",
          "shared_buffers=256MB", "max_wal_size=4GB",    "checkpoint_timeout=30min",
          std::string("wal_level=") + (logical ? "logical" : "replica")};
}

class Conn {
 public:
  explicit Conn(const std::string& dsn) : c_(PQconnectdb(dsn.c_str())) {
    if (PQstatus(c_) != CONNECTION_OK) Die(std::string("cannot connect: ") + PQerrorMessage(c_));
    PQsetNoticeProcessor(c_, [](void*, const char*) {}, nullptr);
  }
  ~Conn() { PQfinish(c_); }
  // Runs `sql`; returns the first value of the result ("" when none) or the affected rows.
  std::string Exec(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      std::string e = PQresultErrorMessage(r);
      PQclear(r);
      Die("SQL failed: " + sql.substr(0, 200) + ": " + e);
    }
    std::string out = st == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : PQcmdTuples(r);
    PQclear(r);
    return out;
  }

 private:
  PGconn* c_;
};

// annals in this process: a durable RocksDB store, the ingestor and a PostgreSQL source.
class Capture {
 public:
  Capture(const std::string& parent, const PostgresSourceConfig& config,
          const PostgresSourceOptions& options) {
    dir_ = MakeTempDir(parent, "cdc-annals");
    RocksStoreOptions o;
    o.path = dir_ + "/store";
    auto s = RocksStore::Open(o);
    if (!s.ok()) Die(s.status().ToString());
    store_ = std::move(s).value();
    auto i = Ingestor::Start(store_.get(), &clock_, IngestOptions{});
    if (!i.ok()) Die(i.status().ToString());
    ingestor_ = std::move(i).value();
    auto r = OrgRegistry::Load(store_.get(), &clock_);
    if (!r.ok()) Die(r.status().ToString());
    orgs_ = std::move(r).value();
    ingestor_->AddCommitObserver([this](const std::vector<EventRecord>& committed) {
      const TimestampUs now = clock_.NowMicros();
      std::lock_guard lock(mu_);
      for (const EventRecord& e : committed) {
        if (e.fields.organization_id == "annals") continue;
        samples_.push_back({e.fields.occurred_at, now - e.fields.occurred_at});
      }
      events_.fetch_add(committed.size());
    });
    PostgresSourceDeps d;
    d.store = store_.get();
    d.ingestor = ingestor_.get();
    d.orgs = orgs_.get();
    d.clock = &clock_;
    d.logger = std::make_shared<Logger>("warn", "text");
    d.auto_create_orgs = true;
    auto src = PostgresSource::Create(config, d, options);
    if (!src.ok()) Die(src.status().ToString());
    source_ = std::move(src).value();
    source_->Start();
    const double deadline = NowSeconds() + 120;
    while (source_->Status().state != "streaming") {
      if (NowSeconds() > deadline) Die("the source did not start: " + source_->Status().last_error);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~Capture() {
    source_->Stop();
    ingestor_->Stop();
    source_.reset();
    ingestor_.reset();
    orgs_.reset();
    store_.reset();
    RemoveTree(dir_);
  }

  uint64_t events() const { return events_.load(); }
  const Clock& clock() const { return clock_; }

  // Waits until `n` events are stored; false after `seconds`.
  bool WaitForEvents(uint64_t n, double seconds) {
    const double deadline = NowSeconds() + seconds;
    while (events() < n) {
      if (NowSeconds() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

  // Lags (µs) of the changes committed in [from, to).
  Latencies LagsBetween(TimestampUs from, TimestampUs to) {
    Latencies out;
    std::lock_guard lock(mu_);
    for (const auto& [at, lag] : samples_) {
      if (at >= from && at < to) out.Add(static_cast<double>(lag));
    }
    return out;
  }

 private:
  std::string dir_;
  SystemClock clock_;
  std::unique_ptr<RocksStore> store_;
  std::unique_ptr<Ingestor> ingestor_;
  std::unique_ptr<OrgRegistry> orgs_;
  std::shared_ptr<PostgresSource> source_;
  std::mutex mu_;
  std::vector<std::pair<TimestampUs, TimestampUs>> samples_;  // (commit time, lag)
  std::atomic<uint64_t> events_{0};
};

PostgresSourceOptions SourceOptions(const Flags& flags) {
  PostgresSourceOptions o;
  o.max_batch_delay = std::chrono::milliseconds(flags.GetInt("batch-delay-ms"));
  return o;
}

PostgresSourceConfig SourceConfig(const std::string& dsn, const std::string& table,
                                  const std::string& org_column, const std::string& org) {
  PostgresSourceConfig c;
  c.name = "bench";
  c.dsn = dsn;
  c.publication = "annals";
  c.slot = "annals_bench";
  c.organization_column = org_column;
  c.organization = org;
  c.snapshot = "never";
  c.tables = {{table, "", {}, {}}};
  return c;
}

std::string Ms(double us) { return FormatFixed(us / 1000.0, 1); }

// ---- lag ------------------------------------------------------------------------------------

void LagMode(const Flags& flags) {
  const std::string dir = flags.Get("dir");
  const int writers = static_cast<int>(flags.GetInt("writers"));
  const int rows_per_txn = static_cast<int>(flags.GetInt("rows-per-txn"));
  const double seconds = flags.GetDouble("seconds");
  const double warmup = 3;
  const int table_rows = 100000;
  std::vector<double> rates;
  {
    std::stringstream ss(flags.Get("rates"));
    std::string r;
    while (std::getline(ss, r, ',')) rates.push_back(std::stod(r));
  }

  PgServer pg(dir, ServerSettings(true));
  Conn admin(pg.Dsn());
  admin.Exec("CREATE TABLE items (id int PRIMARY KEY, org text NOT NULL, name text NOT NULL, "
             "n int NOT NULL DEFAULT 0, price numeric(10,2), updated_at timestamptz)");
  admin.Exec("INSERT INTO items SELECT g, 'org_' || (g % " + std::to_string(kOrgs) +
             "), 'item ' || g, 0, (g % 1000) / 10.0, now() FROM generate_series(1, " +
             std::to_string(table_rows) + ") g");
  admin.Exec("ALTER TABLE items REPLICA IDENTITY FULL");
  admin.Exec("CREATE PUBLICATION annals FOR TABLE items");
  admin.Exec("VACUUM ANALYZE items");
  admin.Exec("CHECKPOINT");
  Capture capture(dir, SourceConfig(pg.Dsn(), "public.items", "org", ""), SourceOptions(flags));

  MarkdownTable table({"target rate (changes/s)", "achieved (changes/s)", "transactions/s",
                       "changes measured", "lag p50 (ms)", "lag p99 (ms)", "lag max (ms)",
                       "caught up after the run (s)", "annals CPU µs/change"});
  uint64_t expected = 0;
  for (double rate : rates) {
    std::atomic<uint64_t> changed{0};
    std::atomic<int64_t> writer_cpu_us{0};
    const double cpu_start = ProcessCpu().total();
    const uint64_t events_start = capture.events();
    const double interval = rows_per_txn * writers / rate;  // seconds between a writer's txns
    const double start = NowSeconds();
    const double end = start + warmup + seconds;
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        const double cpu0 = ThreadCpu().total();
        Conn c(pg.Dsn());
        std::mt19937 rng(static_cast<unsigned>(w * 7919 + rate));
        std::uniform_int_distribution<int> id(1, table_rows);
        double due = start + interval * w / writers;
        while (true) {
          const double now = NowSeconds();
          if (now >= end) break;
          if (due > now) std::this_thread::sleep_for(std::chrono::duration<double>(due - now));
          due += interval;
          std::string ids;
          for (int k = 0; k < rows_per_txn; ++k) ids += (k ? "," : "") + std::to_string(id(rng));
          const std::string n = c.Exec("UPDATE items SET n = n + 1, updated_at = now() WHERE id = ANY('{" + ids + "}'::int[])");
          changed.fetch_add(std::stoull(n));
        }
        writer_cpu_us.fetch_add(static_cast<int64_t>(ThreadCpu().total() - cpu0));
      });
    }
    // The measured window starts after the warm-up, on the database's (= this machine's) clock.
    std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
    const TimestampUs from = capture.clock().NowMicros();
    for (auto& t : threads) t.join();
    const TimestampUs to = capture.clock().NowMicros();
    const double run_end = NowSeconds();
    expected += changed.load();
    const bool caught_up = capture.WaitForEvents(expected, 300);
    const double catch_up = NowSeconds() - run_end;
    // annals' CPU: the process's, less the committing connections' client side.
    const double annals_cpu = ProcessCpu().total() - cpu_start - static_cast<double>(writer_cpu_us.load());
    const double per_change = annals_cpu / static_cast<double>(std::max<uint64_t>(1, capture.events() - events_start));
    Latencies lags = capture.LagsBetween(from, to);
    const double achieved = static_cast<double>(changed.load()) / (run_end - start);
    table.AddRow({FormatCount(rate), FormatCount(achieved),
                  FormatCount(achieved / rows_per_txn), FormatCount(static_cast<double>(lags.count())),
                  Ms(lags.Percentile(0.5)), Ms(lags.Percentile(0.99)), Ms(lags.Max()),
                  caught_up ? FormatFixed(catch_up, 2) : "did not catch up in 300 s",
                  FormatFixed(per_change, 1)});
    std::cerr << "cdc_bench: rate " << rate << " done\n";
  }
  std::ostringstream out;
  out << "### CDC end-to-end lag (cdc_bench --mode lag, " << seconds << " s per rate)\n\n"
      << "Commit in PostgreSQL → the change's event durable and queryable in annals. "
      << writers << " connections commit transactions of " << rows_per_txn
      << " updated rows (full before/after images, REPLICA IDENTITY FULL) of a 100,000-row table, "
      << "paced to the rate; annals stores into RocksDB with sync on and batches up to "
      << flags.GetInt("batch-delay-ms") << " ms of changes per submission. Percentiles over the "
      << "changes committed after a " << warmup << " s warm-up; CPU is annals' (source, ingestor, "
      << "RocksDB background work) per stored change.\n\n"
      << table.Render() << "\n";
  std::cout << out.str();
  if (flags.IsSet("markdown")) AppendToFile(flags.Get("markdown"), out.str());
}

// ---- throughput -----------------------------------------------------------------------------

struct TpsResult {
  double tps = 0;
  double pg_cpu_s = 0;
  double annals_cpu_s = 0;
  std::string note;
};

TpsResult RunPgbench(const std::string& mode, const Flags& flags) {
  const std::string dir = flags.Get("dir");
  const int clients = static_cast<int>(flags.GetInt("clients"));
  const int seconds = static_cast<int>(flags.GetInt("seconds"));
  const int scale = static_cast<int>(flags.GetInt("scale"));
  const bool logical = mode == "annals" || mode == "decoding";
  PgServer pg(dir, ServerSettings(logical));
  const std::string pgbench = std::string(kPgBin) + "/pgbench";
  int rc = 0;
  Run(pgbench + " -i -q -s " + std::to_string(scale) + " " + pg.PgbenchArgs() + " 2>&1", &rc);
  if (rc != 0) Die("pgbench -i failed");
  Conn admin(pg.Dsn());
  std::unique_ptr<Capture> capture;
  if (mode == "trigger") {
    admin.Exec("CREATE TABLE audit_log (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT "
               "now(), op text NOT NULL, table_name text NOT NULL, old_row jsonb, new_row jsonb)");
    admin.Exec("CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               "INSERT INTO audit_log (op, table_name, old_row, new_row) VALUES (TG_OP, "
               "TG_TABLE_NAME, CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END, "
               "CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END); RETURN NULL; END $$");
    admin.Exec("CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON pgbench_accounts "
               "FOR EACH ROW EXECUTE FUNCTION audit_row()");
  } else if (logical) {
    admin.Exec("ALTER TABLE pgbench_accounts REPLICA IDENTITY FULL");
    admin.Exec("CREATE PUBLICATION annals FOR TABLE pgbench_accounts");
  }
  admin.Exec("VACUUM ANALYZE");
  admin.Exec("CHECKPOINT");
  if (mode == "annals") {
    capture = std::make_unique<Capture>(
        dir, SourceConfig(pg.Dsn(), "public.pgbench_accounts", "", "org_bench"), SourceOptions(flags));
  }
  pid_t recvlogical = 0;
  if (mode == "decoding") {
    // The database's side of capture alone: the same slot, publication and row images,
    // consumed by pg_recvlogical into /dev/null (what remains on the database's machine when
    // annals runs on another one).
    const std::string bin = std::string(kPgBin) + "/pg_recvlogical " + pg.PgbenchArgs().substr(0, pg.PgbenchArgs().rfind(' ')) +
                            " -d postgres --slot annals_decode";
    Run(bin + " --create-slot -P pgoutput 2>&1", &rc);
    if (rc != 0) Die("pg_recvlogical --create-slot failed");
    const std::string pid = Run(bin + " --start -o proto_version=1 -o publication_names=annals "
                                      "-f /dev/null >/dev/null 2>&1 & echo $!");
    recvlogical = static_cast<pid_t>(std::stol(pid));
  }
  const double pg_cpu0 = ProcessTreeCpuUs(pg.postmaster());
  const double self_cpu0 = ProcessCpu().total();
  const uint64_t events0 = capture ? capture->events() : 0;
  const std::string out =
      Run(pgbench + " -n -b simple-update -c " + std::to_string(clients) + " -j " +
              std::to_string(std::min(clients, 2)) + " -T " + std::to_string(seconds) + " " +
              pg.PgbenchArgs() + " 2>&1",
          &rc);
  if (recvlogical > 0) ::kill(recvlogical, SIGTERM);
  if (rc != 0) Die("pgbench failed: " + out);
  TpsResult r;
  const size_t at = out.find("tps = ");
  if (at == std::string::npos) Die("no tps in pgbench's output: " + out);
  r.tps = std::stod(out.substr(at + 6));
  r.pg_cpu_s = (ProcessTreeCpuUs(pg.postmaster()) - pg_cpu0) / 1e6;
  r.annals_cpu_s = (ProcessCpu().total() - self_cpu0) / 1e6;
  if (capture) {
    const uint64_t updates = std::stoull(admin.Exec("SELECT count(*) FROM pgbench_history"));
    const double t0 = NowSeconds();
    const bool ok = capture->WaitForEvents(events0 + updates, 300);
    const double behind = NowSeconds() - t0;
    r.note = std::to_string(capture->events() - events0) + " of " + std::to_string(updates) +
             " changes stored; " + (ok ? "caught up " + FormatFixed(behind, 2) + " s after the run"
                                       : "did not catch up within 300 s");
  }
  std::cerr << "cdc_bench: " << mode << " done\n";
  return r;
}

void ThroughputMode(const Flags& flags) {
  // Rounds of the three modes, interleaved so that noise from other work on the machine
  // spreads over all of them; each mode's median round is reported.
  const int repeat = static_cast<int>(flags.GetInt("repeat"));
  std::map<std::string, std::vector<TpsResult>> runs;
  for (int round = 0; round < repeat; ++round) {
    for (const char* mode : {"none", "decoding", "annals", "trigger"}) {
      runs[mode].push_back(RunPgbench(mode, flags));
    }
  }
  std::map<std::string, TpsResult> results;
  std::map<std::string, std::string> spread;
  for (auto& [mode, list] : runs) {
    std::sort(list.begin(), list.end(),
              [](const TpsResult& a, const TpsResult& b) { return a.tps < b.tps; });
    results[mode] = list[list.size() / 2];
    spread[mode] = FormatCount(list.front().tps) + "–" + FormatCount(list.back().tps);
  }
  const double base = results["none"].tps;
  MarkdownTable table({"capture", "tps (median)", "range", "vs no capture",
                       "PostgreSQL CPU (s)", "annals CPU (s)", "notes"});
  const std::map<std::string, std::string> names = {
      {"none", "none (wal_level=replica)"},
      {"decoding", "logical decoding only (pg_recvlogical → /dev/null)"},
      {"annals", "annals (logical replication, REPLICA IDENTITY FULL)"},
      {"trigger", "AFTER trigger → audit table (JSONB old/new)"}};
  for (const char* mode : {"none", "decoding", "annals", "trigger"}) {
    const TpsResult& r = results[mode];
    table.AddRow({names.at(mode), FormatCount(r.tps), spread[mode], FormatRatio(r.tps / base),
                  FormatFixed(r.pg_cpu_s, 1),
                  std::string(mode) == "annals" ? FormatFixed(r.annals_cpu_s, 1) : "—", r.note});
  }
  std::ostringstream out;
  out << "### Source database throughput with capture (cdc_bench --mode throughput)\n\n"
      << "pgbench's built-in simple-update (UPDATE pgbench_accounts, SELECT, INSERT pgbench_history "
      << "per transaction), scale " << flags.GetInt("scale") << ", " << flags.GetInt("clients")
      << " clients, " << flags.GetInt("seconds") << " s per run, durable settings, a fresh server "
      << "per run; " << repeat << " rounds of the four, interleaved, median shown. "
      << "annals runs on the same machine (in process with the benchmark: RocksDB with sync on) and "
      << "captures pgbench_accounts.\n\n"
      << table.Render() << "\n";
  std::cout << out.str();
  if (flags.IsSet("markdown")) AppendToFile(flags.Get("markdown"), out.str());
}

}  // namespace
}  // namespace annals::bench

int main(int argc, char** argv) {
  using annals::bench::Flags;
  Flags flags("cdc_bench", "PostgreSQL change capture: end-to-end lag and source throughput.");
  flags.Describe("mode", "lag", "lag or throughput");
  flags.Describe("dir", "/var/tmp", "scratch directory (a real disk)");
  flags.Describe("seconds", "30", "measured seconds per rate (lag) or per pgbench run");
  flags.Describe("rates", "2000,5000,10000", "lag: changes per second, comma-separated");
  flags.Describe("writers", "4", "lag: committing connections");
  flags.Describe("rows-per-txn", "20", "lag: updated rows per transaction");
  flags.Describe("clients", "4", "throughput: pgbench clients");
  flags.Describe("scale", "10", "throughput: pgbench scale (100,000 accounts each)");
  flags.Describe("repeat", "3", "throughput: rounds of the three modes (median reported)");
  flags.Describe("batch-delay-ms", "20", "the source's max_batch_delay");
  flags.Describe("markdown", "", "append the markdown section to this file");
  flags.Parse(argc, argv);
  if (::access((std::string(annals::bench::kPgBin) + "/pg_ctl").c_str(), X_OK) != 0) {
    annals::bench::Die("PostgreSQL 15 is not installed (scripts/install-deps.sh)");
  }
  if (flags.Get("mode") == "lag") {
    annals::bench::LagMode(flags);
  } else if (flags.Get("mode") == "throughput") {
    annals::bench::ThroughputMode(flags);
  } else {
    std::cerr << "cdc_bench: --mode must be lag or throughput\n";
    return 2;
  }
  return 0;
}
