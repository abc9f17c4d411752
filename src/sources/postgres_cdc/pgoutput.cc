#include "sources/postgres_cdc/pgoutput.h"

#include <cstdio>
#include <cstring>

namespace annals::pgoutput {

namespace {

// A bounds-checked big-endian reader over one message. Every read fails (and stays failed)
// once it would run past the end.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}

  bool ok() const { return ok_; }
  size_t offset() const { return pos_; }
  bool AtEnd() const { return pos_ == data_.size(); }

  uint8_t U8() { return static_cast<uint8_t>(Fixed(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Fixed(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Fixed(4)); }
  uint64_t U64() { return Fixed(8); }
  int32_t I32() { return static_cast<int32_t>(U32()); }
  int64_t I64() { return static_cast<int64_t>(U64()); }

  // A NUL-terminated string (the NUL is not part of the view).
  std::string_view CString() {
    if (!ok_) return {};
    const size_t end = data_.find('\0', pos_);
    if (end == std::string_view::npos) {
      ok_ = false;
      return {};
    }
    std::string_view s = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }

  std::string_view Bytes(size_t n) {
    if (!ok_ || data_.size() - pos_ < n) {
      ok_ = false;
      return {};
    }
    std::string_view s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  uint64_t Fixed(size_t n) {
    if (!ok_ || data_.size() - pos_ < n) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(data_[pos_ + i]);
    pos_ += n;
    return v;
  }

  std::string_view data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

Status Malformed(char type, const Reader& r, const std::string& what) {
  std::string msg = "malformed pgoutput message '";
  msg += type;
  msg += "' at byte " + std::to_string(r.offset()) + ": " + what;
  return Status(Code::kInternal, "pgoutput_malformed", std::move(msg));
}

bool ReadTuple(Reader& r, Tuple* out) {
  const uint16_t n = r.U16();
  if (!r.ok()) return false;
  out->clear();
  out->reserve(n);
  for (uint16_t i = 0; i < n; ++i) {
    TupleColumn col;
    const char kind = static_cast<char>(r.U8());
    if (!r.ok()) return false;
    switch (kind) {
      case 'n':
        col.kind = ColumnKind::kNull;
        break;
      case 'u':
        col.kind = ColumnKind::kUnchanged;
        break;
      case 't':
      case 'b': {
        col.kind = kind == 't' ? ColumnKind::kText : ColumnKind::kBinary;
        const int32_t len = r.I32();
        if (!r.ok() || len < 0) return false;
        col.data = r.Bytes(static_cast<size_t>(len));
        if (!r.ok()) return false;
        break;
      }
      default:
        return false;
    }
    out->push_back(col);
  }
  return true;
}

void PutU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

}  // namespace

std::string FormatLsn(Lsn lsn) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32),
                static_cast<unsigned>(lsn & 0xffffffffu));
  return buf;
}

bool ParseLsn(std::string_view text, Lsn* out) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return false;
  auto half = [](std::string_view s, uint64_t* v) {
    if (s.empty() || s.size() > 8) return false;
    uint64_t x = 0;
    for (char c : s) {
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else {
        return false;
      }
      x = x * 16 + static_cast<uint64_t>(d);
    }
    *v = x;
    return true;
  };
  uint64_t hi = 0, lo = 0;
  if (!half(text.substr(0, slash), &hi) || !half(text.substr(slash + 1), &lo)) return false;
  *out = (hi << 32) | lo;
  return true;
}

Result<CopyData> DecodeCopyData(std::string_view data) {
  if (data.empty()) {
    return Status(Code::kInternal, "replication_protocol", "empty CopyData message");
  }
  Reader r(data.substr(1));
  switch (data[0]) {
    case 'w': {
      XLogData w;
      w.data_start = r.U64();
      w.wal_end = r.U64();
      w.send_time = r.I64();
      if (!r.ok()) break;
      w.payload = data.substr(25);
      return CopyData(w);
    }
    case 'k': {
      Keepalive k;
      k.wal_end = r.U64();
      k.send_time = r.I64();
      k.reply_requested = r.U8() != 0;
      if (!r.ok()) break;
      return CopyData(k);
    }
    default:
      return Status(Code::kInternal, "replication_protocol",
                    std::string("unexpected CopyData message type '") + data[0] + "'");
  }
  return Status(Code::kInternal, "replication_protocol",
                std::string("truncated CopyData message '") + data[0] + "' of " +
                    std::to_string(data.size()) + " bytes");
}

std::string EncodeStandbyStatus(Lsn written, Lsn flushed, Lsn applied, int64_t now_pg_us,
                                bool reply_requested) {
  std::string out;
  out.reserve(34);
  out.push_back('r');
  PutU64(&out, written);
  PutU64(&out, flushed);
  PutU64(&out, applied);
  PutU64(&out, static_cast<uint64_t>(now_pg_us));
  out.push_back(reply_requested ? 1 : 0);
  return out;
}

