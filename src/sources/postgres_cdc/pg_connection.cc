#include "sources/postgres_cdc/pg_connection.h"

#include <poll.h>

#include <cstring>

namespace annals::pgcdc {

namespace {

std::string OneLine(const char* text) {
  std::string s = text == nullptr ? "" : text;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return s;
}

}  // namespace

std::string ConnectionError(const PGconn* conn) {
  return conn == nullptr ? "out of memory" : OneLine(PQerrorMessage(conn));
}

std::string ResultError(const PGresult* res) {
  return res == nullptr ? "" : OneLine(PQresultErrorMessage(res));
}

std::string SqlState(const PGresult* res) {
  if (res == nullptr) return "";
  const char* s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  return s == nullptr ? "" : s;
}

Result<PgConn> Connect(const std::string& dsn, bool replication, int wake_fd,
                       std::chrono::milliseconds timeout) {
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(dsn.c_str(), &parse_error);
  if (parsed == nullptr) {
    std::string msg = parse_error != nullptr ? OneLine(parse_error) : "out of memory";
    PQfreemem(parse_error);
    return Status::InvalidArgument("the source's dsn is not a valid libpq connection string: " +
                                       msg,
                                   "invalid_config");
  }
  std::vector<std::string> keys, values;
  std::string options;
  bool has_application_name = false;
  bool has_keepalives = false;
  for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string key = o->keyword;
    if (key.rfind("keepalives", 0) == 0) has_keepalives = true;
    if (key == "replication" || key == "client_encoding") continue;
    if (key == "options") {
      options = o->val;
      continue;
    }
    if (key == "application_name") has_application_name = true;
    keys.push_back(key);
    values.push_back(o->val);
  }
  PQconninfoFree(parsed);
  if (!has_application_name) {
    keys.push_back("application_name");
    values.push_back("annals");
  }
  if (!has_keepalives) {
    // Notice a silently dead peer (a network partition, a host gone) within about a minute
    // instead of the kernel's default of hours.
    for (const auto& [k, v] : {std::pair<const char*, const char*>{"keepalives_idle", "30"},
                               {"keepalives_interval", "10"},
                               {"keepalives_count", "3"}}) {
      keys.push_back(k);
      values.push_back(v);
    }
  }
  keys.push_back("client_encoding");
  values.push_back("UTF8");
  keys.push_back("options");
  values.push_back(options.empty() ? kSessionOptions : options + " " + kSessionOptions);
  if (replication) {
    keys.push_back("replication");
    values.push_back("database");
  }
  std::vector<const char*> k, v;
  for (size_t i = 0; i < keys.size(); ++i) {
    k.push_back(keys[i].c_str());
    v.push_back(values[i].c_str());
  }
  k.push_back(nullptr);
  v.push_back(nullptr);

  PgConn conn(PQconnectStartParams(k.data(), v.data(), 0));
  if (!conn) return Status::Unavailable("cannot connect: out of memory", "source_unreachable");
  if (PQstatus(conn.get()) == CONNECTION_BAD) {
    return Status::Unavailable("cannot connect to the database: " + ConnectionError(conn.get()),
                               "source_unreachable");
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  for (;;) {
    if (state == PGRES_POLLING_OK) break;
    if (state == PGRES_POLLING_FAILED) {
      return Status::Unavailable("cannot connect to the database: " +
                                     ConnectionError(conn.get()),
                                 "source_unreachable");
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return Status::Unavailable("cannot connect to the database: no answer within " +
                                     std::to_string(timeout.count() / 1000) + " s",
                                 "source_unreachable");
    }
    pollfd fds[2] = {};
    fds[0].fd = PQsocket(conn.get());
    fds[0].events = state == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    fds[1].fd = wake_fd;
    fds[1].events = POLLIN;
    const int n = ::poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (wake_fd >= 0 && n > 0 && (fds[1].revents & POLLIN)) {
      return Status::Unavailable("the source is stopping", "stopping");
    }
    if (n > 0 && fds[0].revents != 0) state = PQconnectPoll(conn.get());
  }
  return conn;
}

Result<PgResult> Exec(PGconn* conn, const std::string& sql, ExecStatusType expected,
                      const std::string& what) {
  PgResult res(PQexec(conn, sql.c_str()));
  if (!res || PQresultStatus(res.get()) != expected) {
    std::string msg = res ? ResultError(res.get()) : "";
    if (msg.empty()) msg = ConnectionError(conn);
    return Status::Unavailable(what + ": " + msg, "source_error");
  }
  return res;
}

Result<PgResult> ExecParams(PGconn* conn, const std::string& sql,
                            const std::vector<std::string>& params, const std::string& what) {
  std::vector<const char*> p;
  p.reserve(params.size());
  for (const std::string& s : params) p.push_back(s.c_str());
  PgResult res(PQexecParams(conn, sql.c_str(), static_cast<int>(p.size()), nullptr, p.data(),
                            nullptr, nullptr, 0));
  if (!res || PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
    if (res && PQresultStatus(res.get()) == PGRES_COMMAND_OK) return res;
    std::string msg = res ? ResultError(res.get()) : "";
    if (msg.empty()) msg = ConnectionError(conn);
    return Status::Unavailable(what + ": " + msg, "source_error");
  }
  return res;
}

std::string QuoteIdentifier(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string QuoteLiteral(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

}  // namespace annals::pgcdc
