#include "sources/postgres_cdc/postgres_source.h"

#include <openssl/rand.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "access/organizations.h"
#include "common/sha256.h"
#include "domain/canonical_json.h"
#include "domain/event_decoder.h"
#include "domain/json.h"
#include "domain/time.h"
#include "ingest/ingestor.h"
#include "server/logging.h"
#include "sources/postgres_cdc/item_lookup.h"
#include "sources/postgres_cdc/pg_connection.h"
#include "sources/postgres_cdc/pgoutput.h"
#include "sources/postgres_cdc/row_values.h"
#include "sources/postgres_cdc/table_shape.h"
#include "sources/source_event.h"

namespace annals {

namespace json = boost::json;
using pgoutput::Lsn;
using pgcdc::PgResult;
using pgcdc::QuoteIdentifier;
using pgcdc::QuoteLiteral;
using pgcdc::TableShape;

namespace {

constexpr char kKind[] = "postgres";
// Error codes of statuses that end the source for good (state "failed").
constexpr char kSlotLost[] = "source_slot_lost";
constexpr char kStopping[] = "stopping";
constexpr size_t kSnapshotFetchRows = 1000;
constexpr size_t kMaxMetadataText = 500;

Status SlotLost(std::string message) {
  return Status(Code::kInternal, kSlotLost, std::move(message));
}
Status Stopping() { return Status::Unavailable("the source is stopping", kStopping); }
Status ConfigProblem(std::string message) {
  return Status::Unavailable(std::move(message), "source_config");
}

bool AllChars(const std::string& s, bool (*ok)(char)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), ok);
}
bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}
bool SlotChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }
bool ActionChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

// At most `limit` code points of `text` (cut on a code point boundary, marked with "...").
std::string CutText(const std::string& text, size_t limit) {
  size_t points = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && ++points > limit - 3) {
      size_t rest = 0;
      for (size_t j = i; j < text.size(); ++j) {
        if ((static_cast<unsigned char>(text[j]) & 0xC0) != 0x80) ++rest;
      }
      if (rest <= 3) return text;
      return text.substr(0, i) + "...";
    }
  }
  return text;
}

std::string FirstError(const Status& s) {
  if (s.details().empty()) return s.message();
  const ErrorDetail& d = s.details().front();
  return d.path.empty() ? d.message : d.path + ": " + d.message;
}

// What a draft in a submission stands for, to count acknowledgements.
enum class DraftKind : uint8_t { kChange, kRejection, kMeta };

// Acknowledgements from the ingestor's writer thread, handed to the source thread.
struct AckBox {
  AckBox() : fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~AckBox() {
    if (fd >= 0) ::close(fd);
  }
  void Push(uint64_t id, Result<std::vector<Ack>> result) {
    {
      std::lock_guard lock(mu);
      done.emplace_back(id, std::move(result));
    }
    cv.notify_all();
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
  }
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<uint64_t, Result<std::vector<Ack>>>> done;  // guarded by mu
  const int fd;
};

struct SavedState {
  std::string slot;
  std::string phase;  // "creating", "snapshot" or "streaming"
  Lsn position = 0;
  TimestampUs snapshot_at = 0;
};

std::string EncodeState(const SavedState& s) {
  json::object o;
  o["slot"] = s.slot;
  o["phase"] = s.phase;
  o["position"] = pgoutput::FormatLsn(s.position);
  o["snapshot_at"] = s.snapshot_at;
  return json::serialize(o);
}

std::optional<SavedState> DecodeState(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const json::object& o = v.as_object();
  SavedState s;
  const auto str = [&](const char* k) -> std::string {
    const json::value* x = o.if_contains(k);
    return x != nullptr && x->is_string() ? std::string(x->as_string()) : std::string();
  };
  s.slot = str("slot");
  s.phase = str("phase");
  if (!pgoutput::ParseLsn(str("position"), &s.position)) return std::nullopt;
  if (const json::value* t = o.if_contains("snapshot_at"); t != nullptr && t->is_int64()) {
    s.snapshot_at = t->as_int64();
  }
  return s;
}

}  // namespace

std::string PostgresSourceStateMeta(const std::string& source_name) {
  return "sources/postgres/" + source_name;
}

Result<std::string> GetOrCreateMaskKey(Store* store) {
  static std::mutex mu;  // sources of one process create the key once
  std::lock_guard lock(mu);
  Result<std::optional<std::string>> existing = store->GetMeta(kMaskKeyMeta);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) return **existing;
  std::string key(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), 32) != 1) {
    return Status::Internal("cannot draw random bytes for the masking key");
  }
  ANNALS_RETURN_IF_ERROR(store->PutMeta(kMaskKeyMeta, key));
  return key;
}

