#include "pg_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "harness.h"

#ifndef ANNALS_SOURCE_DIR
#error "ANNALS_SOURCE_DIR must name the source tree"
#endif

namespace annals::testing {

namespace {

constexpr char kPgBin[] = "/usr/lib/postgresql/15/bin";

// The settings every test server runs with.
const std::vector<std::string> kSettings = {
    "wal_level=logical", "max_replication_slots=50", "max_wal_senders=50", "fsync=off",
    "synchronous_commit=off", "full_page_writes=off"};

std::string AsPostgres(const std::string& command) {
  return ::geteuid() == 0 ? "runuser -u postgres -- " + command : command;
}

class PgEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    std::string why;
    if (server != nullptr) server->Shutdown();
  }
  PgServer* server = nullptr;
};

PgEnvironment* Env() {
  static PgEnvironment* env = [] {
    auto* e = new PgEnvironment();
    ::testing::AddGlobalTestEnvironment(e);
    return e;
  }();
  return env;
}
// Registered before RUN_ALL_TESTS so that TearDown runs at the end.
[[maybe_unused]] PgEnvironment* const kRegistered = Env();

}  // namespace

PgServer* PgServer::Get(std::string* why) {
  static std::mutex mu;
  static std::unique_ptr<PgServer> server;
  static std::string failure;
  std::lock_guard lock(mu);
  if (server) return server.get();
  if (!failure.empty()) {
    *why = failure;
    return nullptr;
  }
  if (!std::filesystem::exists(std::string(kPgBin) + "/pg_ctl")) {
    failure = std::string("PostgreSQL 15 is not installed (") + kPgBin +
              "/pg_ctl is missing); scripts/install-deps.sh installs it";
    *why = failure;
    return nullptr;
  }
  auto s = std::make_unique<PgServer>();
  s->dir_ = "/tmp/annals-pg-" + std::to_string(::getpid());
  std::error_code ec;
  std::filesystem::remove_all(s->dir_, ec);
  std::vector<std::string> argv = {"/bin/bash", std::string(ANNALS_SOURCE_DIR) + "/scripts/start-postgres.sh",
                                   "--dir", s->dir_};
  for (const std::string& setting : kSettings) {
    argv.push_back("-c");
    argv.push_back(setting);
  }
  CommandResult r = RunCommand(argv);
  if (r.exit_code != 0) {
    failure = "PostgreSQL did not start: " + r.err;
    *why = failure;
    return nullptr;
  }
  s->port_ = r.out.substr(0, r.out.find('\n'));
  server = std::move(s);
  Env()->server = server.get();
  return server.get();
}

std::string PgServer::Dsn(const std::string& database) const {
  return "host=" + dir_ + " port=" + port_ + " user=postgres dbname=" + database;
}

std::string PgServer::CreateDatabase() {
  const std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(++databases_);
  PgClient admin(Dsn("postgres"));
  admin.Query("CREATE DATABASE " + name);
  return name;
}

bool PgServer::Stop() {
  CommandResult r = RunCommand(
      {"/bin/bash", std::string(ANNALS_SOURCE_DIR) + "/scripts/start-postgres.sh", "--stop", dir_});
  return r.exit_code == 0;
}

bool PgServer::StartAgain() {
  std::string opts = "-p " + port_ + " -k '" + dir_ + "' -c listen_addresses=127.0.0.1";
  for (const std::string& setting : kSettings) opts += " -c " + setting;
  const std::string cmd = AsPostgres(std::string(kPgBin) + "/pg_ctl -D '" + dir_ + "/data' -l '" +
                                     dir_ + "/postgres.log' -w -t 60 -o \"" + opts + "\" start");
  CommandResult r = RunCommand({"/bin/sh", "-c", cmd + " >/dev/null"});
  return r.exit_code == 0;
}

void PgServer::Shutdown() {
  Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

PgClient::PgClient(const std::string& dsn) : conn_(PQconnectdb(dsn.c_str())) {
  if (PQstatus(conn_) != CONNECTION_OK) {
    ADD_FAILURE() << "cannot connect to PostgreSQL: " << PQerrorMessage(conn_);
  }
  // Quiet NOTICEs (e.g. of DROP ... IF EXISTS).
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
}

PgClient::~PgClient() { PQfinish(conn_); }

bool PgClient::ok() const { return PQstatus(conn_) == CONNECTION_OK; }

std::string PgClient::TryQuery(const std::string& sql) {
  PGresult* res = PQexec(conn_, sql.c_str());
  const ExecStatusType st = PQresultStatus(res);
  std::string error;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    error = PQresultErrorMessage(res);
    if (error.empty()) error = PQerrorMessage(conn_);
  }
  PQclear(res);
  return error;
}

Rows PgClient::Query(const std::string& sql) {
  Rows rows;
  PGresult* res = PQexec(conn_, sql.c_str());
  const ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    ADD_FAILURE() << "SQL failed: " << sql << "\n" << PQresultErrorMessage(res);
  } else {
    for (int i = 0; i < PQntuples(res); ++i) {
      std::vector<std::string> row;
      for (int j = 0; j < PQnfields(res); ++j) row.push_back(PQgetvalue(res, i, j));
      rows.push_back(std::move(row));
    }
  }
  PQclear(res);
  return rows;
}

}  // namespace annals::testing
