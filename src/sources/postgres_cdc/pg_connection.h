// Small libpq utilities for the PostgreSQL source: owning handles, a connect that a stop
// request interrupts, queries that return Status, and SQL quoting.
// A PGconn is used by one thread at a time.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "annals/status.h"

namespace annals::pgcdc {

struct PgConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgResultFreer {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgConn = std::unique_ptr<PGconn, PgConnCloser>;
using PgResult = std::unique_ptr<PGresult, PgResultFreer>;

// Settings annals gives both of its connections, so that values print the same way
// in the snapshot and in the stream: ISO dates, UTC, hex bytea, shortest exact floats.
inline constexpr char kSessionOptions[] =
    "-c datestyle=ISO,MDY -c timezone=UTC -c intervalstyle=postgres -c extra_float_digits=1 "
    "-c bytea_output=hex";

// Opens a connection for `dsn` (a libpq key=value string or URI) with the settings
// above, client_encoding UTF8, application_name "annals" unless the DSN names one, TCP
// keepalives (30 s idle, 10 s interval, 3 probes) unless the DSN sets keepalives_*, and
// replication=database when `replication`. Gives up after `timeout`, or as soon as
// `wake_fd` (if >= 0) becomes readable (kUnavailable "stopping").
// kUnavailable "source_unreachable" with libpq's message otherwise.
Result<PgConn> Connect(const std::string& dsn, bool replication, int wake_fd,
                       std::chrono::milliseconds timeout);

// Runs `sql` (simple query protocol, as replication connections require) and expects
// `expected` (PGRES_TUPLES_OK, PGRES_COMMAND_OK or PGRES_COPY_BOTH).
// kUnavailable "source_error" with the server's message (and `what` in front) otherwise.
Result<PgResult> Exec(PGconn* conn, const std::string& sql, ExecStatusType expected,
                      const std::string& what);
// The same with text parameters $1, $2, ... (normal connections only).
Result<PgResult> ExecParams(PGconn* conn, const std::string& sql,
                            const std::vector<std::string>& params, const std::string& what);

// The connection's or result's error message on one line ("" when none).
std::string ConnectionError(const PGconn* conn);
std::string ResultError(const PGresult* res);
// The SQLSTATE of a failed result ("" when none).
std::string SqlState(const PGresult* res);

// "name" with embedded quotes doubled; 'text' with embedded quotes doubled.
std::string QuoteIdentifier(const std::string& name);
std::string QuoteLiteral(const std::string& text);

}  // namespace annals::pgcdc