Status ValidatePostgresSourceConfig(const PostgresSourceConfig& c) {
  const auto bad = [&](const std::string& what) {
    return Status::InvalidArgument("sources.postgres '" + c.name + "': " + what, "invalid_config");
  };
  if (!AllChars(c.name, NameChar) || c.name.size() > 64) {
    return Status::InvalidArgument(
        "sources.postgres name '" + c.name +
            "' must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.' and '-'",
        "invalid_config");
  }
  if (c.dsn.empty()) return bad("dsn is required");
  if (c.publication.empty()) return bad("publication is required");
  if (!AllChars(c.slot, SlotChar) || c.slot.size() > 63) {
    return bad("slot '" + c.slot + "' must be 1 to 63 characters of a-z, 0-9 and '_'");
  }
  if (c.organization_column.empty() == c.organization.empty()) {
    return bad("set exactly one of organization_column and organization");
  }
  if (!c.organization.empty() &&
      (!ValidOrganizationId(c.organization) || c.organization == kPlatformOrganization)) {
    return bad("organization '" + c.organization + "' is not a valid organization id");
  }
  if (c.snapshot != "initial" && c.snapshot != "never") {
    return bad("snapshot must be \"initial\" or \"never\", not \"" + c.snapshot + "\"");
  }
  if (c.tables.empty()) return bad("at least one table is required");
  std::set<std::string> seen;
  for (const PostgresTableConfig& t : c.tables) {
    if (t.name.empty()) return bad("a table has no name");
    const pgcdc::TableName n = pgcdc::SplitTableName(t.name);
    if (n.schema.empty() || n.table.empty()) return bad("table name '" + t.name + "' is malformed");
    if (!seen.insert(n.Qualified()).second) return bad("table " + n.Qualified() + " is listed twice");
    const std::string type = t.target_type.empty() ? n.table : t.target_type;
    if (!AllChars(type, ActionChar) || type.size() > 100) {
      return bad("target type '" + type + "' of table " + n.Qualified() +
                 " must be 1 to 100 characters of a-z, 0-9, '_', '.' and '-' (it starts the "
                 "events' actions); set target_type");
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------

class PostgresSource::Impl {
 public:
  // PostgresSource::Status (the method) would hide the type here.
  using Status = ::annals::Status;

  Impl(PostgresSourceConfig config, PostgresSourceDeps deps, PostgresSourceOptions options)
      : config_(std::move(config)), deps_(std::move(deps)), options_(options) {
    status_.kind = kKind;
    status_.name = config_.name;
    status_.state = "connecting";
  }

  ~Impl() { Stop(); if (wake_fd_ >= 0) ::close(wake_fd_); }

  Status Init() {
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0 || acks_->fd < 0) return Status::Internal("cannot create an eventfd");
    for (const PostgresTableConfig& t : config_.tables) {
      TableInfo info;
      info.config = t;
      info.name = pgcdc::SplitTableName(t.name);
      info.target_type = t.target_type.empty() ? info.name.table : t.target_type;
      tables_.push_back(std::move(info));
    }
    return Status::Ok();
  }

  void Start() {
    if (!thread_.joinable() && !stop_.load()) thread_ = std::thread([this] { Run(); });
  }

  void Stop() {
    if (!stop_.exchange(true) && wake_fd_ >= 0) {
      const uint64_t one = 1;
      [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
    }
    if (thread_.joinable()) thread_.join();
  }

  SourceStatus GetStatus() const {
    std::lock_guard lock(status_mu_);
    SourceStatus s = status_;
    if (lag_known_) {
      const TimestampUs now = deps_.clock->NowMicros();
      s.lag_seconds = oldest_pending_commit_ == 0
                          ? 0.0
                          : std::max<double>(0, static_cast<double>(now - oldest_pending_commit_) / 1e6);
      s.lag_bytes = server_wal_end_ > confirmed_shown_ ? server_wal_end_ - confirmed_shown_ : 0;
    }
    return s;
  }

  const std::string& name() const { return config_.name; }

 private:
  struct TableInfo {
    PostgresTableConfig config;
    pgcdc::TableName name;
    std::string target_type;
    uint32_t oid = 0;
    std::vector<std::string> key_names;
  };

  struct RelationEntry {
    int table = -1;  // index into tables_, -1 when the relation is not captured
    TableShape shape;
  };

  // Where the events being built come from: a transaction of the stream or the snapshot.
  struct Origin {
    bool open = false;          // a transaction is in progress
    bool snapshot = false;
    Lsn lsn = 0;                // the commit LSN (the consistent point for the snapshot)
    std::string lsn_text;
    uint32_t xid = 0;
    TimestampUs occurred_at = 0;
    uint32_t changes = 0;       // change index within the transaction
    std::string source_json;
    json::value actor;
    json::value context;        // null when none
  };

  struct InFlight {
    std::vector<EventDraft> drafts;  // kept to resubmit one by one after a conflict
    std::vector<DraftKind> kinds;
  };

  struct CommitMark {
    uint64_t needs = 0;  // confirmed once every submission up to this one is durable
    Lsn end_lsn = 0;
    TimestampUs commit_ts = 0;
  };

  // Identifies a change in logs and rejection records.
  struct ChangeRef {
    const TableInfo* table = nullptr;
    std::string operation;  // insert, update, delete, truncate, snapshot
    std::string item_id;
    std::string organization;
    std::string key;
  };

  // ---- status -----------------------------------------------------------------------------

  void SetState(const std::string& state) {
    std::lock_guard lock(status_mu_);
    status_.state = state;
    lag_known_ = state == "streaming";
  }

  void SetError(const std::string& message) {
    std::lock_guard lock(status_mu_);
    status_.last_error = message;
    status_.last_error_at = deps_.clock->NowMicros();
  }

  void ClearError() {
    std::lock_guard lock(status_mu_);
    status_.last_error.clear();
  }

  void PublishPositions() {
    std::lock_guard lock(status_mu_);
    confirmed_shown_ = confirmed_;
    status_.position = confirmed_ == 0 ? "" : pgoutput::FormatLsn(confirmed_);
    server_wal_end_ = std::max(server_wal_end_, server_wal_end_seen_);
    if (!commits_.empty()) {
      oldest_pending_commit_ = commits_.front().commit_ts;
    } else if (origin_.open && !origin_.snapshot) {
      oldest_pending_commit_ = origin_.occurred_at;
    } else {
      oldest_pending_commit_ = 0;
    }
  }

  LogFields Fields(LogFields extra = {}) const {
    extra.insert(extra.begin(), {"source", config_.name});
    return extra;
  }

  // ---- the thread -------------------------------------------------------------------------

  void Run() {
    std::chrono::milliseconds backoff = options_.backoff_initial;
    while (!stop_.load()) {
      reached_streaming_ = false;
      Status s = RunOnce();
      EndConnection();
      if (stop_.load()) break;
      if (s.error_code() == kSlotLost) {
        SetError(s.message());
        SetState("failed");
        deps_.logger->Error("change capture stopped: " + s.message(), Fields());
        return;
      }
      if (reached_streaming_) backoff = options_.backoff_initial;
      SetError(s.message());
      SetState("error");
      deps_.logger->Warn("change capture interrupted; retrying",
                         Fields({{"error", s.message()},
                                 {"retry_in_ms", std::to_string(backoff.count())}}));
      Sleep(backoff);
      backoff = std::min(backoff * 2, options_.backoff_max);
    }
    SetState("stopped");
  }

  // Waits up to `d`, or until Stop.
  void Sleep(std::chrono::milliseconds d) {
    pollfd p{wake_fd_, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(d.count()));
  }

  Status RunOnce() {
    SetState("connecting");
    Result<pgcdc::PgConn> conn =
        pgcdc::Connect(config_.dsn, false, wake_fd_, options_.connect_timeout);
    if (!conn.ok()) return conn.status();
    conn_ = std::move(conn).value();
    Result<pgcdc::PgConn> repl =
        pgcdc::Connect(config_.dsn, true, wake_fd_, options_.connect_timeout);
    if (!repl.ok()) return repl.status();
    repl_ = std::move(repl).value();

    ANNALS_RETURN_IF_ERROR(CheckDatabase());
    if (mask_key_.empty()) {
      bool masks = false;
      for (const TableInfo& t : tables_) masks = masks || !t.config.mask_columns.empty();
      if (masks) {
        Result<std::string> key = GetOrCreateMaskKey(deps_.store);
        if (!key.ok()) return key.status();
        mask_key_ = std::move(key).value();
      }
    }
    Result<Lsn> start = PrepareSlot();
    if (!start.ok()) return start.status();
    if (stop_.load()) return Stopping();

    const std::string command =
        "START_REPLICATION SLOT " + QuoteIdentifier(config_.slot) + " LOGICAL " +
        pgoutput::FormatLsn(*start) + " (proto_version '1', publication_names " +
        QuoteLiteral(QuoteIdentifier(config_.publication)) + ", messages 'true')";
    Result<PgResult> started = pgcdc::Exec(repl_.get(), command, PGRES_COPY_BOTH,
                                           "cannot start replication from slot " + config_.slot);
    if (!started.ok()) return started.status();
    copy_both_ = true;
    confirmed_ = std::max(confirmed_, *start);
    sent_flush_ = 0;
    PublishPositions();
    SetState("streaming");
    ClearError();
    reached_streaming_ = true;
    deps_.logger->Info("change capture streaming",
                       Fields({{"slot", config_.slot}, {"from", pgoutput::FormatLsn(*start)}}));
    return Stream();
  }

  // Makes everything submitted durable (or failed), confirms what can be confirmed, and
  // closes the connections.
  void EndConnection() {
    while (!inflight_.empty()) {
      Status s = ProcessAcks(true);
      if (!s.ok() && s.error_code() != kStopping) {
        deps_.logger->Warn("events of the interrupted stream were not stored; they will be "
                           "received again",
                           Fields({{"error", s.message()}}));
      }
    }
    if (copy_both_ && repl_) {
      (void)SendFeedback(false);
      PQputCopyEnd(repl_.get(), nullptr);
      PQflush(repl_.get());
    }
    copy_both_ = false;
    repl_.reset();
    conn_.reset();
    pending_.clear();
    pending_kinds_.clear();
    commits_.clear();
    relations_.clear();
    origin_ = Origin();
    PublishPositions();
  }

  // ---- catalog checks ---------------------------------------------------------------------

  Status CheckDatabase() {
    PGconn* c = conn_.get();
    Result<PgResult> pub = pgcdc::ExecParams(
        c, "SELECT 1 FROM pg_publication WHERE pubname = $1", {config_.publication},
        "cannot look up publication " + config_.publication);
    if (!pub.ok()) return pub.status();
    if (PQntuples(pub->get()) == 0) {
      return ConfigProblem("publication " + config_.publication +
                           " does not exist in the source database; create it with CREATE "
                           "PUBLICATION " + QuoteIdentifier(config_.publication) +
                           " FOR TABLE ...");
    }
    for (TableInfo& t : tables_) {
      const std::string q = t.name.Qualified();
      Result<PgResult> rel = pgcdc::ExecParams(
          c,
          "SELECT c.oid, c.relreplident, EXISTS (SELECT 1 FROM pg_publication_tables p "
          "WHERE p.pubname = $3 AND p.schemaname = n.nspname AND p.tablename = c.relname) "
          "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
          "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
          {t.name.schema, t.name.table, config_.publication}, "cannot look up table " + q);
      if (!rel.ok()) return rel.status();
      if (PQntuples(rel->get()) == 0) {
        return ConfigProblem("table " + q + " does not exist in the source database");
      }
      t.oid = static_cast<uint32_t>(std::stoul(PQgetvalue(rel->get(), 0, 0)));
      const std::string identity = PQgetvalue(rel->get(), 0, 1);
      if (std::string(PQgetvalue(rel->get(), 0, 2)) != "t") {
        return ConfigProblem("table " + q + " is not in publication " + config_.publication +
                             "; run ALTER PUBLICATION " + QuoteIdentifier(config_.publication) +
                             " ADD TABLE " + QuoteIdentifier(t.name.schema) + "." +
                             QuoteIdentifier(t.name.table));
      }
      ANNALS_RETURN_IF_ERROR(LoadKeys(&t));
      if (t.key_names.empty()) {
        return ConfigProblem("table " + q +
                             " has no primary key; annals identifies each row's item by its "
                             "primary key");
      }
      if (identity != "f") {
        return ConfigProblem("table " + q +
                             " does not have REPLICA IDENTITY FULL, so its updates and deletes "
                             "would arrive without the old row; run ALTER TABLE " +
                             QuoteIdentifier(t.name.schema) + "." + QuoteIdentifier(t.name.table) +
                             " REPLICA IDENTITY FULL");
      }
      if (!config_.organization_column.empty()) {
        Result<PgResult> col = pgcdc::ExecParams(
            c,
            "SELECT 1 FROM pg_attribute WHERE attrelid = $1::oid AND attname = $2 "
            "AND attnum > 0 AND NOT attisdropped",
            {std::to_string(t.oid), config_.organization_column}, "cannot look up columns of " + q);
        if (!col.ok()) return col.status();
        if (PQntuples(col->get()) == 0) {
          return ConfigProblem("table " + q + " has no column " + config_.organization_column +
                               " (the source's organization_column)");
        }
      }
    }
    if (!config_.organization.empty() && deps_.orgs != nullptr &&
        !deps_.orgs->Exists(config_.organization)) {
      if (!deps_.auto_create_orgs) {
        return ConfigProblem("organization " + config_.organization +
                             " (the source's organization) does not exist; create it with POST "
                             "/v1/orgs or turn on [orgs] auto_create");
      }
      Result<std::string> made = EnsureOrganization(config_.organization);
      if (!made.ok()) return made.status();
      ANNALS_RETURN_IF_ERROR(FlushPending());
      ANNALS_RETURN_IF_ERROR(WaitForAllAcks());
    }
    return Status::Ok();
  }

  Status LoadKeys(TableInfo* t) {
    Result<PgResult> keys = pgcdc::ExecParams(
        conn_.get(),
        "SELECT a.attname FROM pg_index i "
        "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = $1::oid AND i.indisprimary ORDER BY k.ord",
        {std::to_string(t->oid)}, "cannot look up the primary key of " + t->name.Qualified());
    if (!keys.ok()) return keys.status();
    t->key_names.clear();
    for (int i = 0; i < PQntuples(keys->get()); ++i) t->key_names.push_back(PQgetvalue(keys->get(), i, 0));
    return Status::Ok();
  }

  // ---- slot -------------------------------------------------------------------------------

  Status SaveState() {
    ANNALS_RETURN_IF_ERROR(deps_.store->PutMeta(PostgresSourceStateMeta(config_.name), EncodeState(saved_)));
    persisted_ = saved_.position;
    return Status::Ok();
  }

  // Decides where streaming starts: resumes the slot annals streamed from before, adopts a
  // slot someone created for annals, or creates the slot (and takes the snapshot).
  Result<Lsn> PrepareSlot() {
    Result<std::optional<std::string>> meta =
        deps_.store->GetMeta(PostgresSourceStateMeta(config_.name));
    if (!meta.ok()) return meta.status();
    std::optional<SavedState> saved;
    if (meta->has_value()) {
      saved = DecodeState(**meta);
      if (!saved) return Status::Internal("the saved state of source " + config_.name + " is unreadable");
    }
    if (saved && saved->slot != config_.slot) {
      deps_.logger->Warn("the source now uses another replication slot: capture starts afresh; "
                         "drop the old slot if nothing else uses it, it keeps WAL on the server",
                         Fields({{"old_slot", saved->slot}, {"slot", config_.slot}}));
      saved.reset();
    }

    Result<PgResult> row = pgcdc::ExecParams(
        conn_.get(),
        "SELECT slot_type, plugin, database = current_database(), coalesce(wal_status, ''), "
        "coalesce(confirmed_flush_lsn::text, '') FROM pg_replication_slots WHERE slot_name = $1",
        {config_.slot}, "cannot look up replication slot " + config_.slot);
    if (!row.ok()) return row.status();
    const bool exists = PQntuples(row->get()) > 0;
    std::string wal_status;
    Lsn slot_confirmed = 0;
    if (exists) {
      PGresult* r = row->get();
      if (std::string(PQgetvalue(r, 0, 0)) != "logical" ||
          std::string(PQgetvalue(r, 0, 1)) != "pgoutput" || std::string(PQgetvalue(r, 0, 2)) != "t") {
        return ConfigProblem("replication slot " + config_.slot +
                             " exists but is not a logical pgoutput slot of this database; "
                             "choose another slot name");
      }
      wal_status = PQgetvalue(r, 0, 3);
      pgoutput::ParseLsn(PQgetvalue(r, 0, 4), &slot_confirmed);
    }
    const std::string lost_advice =
        " Changes made in between are not in annals. To capture again from now on (with a "
        "fresh snapshot when snapshot = \"initial\"), configure a new slot name and restart "
        "annals.";
    if (saved && saved->phase == "streaming") {
      const std::string at = pgoutput::FormatLsn(saved->position);
      if (!exists) {
        return SlotLost("replication slot " + config_.slot +
                        " no longer exists, but annals had stored changes from it up to " + at +
                        "." + lost_advice);
      }
      if (wal_status == "lost") {
        return SlotLost("replication slot " + config_.slot +
                        " was invalidated by the server (the WAL it needed was removed, see "
                        "max_slot_wal_keep_size); annals had stored changes up to " + at + "." +
                        lost_advice);
      }
      if (slot_confirmed > saved->position) {
        return SlotLost("replication slot " + config_.slot + " is at " +
                        pgoutput::FormatLsn(slot_confirmed) + " but annals stored changes only up to " +
                        at + ": the slot was recreated or advanced outside annals." + lost_advice);
      }
      saved_ = *saved;
      persisted_ = saved_.position;
      return saved_.position;
    }
    if (!saved) {
      if (exists) {
        if (wal_status == "lost") {
          return SlotLost("replication slot " + config_.slot + " was invalidated by the server." +
                          lost_advice);
        }
        // A slot created for annals by someone else: stream from where it is (no snapshot,
        // which needs the slot's own exported snapshot).
        saved_ = SavedState{config_.slot, "streaming", slot_confirmed, 0};
        ANNALS_RETURN_IF_ERROR(SaveState());
        deps_.logger->Info("using the existing replication slot (no initial snapshot)",
                           Fields({{"slot", config_.slot}, {"from", pgoutput::FormatLsn(slot_confirmed)}}));
        return slot_confirmed;
      }
      saved_ = SavedState{config_.slot, "creating", 0, 0};
    } else {
      // An earlier attempt created the slot but did not finish its snapshot: the exported
      // snapshot is gone with its connection, so start over with a new slot.
      saved_ = *saved;
      if (exists) {
        deps_.logger->Info("dropping the replication slot of an unfinished start",
                           Fields({{"slot", config_.slot}}));
        Result<PgResult> dropped = pgcdc::ExecParams(
            conn_.get(), "SELECT pg_drop_replication_slot($1)", {config_.slot},
            "cannot drop the unfinished replication slot " + config_.slot);
        if (!dropped.ok()) return dropped.status();
      }
    }
    return CreateSlot();
  }

  Result<Lsn> CreateSlot() {
    const bool snapshot = config_.snapshot == "initial";
    if (saved_.snapshot_at == 0) {
      // The database's clock, read before the slot exists: every change streamed from the
      // slot commits after it, so snapshot events sort before them in item histories.
      Result<PgResult> now = pgcdc::Exec(
          conn_.get(), "SELECT (extract(epoch from clock_timestamp()) * 1000000)::int8",
          PGRES_TUPLES_OK, "cannot read the database clock");
      if (!now.ok()) return now.status();
      saved_.snapshot_at = std::stoll(PQgetvalue(now->get(), 0, 0));
    }
    saved_.phase = "creating";
    ANNALS_RETURN_IF_ERROR(SaveState());
    Result<PgResult> created = pgcdc::Exec(
        repl_.get(),
        "CREATE_REPLICATION_SLOT " + QuoteIdentifier(config_.slot) + " LOGICAL pgoutput " +
            (snapshot ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT"),
        PGRES_TUPLES_OK, "cannot create replication slot " + config_.slot);
    if (!created.ok()) return created.status();
    Lsn consistent = 0;
    if (PQntuples(created->get()) != 1 ||
        !pgoutput::ParseLsn(PQgetvalue(created->get(), 0, 1), &consistent)) {
      return Status::Unavailable("CREATE_REPLICATION_SLOT returned an unexpected result", "source_error");
    }
    const std::string snapshot_name = PQgetvalue(created->get(), 0, 2);
    saved_.position = consistent;
    saved_.phase = snapshot ? "snapshot" : "streaming";
    ANNALS_RETURN_IF_ERROR(SaveState());
    confirmed_ = consistent;
    PublishPositions();
    deps_.logger->Info("created replication slot",
                       Fields({{"slot", config_.slot}, {"consistent_point", pgoutput::FormatLsn(consistent)}}));
    if (snapshot) {
      ANNALS_RETURN_IF_ERROR(RunSnapshot(snapshot_name, consistent));
      saved_.phase = "streaming";
      ANNALS_RETURN_IF_ERROR(SaveState());
    }
    return consistent;
  }

  // ---- snapshot ---------------------------------------------------------------------------

  Status RunSnapshot(const std::string& snapshot_name, Lsn consistent_point) {
    SetState("snapshotting");
    PGconn* c = conn_.get();
    ANNALS_RETURN_IF_ERROR(pgcdc::Exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                                       PGRES_COMMAND_OK, "cannot start the snapshot")
                               .status());
    ANNALS_RETURN_IF_ERROR(pgcdc::Exec(c, "SET TRANSACTION SNAPSHOT " + QuoteLiteral(snapshot_name),
                                       PGRES_COMMAND_OK, "cannot use the slot's snapshot")
                               .status());
    origin_ = Origin();
    origin_.snapshot = true;
    origin_.lsn = consistent_point;
    origin_.lsn_text = pgoutput::FormatLsn(consistent_point);
    origin_.occurred_at = saved_.snapshot_at;
    origin_.actor = DefaultActor();
    {
      json::object src;
      src["kind"] = kKind;
      src["name"] = config_.name;
      src["lsn"] = origin_.lsn_text;
      origin_.source_json = Canonical(src);
    }
    uint64_t rows = 0;
    for (const TableInfo& t : tables_) {
      Result<PgResult> cols = pgcdc::ExecParams(
          c,
          "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 "
          "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
          {std::to_string(t.oid)}, "cannot read the columns of " + t.name.Qualified());
      if (!cols.ok()) return cols.status();
      std::vector<std::pair<std::string, uint32_t>> columns;
      std::string select = "SELECT ";
      for (int i = 0; i < PQntuples(cols->get()); ++i) {
        columns.emplace_back(PQgetvalue(cols->get(), i, 0),
                             static_cast<uint32_t>(std::stoul(PQgetvalue(cols->get(), i, 1))));
        select += (i ? ", " : "") + QuoteIdentifier(columns.back().first);
      }
      select += " FROM " + QuoteIdentifier(t.name.schema) + "." + QuoteIdentifier(t.name.table);
      Result<TableShape> shape =
          pgcdc::MakeTableShape(t.config, columns, t.key_names, config_.organization_column);
      if (!shape.ok()) return ConfigProblem(shape.status().message());
      ANNALS_RETURN_IF_ERROR(pgcdc::Exec(c, "DECLARE annals_snapshot NO SCROLL CURSOR FOR " + select,
                                         PGRES_COMMAND_OK, "cannot read " + t.name.Qualified())
                                 .status());
      pgoutput::Tuple tuple;
      for (;;) {
        if (stop_.load()) return Stopping();
        Result<PgResult> batch =
            pgcdc::Exec(c, "FETCH FORWARD " + std::to_string(kSnapshotFetchRows) + " FROM annals_snapshot",
                        PGRES_TUPLES_OK, "cannot read " + t.name.Qualified());
        if (!batch.ok()) return batch.status();
        PGresult* r = batch->get();
        const int n = PQntuples(r);
        for (int i = 0; i < n; ++i) {
          tuple.assign(columns.size(), pgoutput::TupleColumn());
          for (size_t k = 0; k < columns.size(); ++k) {
            if (!PQgetisnull(r, i, static_cast<int>(k))) {
              tuple[k].kind = pgoutput::ColumnKind::kText;
              tuple[k].data = std::string_view(PQgetvalue(r, i, static_cast<int>(k)),
                                               static_cast<size_t>(PQgetlength(r, i, static_cast<int>(k))));
            }
          }
          ANNALS_RETURN_IF_ERROR(SnapshotRow(t, *shape, tuple));
          ++rows;
        }
        if (static_cast<size_t>(n) < kSnapshotFetchRows) break;
      }
      ANNALS_RETURN_IF_ERROR(
          pgcdc::Exec(c, "CLOSE annals_snapshot", PGRES_COMMAND_OK, "cannot close the snapshot cursor").status());
    }
    ANNALS_RETURN_IF_ERROR(pgcdc::Exec(c, "COMMIT", PGRES_COMMAND_OK, "cannot end the snapshot").status());
    ANNALS_RETURN_IF_ERROR(FlushPending());
    ANNALS_RETURN_IF_ERROR(WaitForAllAcks());
    origin_ = Origin();
    deps_.logger->Info("initial snapshot stored", Fields({{"rows", std::to_string(rows)}}));
    return Status::Ok();
  }

  Status SnapshotRow(const TableInfo& t, const TableShape& shape, const pgoutput::Tuple& tuple) {
    ChangeRef ref{&t, "snapshot", "", "", ""};
    Result<pgcdc::RowImage> image = pgcdc::MakeRowImage(shape, tuple, nullptr, mask_key_);
    if (!image.ok()) {
      ref.key = "postgres " + config_.name + " snapshot " +
                HexEncode(Sha256(t.name.Qualified() + '\0' + image.status().message())).substr(0, 32);
      return Reject(ref, image.status().message());
    }
    ref.item_id = image->id;
    ref.key = "postgres " + config_.name + " snapshot " +
              HexEncode(Sha256(t.name.Qualified() + '\0' + image->id)).substr(0, 32);
    return AddEvent(t, "snapshotted", "snapshot", image->organization, image->id, nullptr,
                    json::value(std::move(image->image)), ref);
  }

  // ---- streaming --------------------------------------------------------------------------

  Status Stream() {
    last_feedback_ = std::chrono::steady_clock::now();
    last_server_message_ = last_feedback_;
    bool pinged = false;
    std::chrono::steady_clock::time_point pinged_at;
    for (;;) {
      if (stop_.load()) return Stopping();
      // A silent server is asked for a sign of life; one that stays silent is gone.
      const auto now = std::chrono::steady_clock::now();
      const auto silent = now - last_server_message_;
      if (silent < options_.silence_timeout) {
        pinged = false;
      } else if (!pinged) {
        ANNALS_RETURN_IF_ERROR(SendFeedback(true));
        pinged = true;
        pinged_at = now;
      } else if (now - pinged_at >= options_.silence_timeout / 2) {
        return Status::Unavailable(
            "the server sent nothing for " +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(silent).count()) +
                " s, not even when asked to answer; reconnecting",
            "source_unreachable");
      }
      ANNALS_RETURN_IF_ERROR(ProcessAcks(false));
      ANNALS_RETURN_IF_ERROR(MaybeSendFeedback(false));
      char* buf = nullptr;
      const int n = PQgetCopyData(repl_.get(), &buf, 1);
      if (n > 0) {
        struct Free {
          void operator()(char* p) const { PQfreemem(p); }
        };
        std::unique_ptr<char, Free> hold(buf);
        ANNALS_RETURN_IF_ERROR(HandleCopyData(std::string_view(buf, static_cast<size_t>(n))));
        continue;
      }
      if (n == 0) {
        // Nothing more to read right now: hand over what was decoded so far once it has
        // waited max_batch_delay for company.
        auto wait = options_.feedback_interval;
        if (!pending_.empty()) {
          const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::steady_clock::now() - pending_since_);
          if (waited >= options_.max_batch_delay) {
            ANNALS_RETURN_IF_ERROR(FlushPending());
          } else {
            wait = std::min(wait, options_.max_batch_delay - waited);
          }
        }
        ANNALS_RETURN_IF_ERROR(ProcessAcks(false));
        ANNALS_RETURN_IF_ERROR(MaybeSendFeedback(false));
        pollfd fds[3] = {{PQsocket(repl_.get()), POLLIN, 0}, {wake_fd_, POLLIN, 0}, {acks_->fd, POLLIN, 0}};
        ::poll(fds, 3, static_cast<int>(std::max<int64_t>(1, wait.count())));
        if (PQconsumeInput(repl_.get()) == 0) {
          return Status::Unavailable("replication connection lost: " + pgcdc::ConnectionError(repl_.get()),
                                     "source_unreachable");
        }
        continue;
      }
      copy_both_ = false;
      if (n == -1) {
        PgResult res(PQgetResult(repl_.get()));
        std::string why = pgcdc::ResultError(res.get());
        return Status::Unavailable("the server ended the replication stream" +
                                       (why.empty() ? std::string() : ": " + why),
                                   "source_unreachable");
      }
      return Status::Unavailable("replication connection lost: " + pgcdc::ConnectionError(repl_.get()),
                                 "source_unreachable");
    }
  }

  Status HandleCopyData(std::string_view data) {
    last_server_message_ = std::chrono::steady_clock::now();
    Result<pgoutput::CopyData> copy = pgoutput::DecodeCopyData(data);
    if (!copy.ok()) return copy.status();
    if (const auto* k = std::get_if<pgoutput::Keepalive>(&*copy)) {
      server_wal_end_seen_ = std::max(server_wal_end_seen_, k->wal_end);
      // While nothing is in flight, everything the server sent before this point is stored:
      // confirming its position lets an idle source's WAL be recycled.
      if (!origin_.open && pending_.empty() && inflight_.empty() && commits_.empty()) {
        confirmed_ = std::max(confirmed_, k->wal_end);
      }
      PublishPositions();
      if (k->reply_requested) return SendFeedback(false);
      return Status::Ok();
    }
    const auto& w = std::get<pgoutput::XLogData>(*copy);
    server_wal_end_seen_ = std::max(server_wal_end_seen_, w.wal_end);
    received_ = std::max(received_, w.data_start);
    Result<pgoutput::PgOutputMessage> msg = pgoutput::Decode(w.payload);
    if (!msg.ok()) return msg.status();
    return std::visit([this](const auto& m) { return Handle(m); }, *msg);
  }

  Status Handle(const pgoutput::Begin& b) {
    if (origin_.open) {
      return Status::Internal("replication protocol: a transaction began inside another");
    }
    origin_ = Origin();
    origin_.open = true;
    origin_.lsn = b.final_lsn;
    origin_.lsn_text = pgoutput::FormatLsn(b.final_lsn);
    origin_.xid = b.xid;
    origin_.occurred_at = pgoutput::PostgresToUnixMicros(b.commit_ts);
    origin_.actor = DefaultActor();
    json::object src;
    src["kind"] = kKind;
    src["name"] = config_.name;
    src["lsn"] = origin_.lsn_text;
    src["xid"] = b.xid;
    origin_.source_json = Canonical(src);
    PublishPositions();
    return Status::Ok();
  }

  Status Handle(const pgoutput::Commit& c) {
    if (!origin_.open) return Status::Internal("replication protocol: a commit outside a transaction");
    CommitMark mark;
    mark.needs = pending_.empty() ? next_submission_ - 1 : next_submission_;
    mark.end_lsn = c.end_lsn;
    mark.commit_ts = origin_.occurred_at;
    commits_.push_back(mark);
    origin_ = Origin();
    AdvanceConfirmed();
    if (pending_.size() >= options_.chunk_events) return FlushPending();
    return Status::Ok();
  }

  Status Handle(const pgoutput::Origin&) { return Status::Ok(); }
  Status Handle(const pgoutput::Type&) { return Status::Ok(); }

  Status Handle(const pgoutput::Relation& r) {
    RelationEntry entry;
    const std::string schema = r.nspname.empty() ? "pg_catalog" : std::string(r.nspname);
    for (size_t i = 0; i < tables_.size(); ++i) {
      if (tables_[i].name.schema == schema && tables_[i].name.table == r.relname) {
        entry.table = static_cast<int>(i);
      }
    }
    if (entry.table < 0) {
      relations_[r.relid] = std::move(entry);
      return Status::Ok();
    }
    TableInfo& t = tables_[static_cast<size_t>(entry.table)];
    if (r.replica_identity != 'f') {
      return ConfigProblem("table " + t.name.Qualified() +
                           " no longer has REPLICA IDENTITY FULL, so its changes arrive without "
                           "the old row; run ALTER TABLE " + QuoteIdentifier(t.name.schema) + "." +
                           QuoteIdentifier(t.name.table) + " REPLICA IDENTITY FULL");
    }
    std::vector<std::pair<std::string, uint32_t>> columns;
    columns.reserve(r.columns.size());
    for (const pgoutput::RelationColumn& c : r.columns) columns.emplace_back(std::string(c.name), c.type_oid);
    Result<TableShape> shape =
        pgcdc::MakeTableShape(t.config, columns, t.key_names, config_.organization_column);
    if (!shape.ok()) {
      // The primary key may have changed since the start: look again.
      ANNALS_RETURN_IF_ERROR(LoadKeys(&t));
      shape = pgcdc::MakeTableShape(t.config, columns, t.key_names, config_.organization_column);
      if (!shape.ok()) return ConfigProblem(shape.status().message());
    }
    entry.shape = std::move(shape).value();
    relations_[r.relid] = std::move(entry);
    return Status::Ok();
  }

  const RelationEntry* FindRelation(uint32_t relid, Status* error) {
    auto it = relations_.find(relid);
    if (it == relations_.end()) {
      *error = Status::Internal("replication protocol: a change of relation " + std::to_string(relid) +
                                " arrived before its description");
      return nullptr;
    }
    return &it->second;
  }

  std::string ChangeKey(uint32_t index, const char* suffix = "") const {
    return "postgres " + config_.name + " " + origin_.lsn_text + ":" + std::to_string(index) + suffix;
  }

  Status Handle(const pgoutput::Insert& m) {
    const uint32_t index = origin_.changes++;
    Status error;
    const RelationEntry* rel = FindRelation(m.relid, &error);
    if (rel == nullptr) return error;
    if (rel->table < 0) return Status::Ok();
    const TableInfo& t = tables_[static_cast<size_t>(rel->table)];
    ChangeRef ref{&t, "insert", "", "", ChangeKey(index)};
    Result<pgcdc::RowImage> after = pgcdc::MakeRowImage(rel->shape, m.new_tuple, nullptr, mask_key_);
    if (!after.ok()) return Reject(ref, after.status().message());
    ref.item_id = after->id;
    return AddEvent(t, "created", "create", after->organization, after->id, nullptr,
                    json::value(std::move(after->image)), ref);
  }

  Status Handle(const pgoutput::Update& m) {
    const uint32_t index = origin_.changes++;
    Status error;
    const RelationEntry* rel = FindRelation(m.relid, &error);
    if (rel == nullptr) return error;
    if (rel->table < 0) return Status::Ok();
    const TableInfo& t = tables_[static_cast<size_t>(rel->table)];
    if (m.old_kind != 'O') {
      return ConfigProblem("an update of table " + t.name.Qualified() +
                           " arrived without its old row; the table needs REPLICA IDENTITY FULL");
    }
    ChangeRef ref{&t, "update", "", "", ChangeKey(index)};
    Result<pgcdc::RowImage> before = pgcdc::MakeRowImage(rel->shape, m.old_tuple, nullptr, mask_key_);
    if (!before.ok()) return Reject(ref, before.status().message());
    Result<pgcdc::RowImage> after = pgcdc::MakeRowImage(rel->shape, m.new_tuple, &m.old_tuple, mask_key_);
    ref.item_id = before->id;
    if (!after.ok()) return Reject(ref, after.status().message());
    if (before->id == after->id && before->organization == after->organization) {
      return AddEvent(t, "updated", "update", after->organization, after->id,
                      json::value(std::move(before->image)), json::value(std::move(after->image)), ref);
    }
    // The row now names another item (its key changed) or belongs to another organization:
    // the old item ends and the new one begins.
    ANNALS_RETURN_IF_ERROR(AddEvent(t, "deleted", "delete", before->organization, before->id,
                                    json::value(std::move(before->image)), nullptr, ref));
    ChangeRef second{&t, "update", after->id, "", ChangeKey(index, ".1")};
    return AddEvent(t, "created", "create", after->organization, after->id, nullptr,
                    json::value(std::move(after->image)), second);
  }

  Status Handle(const pgoutput::Delete& m) {
    const uint32_t index = origin_.changes++;
    Status error;
    const RelationEntry* rel = FindRelation(m.relid, &error);
    if (rel == nullptr) return error;
    if (rel->table < 0) return Status::Ok();
    const TableInfo& t = tables_[static_cast<size_t>(rel->table)];
    if (m.old_kind != 'O') {
      return ConfigProblem("a delete of table " + t.name.Qualified() +
                           " arrived without its old row; the table needs REPLICA IDENTITY FULL");
    }
    ChangeRef ref{&t, "delete", "", "", ChangeKey(index)};
    Result<pgcdc::RowImage> before = pgcdc::MakeRowImage(rel->shape, m.old_tuple, nullptr, mask_key_);
    if (!before.ok()) return Reject(ref, before.status().message());
    ref.item_id = before->id;
    return AddEvent(t, "deleted", "delete", before->organization, before->id,
                    json::value(std::move(before->image)), nullptr, ref);
  }

  Status Handle(const pgoutput::Truncate& m) {
    const uint32_t index = origin_.changes++;
    for (uint32_t relid : m.relids) {
      Status error;
      const RelationEntry* rel = FindRelation(relid, &error);
      if (rel == nullptr) return error;
      if (rel->table < 0) continue;
      const TableInfo& t = tables_[static_cast<size_t>(rel->table)];
      // Which items are alive depends on everything before: store it first.
      ANNALS_RETURN_IF_ERROR(FlushPending());
      ANNALS_RETURN_IF_ERROR(WaitForAllAcks());
      std::vector<std::string> orgs;
      if (!config_.organization.empty()) {
        orgs.push_back(config_.organization);
      } else {
        Result<std::vector<std::string>> all = deps_.store->OrganizationsWithEvents();
        if (!all.ok()) return all.status();
        orgs = std::move(all).value();
      }
      for (const std::string& org : orgs) {
        if (org == kPlatformOrganization) continue;
        std::string after;
        for (;;) {
          Result<std::vector<std::string>> ids =
              pgcdc::LiveItemIds(deps_.store, org, t.target_type, after, 1000);
          if (!ids.ok()) return ids.status();
          for (size_t i = 0; i < ids->size(); i += deps_.limits.max_targets) {
            const size_t end = std::min(ids->size(), i + deps_.limits.max_targets);
            ANNALS_RETURN_IF_ERROR(AddTruncateEvent(t, org, index, *ids, i, end));
          }
          if (ids->size() < 1000) break;
          after = ids->back();
        }
      }
    }
    return Status::Ok();
  }

  Status AddTruncateEvent(const TableInfo& t, const std::string& org, uint32_t index,
                          const std::vector<std::string>& ids, size_t begin, size_t end) {
    json::object e = EventBase(org, t.target_type + ".truncated");
    json::array targets;
    std::string hashed = t.target_type;
    for (size_t i = begin; i < end; ++i) {
      targets.push_back(json::object{{"type", t.target_type}, {"id", ids[i]}});
      hashed.push_back('\0');
      hashed += ids[i];
    }
    e["targets"] = std::move(targets);
    e["changes"] = json::object{{"op", "delete"}};
    ChangeRef ref{&t, "truncate", ids[begin], org,
                  ChangeKey(index, (":" + HexEncode(Sha256(hashed)).substr(0, 16)).c_str())};
    return SubmitEvent(std::move(e), ref, DraftKind::kChange);
  }

  Status Handle(const pgoutput::Message& m) {
    if (!m.transactional || m.prefix != "annals" || !origin_.open) return Status::Ok();
    std::string problem;
    Result<json::value> parsed = ParseStrictJson(m.content, deps_.limits.max_depth);
    json::value actor, context;
    if (!parsed.ok()) {
      problem = "it is not valid JSON (" + FirstError(parsed.status()) + ")";
    } else if (!parsed->is_object()) {
      problem = "it is not a JSON object";
    } else {
      for (const auto& member : parsed->as_object()) {
        if (member.key() == "actor") {
          actor = member.value();
        } else if (member.key() == "context") {
          context = member.value();
        } else {
          problem = "it has an unknown member \"" + std::string(member.key()) +
                    "\" (allowed: actor, context)";
        }
      }
      if (problem.empty() && actor.is_null()) problem = "it has no actor";
      if (problem.empty()) {
        // Check the actor and context with the event rules before relying on them.
        json::object probe;
        probe["organization_id"] = "o";
        probe["action"] = "a.b";
        probe["occurred_at"] = "2000-01-01T00:00:00Z";
        probe["actor"] = actor;
        probe["targets"] = json::array{json::object{{"type", "t"}, {"id", "i"}}};
        if (!context.is_null()) probe["context"] = context;
        DecodeContext ctx;
        ctx.now = deps_.clock->NowMicros();
        std::vector<ErrorDetail> errors;
        if (!DecodeEvent(json::value(std::move(probe)), deps_.limits, ctx, "", &errors)) {
          problem = errors.empty() ? "it is invalid"
                                   : errors.front().path + ": " + errors.front().message;
        }
      }
    }
    if (!problem.empty()) {
      const std::string msg = "an actor message of transaction " + std::to_string(origin_.xid) +
                              " was ignored because " + problem +
                              "; its changes are recorded with the database actor";
      deps_.logger->Warn(msg, Fields({{"lsn", origin_.lsn_text}}));
      SetError(msg);
      return Status::Ok();
    }
    origin_.actor = std::move(actor);
    origin_.context = std::move(context);
    return Status::Ok();
  }

  // ---- events -----------------------------------------------------------------------------

  json::value DefaultActor() const {
    return json::object{{"type", "database"}, {"id", config_.name}};
  }

  json::object EventBase(const std::string& org, const std::string& action) const {
    json::object e;
    e["organization_id"] = org;
    e["action"] = action;
    e["occurred_at"] = FormatRfc3339Micros(origin_.occurred_at);
    e["actor"] = origin_.actor;
    if (!origin_.context.is_null()) e["context"] = origin_.context;
    return e;
  }

  // The organization of a row, or the reason it has none. May queue the meta-audit event of
  // an auto-created organization.
  Result<std::string> ResolveOrganization(const std::optional<std::string>& column_value) {
    if (!config_.organization.empty()) return config_.organization;
    const std::string& col = config_.organization_column;
    if (!column_value) return Status::InvalidArgument("its organization column " + col + " is NULL");
    const std::string& org = *column_value;
    if (org.empty()) return Status::InvalidArgument("its organization column " + col + " is empty");
    if (org == kPlatformOrganization) {
      return Status::InvalidArgument("its organization column " + col +
                                     " names the reserved organization 'annals'");
    }
    if (deps_.orgs == nullptr || deps_.orgs->Exists(org)) return org;
    if (!ValidOrganizationId(org)) {
      return Status::InvalidArgument("its organization column " + col + " holds '" +
                                     CutText(org, 200) +
                                     "', which is not a valid organization id");
    }
    if (!deps_.auto_create_orgs) {
      return Status::InvalidArgument("its organization '" + org +
                                     "' does not exist (create it with POST /v1/orgs, or turn "
                                     "on [orgs] auto_create)");
    }
    return EnsureOrganization(org);
  }

  Result<std::string> EnsureOrganization(const std::string& org) {
    Result<std::pair<Organization, bool>> made = deps_.orgs->Ensure(org);
    if (!made.ok()) return made.status();
    if (made->second) {
      json::object e;
      e["organization_id"] = std::string(kPlatformOrganization);
      e["action"] = "annals.organization.created";
      e["occurred_at"] = FormatRfc3339Micros(deps_.clock->NowMicros());
      e["actor"] = json::object{{"type", "postgres_source"}, {"id", config_.name}};
      e["targets"] = json::array{json::object{{"type", "organization"}, {"id", org}}};
      e["metadata"] = json::object{{"auto_created", true}};
      Result<EventDraft> draft = InternalDraft(std::move(e), "");
      if (!draft.ok()) return draft.status();
      ANNALS_RETURN_IF_ERROR(Queue(std::move(draft).value(), DraftKind::kMeta));
      deps_.logger->Info("created an organization named by a captured row",
                         Fields({{"organization_id", org}}));
    }
    return org;
  }

  Result<EventDraft> InternalDraft(json::object e, const std::string& key) {
    DecodeContext ctx;
    ctx.now = deps_.clock->NowMicros();
    ctx.allow_reserved_actions = true;
    ctx.source_json = Canonical(json::object{{"kind", kKind}, {"name", config_.name}});
    std::vector<ErrorDetail> errors;
    std::optional<EventDraft> draft = DecodeEvent(json::value(std::move(e)), deps_.limits, ctx, "", &errors);
    if (!draft) {
      return Status::Internal("cannot build an internal event: " +
                              (errors.empty() ? std::string() : errors[0].path + ": " + errors[0].message));
    }
    if (!key.empty()) {
      draft->idempotency_key = key;
      draft->idempotency_ttl_us = deps_.idempotency_window_us;
      ComputeContentHash(&*draft);
    }
    return std::move(*draft);
  }

  // One change event for one item.
  Status AddEvent(const TableInfo& t, const char* verb, const char* op,
                  const std::optional<std::string>& org_value, const std::string& id,
                  json::value before, json::value after, ChangeRef ref) {
    ref.item_id = id;
    Result<std::string> org = ResolveOrganization(org_value);
    if (!org.ok()) {
      ref.organization = org_value.value_or("");
      return Reject(ref, "the row cannot be attributed to an organization: " + org.status().message());
    }
    ref.organization = *org;
    json::object e = EventBase(*org, t.target_type + "." + verb);
    e["targets"] = json::array{json::object{{"type", t.target_type}, {"id", id}}};
    json::object changes;
    changes["op"] = op;
    if (!before.is_null()) changes["before"] = std::move(before);
    if (!after.is_null()) changes["after"] = std::move(after);
    e["changes"] = std::move(changes);
    return SubmitEvent(std::move(e), ref, DraftKind::kChange);
  }

  Status SubmitEvent(json::object e, const ChangeRef& ref, DraftKind kind) {
    SourceDraftSpec spec;
    spec.source_json = origin_.source_json;
    spec.idempotency_key = ref.key;
    spec.idempotency_ttl_us = deps_.idempotency_window_us;
    spec.now = deps_.clock->NowMicros();
    Result<EventDraft> draft = MakeSourceDraft(json::value(std::move(e)), deps_.limits, spec);
    if (!draft.ok()) return Reject(ref, "the event is invalid: " + FirstError(draft.status()));
    if (origin_.snapshot) {
      // Snapshot rows are keyed by their content: a snapshot taken again after an
      // interrupted start stores again only the rows that changed in between.
      draft->idempotency_key = ref.key + " " + HexEncode(draft->content_hash).substr(0, 32);
    }
    return Queue(std::move(draft).value(), kind);
  }

  // Records that a change could not become an event: logged, counted, shown in the status,
  // and stored as an annals.source.change_rejected event in the platform organization so the
  // gap is itself on the record. The stream goes on.
  Status Reject(const ChangeRef& ref, const std::string& reason) {
    const std::string where = ref.table->name.Qualified();
    const std::string message = "a change of " + where +
                                (ref.item_id.empty() ? std::string() : " (item " + CutText(ref.item_id, 100) + ")") +
                                " at " + origin_.lsn_text + " was not recorded: " + reason;
    deps_.logger->Error(message, Fields({{"table", where}, {"item_id", ref.item_id},
                                         {"lsn", origin_.lsn_text}, {"operation", ref.operation}}));
    SetError(message);
    json::object e;
    e["organization_id"] = std::string(kPlatformOrganization);
    e["action"] = "annals.source.change_rejected";
    e["occurred_at"] = FormatRfc3339Micros(origin_.occurred_at);
    e["actor"] = json::object{{"type", "postgres_source"}, {"id", config_.name}};
    e["targets"] = json::array{json::object{{"type", "postgres_source"}, {"id", config_.name}}};
    json::object md;
    md["table"] = CutText(where, kMaxMetadataText);
    md["operation"] = ref.operation;
    md["lsn"] = origin_.lsn_text;
    if (!origin_.snapshot) md["xid"] = origin_.xid;
    if (!ref.item_id.empty()) md["item_id"] = CutText(ref.item_id, kMaxMetadataText);
    if (!ref.organization.empty()) md["organization"] = CutText(ref.organization, kMaxMetadataText);
    md["error"] = CutText(reason, kMaxMetadataText);
    e["metadata"] = std::move(md);
    Result<EventDraft> draft = InternalDraft(std::move(e), ref.key);
    if (!draft.ok()) return draft.status();
    return Queue(std::move(draft).value(), DraftKind::kRejection);
  }

  // ---- submission pipeline ----------------------------------------------------------------

  Status Queue(EventDraft draft, DraftKind kind) {
    if (pending_.empty()) pending_since_ = std::chrono::steady_clock::now();
    pending_.push_back(std::move(draft));
    pending_kinds_.push_back(kind);
    if (pending_.size() >= options_.chunk_events) return FlushPending();
    return Status::Ok();
  }

  // Submits the pending events as one submission (atomic in the store). Blocks while too
  // many events are in flight, and retries while the ingest queue is full.
  Status FlushPending() {
    if (pending_.empty()) return Status::Ok();
    while (inflight_events_ > 0 && inflight_events_ + pending_.size() > options_.max_inflight_events) {
      ANNALS_RETURN_IF_ERROR(ProcessAcks(true));
    }
    const uint64_t id = next_submission_++;
    InFlight f;
    f.drafts = std::move(pending_);
    f.kinds = std::move(pending_kinds_);
    pending_.clear();
    pending_kinds_.clear();
    std::chrono::milliseconds wait{50};
    for (;;) {
      std::vector<EventDraft> copy = f.drafts;
      deps_.ingestor->Submit(std::move(copy), [box = acks_, id](Result<std::vector<Ack>> r) {
        box->Push(id, std::move(r));
      });
      if (!TakeOverloadRefusal(id)) break;
      // The ingest queue is full (refused at once, so nothing later overtakes these events).
      if (stop_.load()) return Stopping();
      Sleep(wait);
      wait = std::min(wait * 2, std::chrono::milliseconds(1000));
      ANNALS_RETURN_IF_ERROR(MaybeSendFeedback(false));
    }
    inflight_events_ += f.drafts.size();
    inflight_.emplace(id, std::move(f));
    if (options_.after_submit && copy_both_) options_.after_submit();
    return Status::Ok();
  }

  bool TakeOverloadRefusal(uint64_t id) {
    std::lock_guard lock(acks_->mu);
    for (auto it = acks_->done.begin(); it != acks_->done.end(); ++it) {
      if (it->first == id && !it->second.ok() && it->second.status().error_code() == "overloaded") {
        acks_->done.erase(it);
        return true;
      }
    }
    return false;
  }

  Status WaitForAllAcks() {
    while (!inflight_.empty()) ANNALS_RETURN_IF_ERROR(ProcessAcks(true));
    return Status::Ok();
  }

  // Takes the acknowledgements that arrived (with `block`, waits for at least one while
  // something is in flight), counts them and advances the confirmed position.
  Status ProcessAcks(bool block) {
    std::deque<std::pair<uint64_t, Result<std::vector<Ack>>>> done;
    {
      std::unique_lock lock(acks_->mu);
      if (block) {
        while (acks_->done.empty() && !inflight_.empty()) {
          if (acks_->cv.wait_for(lock, std::chrono::seconds(1)) == std::cv_status::timeout) {
            lock.unlock();
            ANNALS_RETURN_IF_ERROR(KeepAliveWhileWaiting());
            lock.lock();
          }
        }
      }
      done.swap(acks_->done);
    }
    uint64_t drained = 0;
    [[maybe_unused]] ssize_t n = ::read(acks_->fd, &drained, sizeof drained);
    Status first_error;
    for (auto& [id, result] : done) {
      auto it = inflight_.find(id);
      if (it == inflight_.end()) continue;
      InFlight f = std::move(it->second);
      inflight_.erase(it);
      inflight_events_ -= f.drafts.size();
      if (result.ok()) {
        Count(f.kinds, *result);
      } else if (result.status().code() == Code::kConflict && first_error.ok()) {
        Status s = ResubmitOneByOne(f);
        if (!s.ok()) first_error = s;
      } else if (first_error.ok()) {
        first_error = Status::Unavailable("annals could not store captured changes: " +
                                              result.status().message(),
                                          result.status().error_code());
      }
    }
    if (!first_error.ok()) return first_error;
    AdvanceConfirmed();
    return Status::Ok();
  }

  // A submission was refused because an idempotency key was reused with other content:
  // some of its events were stored by an earlier delivery of the same changes, built when
  // the configuration (e.g. its masks) was different. Store the others one by one.
  Status ResubmitOneByOne(InFlight& f) {
    size_t conflicts = 0;
    for (size_t i = 0; i < f.drafts.size(); ++i) {
      for (;;) {
        Result<std::vector<Ack>> r = deps_.ingestor->SubmitAndWait({f.drafts[i]});
        if (r.ok()) {
          Count({f.kinds[i]}, *r);
          break;
        }
        if (r.status().code() == Code::kConflict) {
          ++conflicts;
          break;
        }
        if (r.status().error_code() == "overloaded" && !stop_.load()) {
          Sleep(std::chrono::milliseconds(200));
          continue;
        }
        return Status::Unavailable("annals could not store captured changes: " + r.status().message(),
                                   r.status().error_code());
      }
    }
    deps_.logger->Warn("changes received again were already stored with other content (was the "
                       "source's configuration changed?); the stored events were kept",
                       Fields({{"events", std::to_string(conflicts)}}));
    return Status::Ok();
  }

  void Count(const std::vector<DraftKind>& kinds, const std::vector<Ack>& acks) {
    uint64_t stored = 0, rejected = 0;
    for (size_t i = 0; i < acks.size() && i < kinds.size(); ++i) {
      if (acks[i].duplicate) continue;
      if (kinds[i] == DraftKind::kChange) ++stored;
      if (kinds[i] == DraftKind::kRejection) ++rejected;
    }
    std::lock_guard lock(status_mu_);
    status_.events_stored += stored;
    status_.records_failed += rejected;
    status_.last_success_at = deps_.clock->NowMicros();
  }

  // Confirms every commit whose events are all durable.
  void AdvanceConfirmed() {
    const uint64_t lowest_open = inflight_.empty() ? next_submission_ : inflight_.begin()->first;
    TimestampUs last_ts = 0;
    while (!commits_.empty() && commits_.front().needs < lowest_open) {
      confirmed_ = std::max(confirmed_, commits_.front().end_lsn);
      last_ts = commits_.front().commit_ts;
      commits_.pop_front();
    }
    if (last_ts != 0) {
      std::lock_guard lock(status_mu_);
      status_.last_event_at = std::max(status_.last_event_at, last_ts);
    }
    if (origin_.snapshot && inflight_.empty() && pending_.empty()) {
      std::lock_guard lock(status_mu_);
      status_.last_event_at = std::max(status_.last_event_at, origin_.occurred_at);
    }
    PublishPositions();
  }

  // ---- feedback ---------------------------------------------------------------------------

  Status KeepAliveWhileWaiting() {
    if (!copy_both_) return Status::Ok();
    return MaybeSendFeedback(false);
  }

  Status MaybeSendFeedback(bool force) {
    if (!copy_both_) return Status::Ok();
    const auto now = std::chrono::steady_clock::now();
    const auto since = now - last_feedback_;
    const bool due = force || (confirmed_ != sent_flush_ && since >= options_.feedback_interval) ||
                     since >= options_.keepalive_interval;
    if (!due) return Status::Ok();
    return SendFeedback(false);
  }

  // Confirms `confirmed_` to the server, after recording it in the store: the slot is never
  // ahead of what annals recorded, which is how a recreated slot is recognized.
  Status SendFeedback(bool reply_requested) {
    if (confirmed_ > persisted_ && saved_.phase == "streaming") {
      saved_.position = confirmed_;
      ANNALS_RETURN_IF_ERROR(SaveState());
    }
    const Lsn flushed = std::min(confirmed_, persisted_);
    const std::string msg = pgoutput::EncodeStandbyStatus(
        std::max(received_, flushed), flushed, flushed,
        pgoutput::UnixToPostgresMicros(deps_.clock->NowMicros()), reply_requested);
    if (PQputCopyData(repl_.get(), msg.data(), static_cast<int>(msg.size())) != 1 ||
        PQflush(repl_.get()) != 0) {
      return Status::Unavailable("replication connection lost: " + pgcdc::ConnectionError(repl_.get()),
                                 "source_unreachable");
    }
    sent_flush_ = confirmed_;
    last_feedback_ = std::chrono::steady_clock::now();
    return Status::Ok();
  }

  // ---- members ----------------------------------------------------------------------------

  const PostgresSourceConfig config_;
  const PostgresSourceDeps deps_;
  const PostgresSourceOptions options_;

  std::atomic<bool> stop_{false};
  int wake_fd_ = -1;
  std::thread thread_;

  mutable std::mutex status_mu_;
  SourceStatus status_;                 // guarded by status_mu_
  bool lag_known_ = false;              // guarded by status_mu_
  TimestampUs oldest_pending_commit_ = 0;  // guarded by status_mu_
  Lsn server_wal_end_ = 0;              // guarded by status_mu_
  Lsn confirmed_shown_ = 0;             // guarded by status_mu_

  // Source thread only.
  std::vector<TableInfo> tables_;
  std::string mask_key_;
  pgcdc::PgConn conn_;
  pgcdc::PgConn repl_;
  bool copy_both_ = false;
  bool reached_streaming_ = false;
  SavedState saved_;
  std::unordered_map<uint32_t, RelationEntry> relations_;
  Origin origin_;
  Lsn confirmed_ = 0;   // end of the last transaction whose events are all durable
  Lsn persisted_ = 0;   // the position recorded in the store
  Lsn sent_flush_ = 0;
  Lsn received_ = 0;
  Lsn server_wal_end_seen_ = 0;
  std::chrono::steady_clock::time_point last_feedback_;
  std::chrono::steady_clock::time_point last_server_message_;

  std::vector<EventDraft> pending_;
  std::vector<DraftKind> pending_kinds_;
  std::chrono::steady_clock::time_point pending_since_;  // when pending_ got its first event
  std::shared_ptr<AckBox> acks_ = std::make_shared<AckBox>();
  std::map<uint64_t, InFlight> inflight_;
  size_t inflight_events_ = 0;
  uint64_t next_submission_ = 1;
  std::deque<CommitMark> commits_;
};

// ---------------------------------------------------------------------------------------

Result<std::shared_ptr<PostgresSource>> PostgresSource::Create(PostgresSourceConfig config,
                                                               PostgresSourceDeps deps,
                                                               PostgresSourceOptions options) {
  ANNALS_RETURN_IF_ERROR(ValidatePostgresSourceConfig(config));
  if (deps.store == nullptr || deps.ingestor == nullptr || deps.clock == nullptr || !deps.logger) {
    return Status::Internal("a postgres source needs a store, an ingestor, a clock and a logger");
  }
  auto impl = std::make_unique<Impl>(std::move(config), std::move(deps), options);
  ANNALS_RETURN_IF_ERROR(impl->Init());
  return std::shared_ptr<PostgresSource>(new PostgresSource(std::move(impl)));
}

PostgresSource::PostgresSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PostgresSource::~PostgresSource() { Stop(); }
SourceStatus PostgresSource::Status() const { return impl_->GetStatus(); }
void PostgresSource::Start() { impl_->Start(); }
void PostgresSource::Stop() { impl_->Stop(); }
const std::string& PostgresSource::name() const { return impl_->name(); }

}  // namespace annals
