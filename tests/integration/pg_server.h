// A throwaway PostgreSQL 15 server for tests (scripts/start-postgres.sh with
// wal_level=logical), shared by the tests of one program, plus a small libpq client.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <vector>

namespace annals::testing {

class PgServer {
 public:
  // The server of this test program, started on first use; nullptr when PostgreSQL is not
  // installed (then `why` says so) or does not start (then `why` holds its log).
  static PgServer* Get(std::string* why);

  const std::string& dir() const { return dir_; }
  const std::string& port() const { return port_; }
  // A libpq connection string for `database` as the superuser.
  std::string Dsn(const std::string& database) const;

  // A new, empty database with a unique name.
  std::string CreateDatabase();

  // Stops the server (fast shutdown) / starts it again with the same settings and port.
  bool Stop();
  bool StartAgain();

  // Stops the server for good (called when the test program ends).
  void Shutdown();

 private:
  std::string dir_;
  std::string port_;
  int databases_ = 0;
};

// Rows of a query result as text ("" for NULL).
using Rows = std::vector<std::vector<std::string>>;

// A libpq connection that fails the current test on errors.
class PgClient {
 public:
  explicit PgClient(const std::string& dsn);
  ~PgClient();
  bool ok() const;
  // Runs `sql` (one or more statements); records a test failure when it fails.
  Rows Query(const std::string& sql);
  // Runs `sql` and returns the error message ("" when it succeeded).
  std::string TryQuery(const std::string& sql);

 private:
  PGconn* conn_ = nullptr;
};

}  // namespace annals::testing
