// (b) SQLite 3 in WAL mode with synchronous=FULL (the WAL is fsynced at every commit, so a
// committed batch survives power loss), one transaction per batch, prepared statements, and
// the same four secondary indexes annals keeps:
//   org + time, org + action + time, org + actor + time, org + target type + target id + time.
#include <sqlite3.h>

#include <cstdio>
#include <string>

#include "../common.h"
#include "peer.h"

namespace annals::bench {
namespace {

const char* const kSchema[] = {
    "CREATE TABLE events("
    " position INTEGER PRIMARY KEY,"
    " org TEXT NOT NULL,"
    " seq INTEGER NOT NULL,"
    " occurred_at INTEGER NOT NULL,"  // µs since the epoch
    " action TEXT NOT NULL,"
    " actor_id TEXT NOT NULL,"
    " json TEXT NOT NULL)",
    // The target index is the table itself (WITHOUT ROWID): one B-tree, like an index.
    "CREATE TABLE event_targets("
    " org TEXT NOT NULL,"
    " target_type TEXT NOT NULL,"
    " target_id TEXT NOT NULL,"
    " occurred_at INTEGER NOT NULL,"
    " position INTEGER NOT NULL,"
    " PRIMARY KEY (org, target_type, target_id, occurred_at, position)) WITHOUT ROWID",
    "CREATE INDEX events_org_time ON events(org, occurred_at, seq)",
    "CREATE INDEX events_org_action_time ON events(org, action, occurred_at, seq)",
    "CREATE INDEX events_org_actor_time ON events(org, actor_id, occurred_at, seq)",
};

class Db {
 public:
  ~Db() {
    for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
    if (db_) sqlite3_close(db_);
  }
  bool Open(const std::string& path, std::string* error) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
      *error = "sqlite3_open: " + std::string(db_ ? sqlite3_errmsg(db_) : "out of memory");
      return false;
    }
    return true;
  }
  bool Exec(const std::string& sql, std::string* error) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
      *error = sql + ": " + (msg ? msg : "error");
      sqlite3_free(msg);
      return false;
    }
    return true;
  }
  sqlite3_stmt* Prepare(const std::string& sql, std::string* error) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) !=
        SQLITE_OK) {
      *error = sql + ": " + sqlite3_errmsg(db_);
      return nullptr;
    }
    stmts_.push_back(s);
    return s;
  }
  std::string Query1(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(s, 0);
      if (t) out = reinterpret_cast<const char*>(t);
    }
    sqlite3_finalize(s);
    return out;
  }
  sqlite3* get() { return db_; }
  void Close() {
    for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
    stmts_.clear();
    if (db_) sqlite3_close(db_);
    db_ = nullptr;
  }

 private:
  sqlite3* db_ = nullptr;
  std::vector<sqlite3_stmt*> stmts_;
};

bool Step(sqlite3* db, sqlite3_stmt* s, std::string* error) {
  if (sqlite3_step(s) != SQLITE_DONE) {
    *error = std::string("insert failed: ") + sqlite3_errmsg(db);
    return false;
  }
  sqlite3_reset(s);
  return true;
}

}  // namespace

