// The bytes of PostgreSQL logical replication as annals reads them: the copy-both framing of
// a replication connection (XLogData 'w', primary keepalive 'k', standby status update 'r')
// and the messages of the built-in pgoutput plugin, protocol version 1 (PostgreSQL 15
// "Logical Replication Message Formats"). No Debian library decodes pgoutput, so this is
// hand-written; docs/architecture.md explains the choice.
//
// All integers are big-endian. Decoded messages hold views (std::string_view) into the
// buffer they were decoded from: the buffer must outlive them. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "annals/event.h"
#include "annals/status.h"

namespace annals::pgoutput {

// A WAL position. Printed as PostgreSQL does: two hex halves, "16/B374D848".
using Lsn = uint64_t;
std::string FormatLsn(Lsn lsn);
// Parses "X/X" (hex, each half at most 8 digits); false when malformed.
bool ParseLsn(std::string_view text, Lsn* out);

// PostgreSQL timestamps count microseconds since 2000-01-01 00:00:00 UTC.
inline constexpr int64_t kPostgresEpochOffsetUs = 946684800LL * 1000000;
inline TimestampUs PostgresToUnixMicros(int64_t pg) { return pg + kPostgresEpochOffsetUs; }
inline int64_t UnixToPostgresMicros(TimestampUs unix_us) { return unix_us - kPostgresEpochOffsetUs; }

// ---- copy-both framing -------------------------------------------------------------------

// 'w': one pgoutput message and the positions around it.
struct XLogData {
  Lsn data_start = 0;
  Lsn wal_end = 0;       // the server's current end of WAL
  int64_t send_time = 0; // PostgreSQL microseconds
  std::string_view payload;
};

// 'k': the server is alive; reply_requested means "answer now or be disconnected".
struct Keepalive {
  Lsn wal_end = 0;
  int64_t send_time = 0;
  bool reply_requested = false;
};

using CopyData = std::variant<XLogData, Keepalive>;

// kInternal "replication_protocol" for an unknown type byte or a short message.
Result<CopyData> DecodeCopyData(std::string_view data);

// The 34-byte standby status update ('r'). For a logical slot `flushed` becomes the slot's
// confirmed_flush_lsn: everything before it may be discarded by the server.
std::string EncodeStandbyStatus(Lsn written, Lsn flushed, Lsn applied, int64_t now_pg_us,
                                bool reply_requested);

// ---- pgoutput messages -------------------------------------------------------------------

// How a column appears in a TupleData.
enum class ColumnKind : char {
  kNull = 'n',       // NULL (in a 'K' old tuple: "not part of the key")
  kUnchanged = 'u',  // an unchanged TOASTed value: no data sent
  kText = 't',       // the value in the type's text output form
  kBinary = 'b',     // the type's binary send form (binary mode only)
};

struct TupleColumn {
  ColumnKind kind = ColumnKind::kNull;
  std::string_view data;  // empty unless kText or kBinary
};

using Tuple = std::vector<TupleColumn>;

struct Begin {
  Lsn final_lsn = 0;      // the commit record's LSN
  int64_t commit_ts = 0;  // PostgreSQL microseconds
  uint32_t xid = 0;
};

struct Commit {
  uint8_t flags = 0;
  Lsn commit_lsn = 0;
  Lsn end_lsn = 0;        // the position to confirm once the transaction is stored
  int64_t commit_ts = 0;
};

struct Origin {
  Lsn commit_lsn = 0;
  std::string_view name;
};

struct RelationColumn {
  bool part_of_identity = false;
  std::string_view name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;
};

struct Relation {
  uint32_t relid = 0;
  std::string_view nspname;  // "" means pg_catalog
  std::string_view relname;
  char replica_identity = 'd';  // 'd' default, 'n' nothing, 'f' full, 'i' index
  std::vector<RelationColumn> columns;
};

struct Type {
  uint32_t oid = 0;
  std::string_view nspname;
  std::string_view typname;
};

struct Insert {
  uint32_t relid = 0;
  Tuple new_tuple;
};

struct Update {
  uint32_t relid = 0;
  char old_kind = 0;  // 0: no old tuple; 'K': key columns only; 'O': the whole old row
  Tuple old_tuple;
  Tuple new_tuple;
};

struct Delete {
  uint32_t relid = 0;
  char old_kind = 'K';  // 'K' or 'O'
  Tuple old_tuple;
};

struct Truncate {
  uint8_t options = 0;  // 1 = CASCADE, 2 = RESTART IDENTITY
  std::vector<uint32_t> relids;
};

// pg_logical_emit_message (only sent with the option messages 'true').
struct Message {
  bool transactional = false;
  Lsn lsn = 0;
  std::string_view prefix;
  std::string_view content;
};

using PgOutputMessage =
    std::variant<Begin, Commit, Origin, Relation, Type, Insert, Update, Delete, Truncate, Message>;

// Decodes one pgoutput message (the payload of one XLogData). kInternal "pgoutput_malformed"
// with the offset when the bytes do not follow the layout, including trailing bytes, and
// kInternal "pgoutput_unsupported" for message types of later protocol versions (streaming,
// two-phase), which annals never asks for.
Result<PgOutputMessage> Decode(std::string_view payload);

}  // namespace annals::pgoutput