Result<PgOutputMessage> Decode(std::string_view payload) {
  if (payload.empty()) {
    return Status(Code::kInternal, "pgoutput_malformed", "empty pgoutput message");
  }
  const char type = payload[0];
  Reader r(payload.substr(1));
  PgOutputMessage out;
  switch (type) {
    case 'B': {
      Begin m;
      m.final_lsn = r.U64();
      m.commit_ts = r.I64();
      m.xid = r.U32();
      out = m;
      break;
    }
    case 'C': {
      Commit m;
      m.flags = r.U8();
      m.commit_lsn = r.U64();
      m.end_lsn = r.U64();
      m.commit_ts = r.I64();
      out = m;
      break;
    }
    case 'O': {
      Origin m;
      m.commit_lsn = r.U64();
      m.name = r.CString();
      out = m;
      break;
    }
    case 'R': {
      Relation m;
      m.relid = r.U32();
      m.nspname = r.CString();
      m.relname = r.CString();
      m.replica_identity = static_cast<char>(r.U8());
      const uint16_t n = r.U16();
      if (!r.ok()) return Malformed(type, r, "truncated header");
      m.columns.reserve(n);
      for (uint16_t i = 0; i < n && r.ok(); ++i) {
        RelationColumn c;
        c.part_of_identity = (r.U8() & 1) != 0;
        c.name = r.CString();
        c.type_oid = r.U32();
        c.type_modifier = r.I32();
        m.columns.push_back(c);
      }
      out = std::move(m);
      break;
    }
    case 'Y': {
      Type m;
      m.oid = r.U32();
      m.nspname = r.CString();
      m.typname = r.CString();
      out = m;
      break;
    }
    case 'I': {
      Insert m;
      m.relid = r.U32();
      const char n = static_cast<char>(r.U8());
      if (!r.ok()) return Malformed(type, r, "truncated header");
      if (n != 'N') return Malformed(type, r, "expected 'N' before the new tuple");
      if (!ReadTuple(r, &m.new_tuple)) return Malformed(type, r, "bad tuple");
      out = std::move(m);
      break;
    }
    case 'U': {
      Update m;
      m.relid = r.U32();
      char kind = static_cast<char>(r.U8());
      if (!r.ok()) return Malformed(type, r, "truncated header");
      if (kind == 'K' || kind == 'O') {
        m.old_kind = kind;
        if (!ReadTuple(r, &m.old_tuple)) return Malformed(type, r, "bad old tuple");
        kind = static_cast<char>(r.U8());
        if (!r.ok()) return Malformed(type, r, "missing the new tuple");
      }
      if (kind != 'N') return Malformed(type, r, "expected 'N' before the new tuple");
      if (!ReadTuple(r, &m.new_tuple)) return Malformed(type, r, "bad new tuple");
      out = std::move(m);
      break;
    }
    case 'D': {
      Delete m;
      m.relid = r.U32();
      const char kind = static_cast<char>(r.U8());
      if (!r.ok()) return Malformed(type, r, "truncated header");
      if (kind != 'K' && kind != 'O') return Malformed(type, r, "expected 'K' or 'O'");
      m.old_kind = kind;
      if (!ReadTuple(r, &m.old_tuple)) return Malformed(type, r, "bad old tuple");
      out = std::move(m);
      break;
    }
    case 'T': {
      Truncate m;
      const uint32_t n = r.U32();
      m.options = r.U8();
      if (!r.ok()) return Malformed(type, r, "truncated header");
      if (n > payload.size() / 4) return Malformed(type, r, "relation count exceeds the message");
      m.relids.reserve(n);
      for (uint32_t i = 0; i < n && r.ok(); ++i) m.relids.push_back(r.U32());
      out = std::move(m);
      break;
    }
    case 'M': {
      Message m;
      m.transactional = (r.U8() & 1) != 0;
      m.lsn = r.U64();
      m.prefix = r.CString();
      const int32_t len = r.I32();
      if (!r.ok() || len < 0) return Malformed(type, r, "truncated header");
      m.content = r.Bytes(static_cast<size_t>(len));
      out = m;
      break;
    }
    case 'S':
    case 'E':
    case 'c':
    case 'A':
    case 'b':
    case 'P':
    case 'K':
    case 'r':
    case 'p':
      return Status(Code::kInternal, "pgoutput_unsupported",
                    std::string("pgoutput message '") + type +
                        "' belongs to a later protocol version than the one annals requested (1)");
    default:
      return Status(Code::kInternal, "pgoutput_malformed",
                    std::string("unknown pgoutput message type '") + type + "'");
  }
  if (!r.ok()) return Malformed(type, r, "truncated message");
  if (!r.AtEnd()) return Malformed(type, r, "unexpected trailing bytes");
  return out;
}

}  // namespace annals::pgoutput