PeerResult RunSqlitePeer(const Ring& ring, const PeerConfig& config) {
  PeerResult r;
  r.name = std::string("SQLite ") + sqlite3_libversion();
  r.setup = "WAL, synchronous=FULL, one transaction per batch, 4 secondary indexes";
  std::string dir = MakeTempDir(config.work_parent, "sqlite-");
  Db db;
  if (!db.Open(dir + "/events.db", &r.error)) return r;
  const std::string pragmas =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-262144; "
      "PRAGMA wal_autocheckpoint=" + std::to_string(config.sqlite_wal_autocheckpoint) + ";";
  if (!db.Exec(pragmas, &r.error)) return r;
  if (db.Query1("PRAGMA journal_mode") != "wal") {
    r.error = "SQLite did not switch to WAL mode";
    return r;
  }
  for (const char* sql : kSchema) {
    if (!db.Exec(sql, &r.error)) return r;
  }
  sqlite3_stmt* ins_event = db.Prepare("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                       &r.error);
  sqlite3_stmt* ins_target =
      db.Prepare("INSERT INTO event_targets VALUES (?1, ?2, ?3, ?4, ?5)", &r.error);
  sqlite3_stmt* begin = db.Prepare("BEGIN", &r.error);
  sqlite3_stmt* commit = db.Prepare("COMMIT", &r.error);
  if (!ins_event || !ins_target || !begin || !commit) return r;
  sqlite3* h = db.get();

  Latencies commits;
  const CpuTimes cpu0 = ProcessCpu();
  const double t0 = NowSeconds();
  const double deadline = t0 + config.seconds;
  double now = t0;
  for (uint64_t k = 0; now < deadline && !g_interrupted.load(); ++k) {
    const auto& batch = ring.Batch(k);
    const double b0 = now;
    if (!Step(h, begin, &r.error)) return r;
    for (size_t i = 0; i < batch.size(); ++i) {
      const GeneratedEvent& e = batch[i];
      const auto position = static_cast<sqlite3_int64>(ring.Position(k, i));
      const auto occurred = static_cast<sqlite3_int64>(ring.OccurredAt(k, e));
      sqlite3_bind_int64(ins_event, 1, position);
      sqlite3_bind_text(ins_event, 2, e.organization_id.data(),
                        static_cast<int>(e.organization_id.size()), SQLITE_STATIC);
      sqlite3_bind_int64(ins_event, 3, static_cast<sqlite3_int64>(ring.Seq(k, e)));
      sqlite3_bind_int64(ins_event, 4, occurred);
      sqlite3_bind_text(ins_event, 5, e.action.data(), static_cast<int>(e.action.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(ins_event, 6, e.actor_id.data(), static_cast<int>(e.actor_id.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(ins_event, 7, e.canonical_json.data(),
                        static_cast<int>(e.canonical_json.size()), SQLITE_STATIC);
      if (!Step(h, ins_event, &r.error)) return r;
      for (const auto& t : e.targets) {
        sqlite3_bind_text(ins_target, 1, e.organization_id.data(),
                          static_cast<int>(e.organization_id.size()), SQLITE_STATIC);
        sqlite3_bind_text(ins_target, 2, t.type.data(), static_cast<int>(t.type.size()),
                          SQLITE_STATIC);
        sqlite3_bind_text(ins_target, 3, t.id.data(), static_cast<int>(t.id.size()),
                          SQLITE_STATIC);
        sqlite3_bind_int64(ins_target, 4, occurred);
        sqlite3_bind_int64(ins_target, 5, position);
        if (!Step(h, ins_target, &r.error)) return r;
      }
    }
    if (!Step(h, commit, &r.error)) return r;
    now = NowSeconds();
    commits.Add((now - b0) * 1e6);
    r.events += batch.size();
    r.json_bytes += ring.batch_json_bytes[k % ring.slots()];
  }
  r.seconds = now - t0;
  r.process_cpu_us = ProcessCpu().total() - cpu0.total();
  r.commit_p50_ms = commits.Percentile(0.5) / 1000;
  r.commit_p99_ms = commits.Percentile(0.99) / 1000;
  const std::string rows = db.Query1("SELECT count(*) FROM events");
  if (rows != std::to_string(r.events)) {
    r.error = "the table holds " + rows + " events, but " + std::to_string(r.events) +
              " were committed";
    return r;
  }
  r.disk_bytes = DiskUsageBytes(dir);  // database + WAL, before the final checkpoint
  db.Close();
  r.notes.push_back("SQLite: wal_autocheckpoint=" + std::to_string(config.sqlite_wal_autocheckpoint) +
                    " pages (checkpoints run inside the measured commits), page cache 256 MiB");
  r.ok = true;
  if (!config.keep) RemoveTree(dir);
  return r;
}

}  // namespace annals::bench
