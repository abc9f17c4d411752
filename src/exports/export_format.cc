#include "exports/export_format.h"

#include <simdjson.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <tuple>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "domain/canonical_json.h"
#include "exports/canonical_event.h"

namespace annals::exports {
namespace {

namespace dom = simdjson::dom;

constexpr std::string_view kCsvHeader =
    "id,seq,organization_id,occurred_at,received_at,action,version,actor_id,actor_type,"
    "actor_name,target_types,target_ids,location,user_agent,metadata,changes,source_kind\r\n";

// gzip: uncompressed bytes are collected up to this size before each deflate call, and
// deflate writes through an output buffer of this size.
constexpr size_t kDeflateChunkBytes = 64 * 1024;
constexpr int kDeflateLevel = 1;
constexpr int kRawWindowBits = -15;  // 32 KiB window, raw deflate: annals writes the wrapper
// The gzip header (RFC 1952): deflate, no flags, no mtime, XFL 4 (fastest level), OS 3 (Unix).
constexpr std::string_view kGzipHeader{"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\x03", 10};

void AppendLittleEndian32(uint32_t v, std::string* out) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Runs deflate over all of stream->next_in with `flush`, appending to *out through `buffer`
// (kDeflateChunkBytes); done when deflate has taken all input (and, with Z_FINISH, written
// the end of the stream). Returns zlib's error code, or Z_OK.
int DeflateAll(z_stream* stream, int flush, Bytef* buffer, std::string* out) {
  for (;;) {
    stream->next_out = buffer;
    stream->avail_out = static_cast<uInt>(kDeflateChunkBytes);
    const int rc = deflate(stream, flush);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return rc;
    out->append(reinterpret_cast<const char*>(buffer), kDeflateChunkBytes - stream->avail_out);
    if (flush == Z_FINISH ? rc == Z_STREAM_END : stream->avail_out != 0) return Z_OK;
  }
}
constexpr int kDeflateMemLevel = 8;

// --- Byte classes ----------------------------------------------------------------------------

// Bytes that force an RFC 4180 field into quotes.
constexpr std::array<bool, 256> kCsvSpecial = [] {
  std::array<bool, 256> t{};
  t['"'] = t[','] = t['\r'] = t['\n'] = true;
  return t;
}();


// Length of the prefix of s[0..n) without kCsvSpecial bytes.
size_t CsvPlainPrefix(const char* s, size_t n) {
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i comma = _mm_set1_epi8(',');
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    const __m128i special =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, comma)),
                     _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
    const int mask = _mm_movemask_epi8(special);
    if (mask != 0) return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
  }
#endif
  while (i < n && !kCsvSpecial[static_cast<unsigned char>(s[i])]) ++i;
  return i;
}


// Copies s[0..n) to `to` and returns whether it holds a CR or LF byte: one pass over the
// event instead of two.
bool CopyAndFindLineBreak(const char* s, size_t n, char* to) {
  size_t i = 0;
  bool found = false;
#if defined(__SSE2__)
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  __m128i seen = _mm_setzero_si128();
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(to + i), v);
    seen = _mm_or_si128(seen, _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
  }
  found = _mm_movemask_epi8(seen) != 0;
#endif
  for (; i < n; ++i) {
    to[i] = s[i];
    found |= s[i] == '\r' || s[i] == '\n';
  }
  return found;
}

// Compares member names without a call to memcmp (they are short, and a call costs more
// than the comparison).
bool SameName(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  switch (a.size()) {
    case 2:
      return __builtin_memcmp(a.data(), b.data(), 2) == 0;
    case 3:
      return __builtin_memcmp(a.data(), b.data(), 3) == 0;
    case 4:
      return __builtin_memcmp(a.data(), b.data(), 4) == 0;
    case 5:
      return __builtin_memcmp(a.data(), b.data(), 5) == 0;
    case 6:
      return __builtin_memcmp(a.data(), b.data(), 6) == 0;
    case 7:
      return __builtin_memcmp(a.data(), b.data(), 7) == 0;
    case 8:
      return __builtin_memcmp(a.data(), b.data(), 8) == 0;
    default:
      return a == b;
  }
}

// A first byte that spreadsheets may take as the start of a formula (or that hides one).
bool IsFormulaLead(char c) {
  switch (c) {
    case '=':
    case '+':
    case '-':
    case '@':
    case '\t':
    case '\r':
    case '\n':
    case '\0':
      return true;
    default:
      return false;
  }
}

// --- Writing CSV records ---------------------------------------------------------------------

// Builds one CSV record in a reusable buffer. Not synchronized.
class CsvRecord {
 public:
  void Clear() { size_ = 0; }
  std::string_view view() const { return std::string_view(data_.get(), size_); }

  void Comma() {
    *Room(1) = ',';
    ++size_;
  }
  void End() {
    char* p = Room(2);
    p[0] = '\r';
    p[1] = '\n';
    size_ += 2;
  }

  void Unsigned(uint64_t value) {
    char* p = Room(20);
    size_ = std::to_chars(p, p + 20, value).ptr - data_.get();
  }

  // A text cell: neutralised (a "'" before a formula lead byte), then quoted per RFC 4180
  // if it holds '"', ',', CR or LF.
  void Text(std::string_view s) {
    char* p = Room(2 * s.size() + 3);
    const char* in = s.data();
    const size_t n = s.size();
    const bool neutralise = n != 0 && IsFormulaLead(in[0]);
    const size_t plain = CsvPlainPrefix(in, n);
    if (plain == n) {
      if (neutralise) *p++ = '\'';
      if (n != 0) std::memcpy(p, in, n);  // `in` may be null when n == 0
      size_ = p + n - data_.get();
      return;
    }
    *p++ = '"';
    if (neutralise) *p++ = '\'';
    // Copy runs up to each '"' and double it.
    size_t i = 0;
    while (i < n) {
      const void* quote = std::memchr(in + i, '"', n - i);
      const size_t run = quote == nullptr ? n - i : static_cast<const char*>(quote) - (in + i);
      std::memcpy(p, in + i, run);
      p += run;
      i += run;
      if (i < n) {
        *p++ = '"';
        *p++ = '"';
        ++i;
      }
    }
    *p++ = '"';
    size_ = p - data_.get();
  }

  // A text cell known to hold no '"', ',', CR or LF: neutralised like Text, never quoted.
  void PlainText(std::string_view s) {
    char* p = Room(s.size() + 1);
    if (!s.empty() && IsFormulaLead(s[0])) *p++ = '\'';
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    size_ = p + s.size() - data_.get();
  }

  // A cell holding the compact JSON of `value` (see JsonValue), quoted per RFC 4180
  // unless it has no '"' or ','. Never neutralised: it starts with '{' or '['.
  void Json(const dom::element& value) {
    const size_t start = size_;
    *Room(1) = '"';
    ++size_;
    special_ = false;
    JsonValue(value);
    if (special_) {
      *Room(1) = '"';
      ++size_;
    } else {  // e.g. {} or [1]: drop the opening quote
      std::memmove(data_.get() + start, data_.get() + start + 1, size_ - start - 1);
      --size_;
    }
  }

  // A cell holding the JSON array of `strings`, quoted like Json.
  template <typename Strings>
  void JsonStringArray(const Strings& strings) {
    if (strings.empty()) {
      std::memcpy(Room(2), "[]", 2);
      size_ += 2;
      return;
    }
    *Room(2) = '"';
    data_[size_ + 1] = '[';
    size_ += 2;
    bool first = true;
    for (std::string_view s : strings) {
      if (!first) Raw(',');
      first = false;
      JsonString(s);
    }
    std::memcpy(Room(2), "]\"", 2);
    size_ += 2;
  }

 private:
  // Makes room for n more bytes; returns where they go.
  char* Room(size_t n) {
    if (size_ + n > capacity_) {
      const size_t capacity = std::max(size_ + n, 2 * capacity_ + 1024);
      auto data = std::make_unique<char[]>(capacity);
      if (size_ != 0) std::memcpy(data.get(), data_.get(), size_);
      data_ = std::move(data);
      capacity_ = capacity;
    }
    return data_.get() + size_;
  }

  // A byte of JSON inside a quoted cell.
  void Raw(char c) {
    char* p = Room(2);
    *p++ = c;
    if (c == '"') *p++ = '"';
    if (c == '"' || c == ',') special_ = true;
    size_ = p - data_.get();
  }

  // JSON text from the canonical writer, inside a quoted cell.
  void RawText(std::string_view text) {
    for (char c : text) Raw(c);
  }

  // A JSON string literal with RFC 8785 escaping, its quotes doubled.
  void JsonString(std::string_view s) {
    special_ = true;
    if (JsonPlainPrefix(s.data(), s.size()) == s.size()) {  // nothing to escape
      char* p = Room(s.size() + 4);
      p[0] = p[1] = '"';
      if (!s.empty()) std::memcpy(p + 2, s.data(), s.size());
      p[s.size() + 2] = p[s.size() + 3] = '"';
      size_ += s.size() + 4;
      return;
    }
    scratch_.clear();
    AppendJsonString(s, &scratch_);
    RawText(scratch_);
  }

  // Compact JSON: no whitespace, members in stored order, strings and numbers written as
  // RFC 8785 prescribes. For a stored event, which is canonical, this reproduces the
  // member's text byte for byte.
  void JsonValue(const dom::element& value) {
    switch (value.type()) {
      case dom::element_type::OBJECT: {
        Raw('{');
        bool first = true;
        const dom::object object = value.get_object().value_unsafe();
        for (dom::key_value_pair member : object) {
          if (!first) Raw(',');
          first = false;
          JsonString(member.key);
          Raw(':');
          JsonValue(member.value);
        }
        Raw('}');
        return;
      }
      case dom::element_type::ARRAY: {
        Raw('[');
        bool first = true;
        const dom::array array = value.get_array().value_unsafe();
        for (dom::element element : array) {
          if (!first) Raw(',');
          first = false;
          JsonValue(element);
        }
        Raw(']');
        return;
      }
      case dom::element_type::STRING:
        JsonString(value.get_string().value_unsafe());
        return;
      case dom::element_type::INT64: {
        // Integers up to 2^53 print the same as the double they convert to, which is what
        // RFC 8785 prints.
        const int64_t i = value.get_int64().value_unsafe();
        constexpr int64_t kExact = int64_t{1} << 53;
        if (i >= -kExact && i <= kExact) {
          char* p = Room(20);
          size_ = std::to_chars(p, p + 20, i).ptr - data_.get();
          return;
        }
        Number(static_cast<double>(i));
        return;
      }
      case dom::element_type::UINT64:
        Number(static_cast<double>(value.get_uint64().value_unsafe()));
        return;
      case dom::element_type::DOUBLE:
        Number(value.get_double().value_unsafe());
        return;
      case dom::element_type::BOOL:
        RawText(value.get_bool().value_unsafe() ? "true" : "false");
        return;
      case dom::element_type::NULL_VALUE:
        RawText("null");
        return;
    }
  }

  void Number(double d) {
    scratch_.clear();
    AppendJsonNumber(d, &scratch_);
    RawText(scratch_);
  }

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
  bool special_ = false;  // Json: a '"' or ',' was written
  std::string scratch_;
};

// --- Reading an event ------------------------------------------------------------------------

// Top-level members the encoder reads.
enum Member : size_t {
  kId,
  kSeq,
  kOrganizationId,
  kOccurredAt,
  kReceivedAt,
  kAction,
  kVersion,
  kActor,
  kTargets,
  kContext,
  kMetadata,
  kChanges,
  kSource,
  kMemberCount,
};

constexpr std::array<std::string_view, kMemberCount> kMemberNames = {
    "id",    "seq",     "organization_id", "occurred_at", "received_at", "action", "version",
    "actor", "targets", "context",         "metadata",    "changes",     "source"};

Member FindMember(std::string_view name) {
  if (name.empty()) return kMemberCount;
  Member candidates[2] = {kMemberCount, kMemberCount};
  switch (name.front()) {
    case 'a':
      candidates[0] = kAction;
      candidates[1] = kActor;
      break;
    case 'c':
      candidates[0] = kChanges;
      candidates[1] = kContext;
      break;
    case 'i':
      candidates[0] = kId;
      break;
    case 'm':
      candidates[0] = kMetadata;
      break;
    case 'o':
      candidates[0] = kOccurredAt;
      candidates[1] = kOrganizationId;
      break;
    case 'r':
      candidates[0] = kReceivedAt;
      break;
    case 's':
      candidates[0] = kSeq;
      candidates[1] = kSource;
      break;
    case 't':
      candidates[0] = kTargets;
      break;
    case 'v':
      candidates[0] = kVersion;
      break;
    default:
      break;
  }
  for (Member m : candidates) {
    if (m != kMemberCount && SameName(kMemberNames[m], name)) return m;
  }
  return kMemberCount;
}

// The fields of one event that the CSV columns need: views into the event's text (fast
// path) or the parser's buffers (general path); valid until the next event is parsed.
struct CsvFields : CanonicalEvent {
  bool canonical = false;  // read by ReadCanonicalEvent
  // General path: metadata and changes as parsed; nullptr when absent or null (the fast
  // path leaves them null and sets metadata_json and changes_json instead).
  const dom::element* metadata = nullptr;
  const dom::element* changes = nullptr;
  dom::element metadata_value, changes_value;
};

// What is wrong with an event: the member (its path and name are rendered only when it is
// reported) and the problem.
struct Problem {
  std::string_view parent;  // "" for top-level members, else "actor", "targets", ...
  size_t index = 0;         // the target's position, when parent is "targets"
  std::string_view key;     // "" when the problem is the parent (a target) itself
  const char* what = "";

  Status ToStatus() const {
    std::string path, name;
    if (!parent.empty()) {
      path.append("/").append(parent);
      name.append(parent);
      if (parent == "targets") {
        path.append("/").append(std::to_string(index));
        name.append("[").append(std::to_string(index)).append("]");
      }
    }
    if (!key.empty()) {
      path.append("/").append(key);
      if (!name.empty()) name.append(".");
      name.append(key);
    }
    std::string detail = name + " " + what;
    std::string message = "cannot export the event: " + detail;
    return Status::InvalidArgument(std::move(message), "invalid_event",
                                   {ErrorDetail{std::move(path), std::move(detail)}});
  }
};

// A problem with the event as a whole.
Status InvalidEvent(std::string what) {
  std::string detail = "the event " + what;
  std::string message = "cannot export the event: " + detail;
  return Status::InvalidArgument(std::move(message), "invalid_event",
                                 {ErrorDetail{"", std::move(detail)}});
}

bool IsAbsent(const dom::element* e) { return e == nullptr || e->is_null(); }

// Reads a required string member; returns the problem, or nullptr.
const char* ReadString(const dom::element* e, std::string_view* out) {
  if (e == nullptr) return "is missing";
  if (e->get_string().get(*out) != simdjson::SUCCESS) return "must be a string";
  return nullptr;
}

// Reads an optional string member: absent and null leave *out empty.
const char* ReadOptionalString(const dom::element* e, std::string_view* out) {
  if (IsAbsent(e)) return nullptr;
  if (e->get_string().get(*out) != simdjson::SUCCESS) return "must be a string or null";
  return nullptr;
}

// The members of a nested object that the encoder reads, by name (the first occurrence
// counts).
template <size_t N>
struct NestedMembers {
  NestedMembers(const dom::object& object, const std::array<std::string_view, N>& names) {
    for (dom::key_value_pair member : object) {
      for (size_t i = 0; i < N; ++i) {
        if (present[i] == nullptr && SameName(member.key, names[i])) {
          values[i] = member.value;
          present[i] = &values[i];
          break;
        }
      }
    }
  }
  std::array<dom::element, N> values;
  std::array<const dom::element*, N> present{};
};

constexpr std::array<std::string_view, 3> kEntityNames = {"id", "type", "name"};
constexpr std::array<std::string_view, 2> kContextNames = {"location", "user_agent"};
constexpr std::array<std::string_view, 1> kSourceNames = {"kind"};

// Checks an actor or a target object: {id, type: strings; name: optional string}.
bool ReadEntity(const dom::element& value, Problem* problem, std::string_view* id,
                std::string_view* type, std::string_view* name) {
  dom::object object;
  if (value.get_object().get(object) != simdjson::SUCCESS) {
    problem->what = "must be an object";
    return false;
  }
  const NestedMembers<3> m(object, kEntityNames);
  for (auto [key, what] : {std::pair{"id", ReadString(m.present[0], id)},
                           std::pair{"type", ReadString(m.present[1], type)},
                           std::pair{"name", ReadOptionalString(m.present[2], name)}}) {
    if (what != nullptr) {
      problem->key = key;
      problem->what = what;
      return false;
    }
  }
  return true;
}

// Checks the members of a parsed event (see ExportEncoder::Add) and fills *f. With
// `target_types` and `target_ids`, also collects the targets' types and ids.
bool ReadEvent(const dom::object& event, CsvFields* f, std::vector<std::string_view>* target_types,
               std::vector<std::string_view>* target_ids, Problem* problem) {
  std::array<dom::element, kMemberCount> values;
  std::array<const dom::element*, kMemberCount> present{};
  for (dom::key_value_pair member : event) {
    const Member m = FindMember(member.key);
    if (m != kMemberCount && present[m] == nullptr) {
      values[m] = member.value;
      present[m] = &values[m];
    }
  }
  const auto fail = [&](Member m, const char* what) {
    problem->key = kMemberNames[m];
    problem->what = what;
    return false;
  };

  for (auto [m, out] : {std::pair{kId, &f->id}, std::pair{kOrganizationId, &f->organization_id},
                        std::pair{kOccurredAt, &f->occurred_at},
                        std::pair{kReceivedAt, &f->received_at}, std::pair{kAction, &f->action}}) {
    if (const char* what = ReadString(present[m], out)) return fail(m, what);
  }

  if (present[kSeq] == nullptr) return fail(kSeq, "is missing");
  if (present[kSeq]->get_uint64().get(f->seq) != simdjson::SUCCESS || f->seq == 0) {
    return fail(kSeq, "must be an integer of at least 1");
  }

  if (!IsAbsent(present[kVersion])) {
    const dom::element& v = *present[kVersion];
    int64_t negative = 0;
    f->has_version = true;
    if (v.get_uint64().get(f->version_magnitude) != simdjson::SUCCESS) {
      if (v.get_int64().get(negative) != simdjson::SUCCESS) {
        return fail(kVersion, "must be an integer or null");
      }
      f->version_negative = true;
      f->version_magnitude = 0 - static_cast<uint64_t>(negative);
    }
  }

  if (present[kActor] == nullptr) return fail(kActor, "is missing");
  problem->parent = "actor";
  if (!ReadEntity(*present[kActor], problem, &f->actor_id, &f->actor_type, &f->actor_name)) {
    return false;
  }
  problem->parent = "";

  if (present[kTargets] == nullptr) return fail(kTargets, "is missing");
  dom::array targets;
  if (present[kTargets]->get_array().get(targets) != simdjson::SUCCESS) {
    return fail(kTargets, "must be an array");
  }
  if (target_types != nullptr) {
    target_types->clear();
    target_ids->clear();
  }
  problem->parent = "targets";
  problem->index = 0;
  for (dom::element target : targets) {
    std::string_view id, type, name;
    if (!ReadEntity(target, problem, &id, &type, &name)) return false;
    if (target_types != nullptr) {
      target_types->push_back(type);
      target_ids->push_back(id);
    }
    ++problem->index;
  }
  problem->parent = "";

  if (!IsAbsent(present[kContext])) {
    dom::object context;
    if (present[kContext]->get_object().get(context) != simdjson::SUCCESS) {
      return fail(kContext, "must be an object or null");
    }
    const NestedMembers<2> m(context, kContextNames);
    problem->parent = "context";
    for (auto [key, what] :
         {std::pair{"location", ReadOptionalString(m.present[0], &f->location)},
          std::pair{"user_agent", ReadOptionalString(m.present[1], &f->user_agent)}}) {
      if (what != nullptr) {
        problem->key = key;
        problem->what = what;
        return false;
      }
    }
    problem->parent = "";
  }

  for (auto [m, value, at] : {std::tuple{kMetadata, &f->metadata_value, &f->metadata},
                              std::tuple{kChanges, &f->changes_value, &f->changes}}) {
    if (IsAbsent(present[m])) continue;
    if (!present[m]->is_object()) return fail(m, "must be an object or null");
    *value = *present[m];
    *at = value;
  }

  if (present[kSource] == nullptr) return fail(kSource, "is missing");
  dom::object source;
  if (present[kSource]->get_object().get(source) != simdjson::SUCCESS) {
    return fail(kSource, "must be an object");
  }
  const NestedMembers<1> m(source, kSourceNames);
  if (const char* what = ReadString(m.present[0], &f->source_kind)) {
    problem->parent = "source";
    problem->key = "kind";
    problem->what = what;
    return false;
  }
  return true;
}

}  // namespace

// --- Formats ---------------------------------------------------------------------------------

Result<ExportFormat> ParseExportFormat(std::string_view name) {
  if (name == "csv") return ExportFormat::kCsv;
  if (name == "ndjson") return ExportFormat::kNdjson;
  if (name == "json") return ExportFormat::kJson;
  return Status::InvalidArgument("unknown export format \"" + std::string(name) +
                                 "\"; the format must be one of csv, ndjson, json");
}

std::string_view ExportFormatName(ExportFormat format) {
  switch (format) {
    case ExportFormat::kCsv:
      return "csv";
    case ExportFormat::kNdjson:
      return "ndjson";
    case ExportFormat::kJson:
      return "json";
  }
  return "";
}

std::string_view ContentType(ExportFormat format) {
  switch (format) {
    case ExportFormat::kCsv:
      return "text/csv; charset=utf-8";
    case ExportFormat::kNdjson:
      return "application/x-ndjson";
    case ExportFormat::kJson:
      return "application/json";
  }
  return "";
}

std::string_view FileExtension(ExportFormat format, bool gzip) {
  switch (format) {
    case ExportFormat::kCsv:
      return gzip ? "csv.gz" : "csv";
    case ExportFormat::kNdjson:
      return gzip ? "ndjson.gz" : "ndjson";
    case ExportFormat::kJson:
      return gzip ? "json.gz" : "json";
  }
  return "";
}

// --- ExportEncoder ---------------------------------------------------------------------------

struct ExportEncoder::Impl {
  enum class State { kNew, kOpen, kFinished };

  Impl(ExportFormat f, bool z) : format(f), gzip(z) {}
  ~Impl() {
    if (deflating) deflateEnd(&stream);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Where encoded bytes go: *out directly, or the staging buffer that feeds deflate.
  std::string* Sink(std::string* out) { return gzip ? &staging : out; }

  // Accounts for the bytes appended to Sink(out) since it had `before` bytes; with gzip,
  // compresses the staging buffer into *out once it is full, or entirely with a flush other
  // than Z_NO_FLUSH: Z_FULL_FLUSH leaves *out byte-aligned with nothing after it referring to
  // what came before (so that a compressed piece can follow), Z_FINISH ends the deflate
  // stream and appends the gzip trailer.
  Status Flush(std::string* out, size_t before, int flush = Z_NO_FLUSH) {
    if (!gzip) {
      bytes_out += out->size() - before;
      return Status::Ok();
    }
    if (flush == Z_NO_FLUSH && staging.size() < kDeflateChunkBytes) return Status::Ok();
    if (flush == Z_FULL_FLUSH && staging.empty() && !dirty) return Status::Ok();
    crc = crc32(crc, reinterpret_cast<const Bytef*>(staging.data()),
                static_cast<uInt>(staging.size()));
    uncompressed += staging.size();
    stream.next_in = reinterpret_cast<Bytef*>(staging.data());
    stream.avail_in = static_cast<uInt>(staging.size());
    const size_t out_before = out->size();
    const int rc = DeflateAll(&stream, flush, deflate_out.get(), out);
    if (rc != Z_OK) {
      state = State::kFinished;
      return Status::Internal("gzip compression of the export failed (zlib error " +
                              std::to_string(rc) + ")");
    }
    dirty = flush == Z_NO_FLUSH;
    if (flush == Z_FINISH) {
      AppendLittleEndian32(static_cast<uint32_t>(crc), out);
      AppendLittleEndian32(static_cast<uint32_t>(uncompressed & 0xffffffffu), out);
    }
    bytes_out += out->size() - out_before;
    staging.clear();
    return Status::Ok();
  }

  void Begin(std::string* out) {
    if (state != State::kNew) return;
    state = State::kOpen;
    if (gzip) {
      out->append(kGzipHeader);
      bytes_out += kGzipHeader.size();
    }
    std::string* sink = Sink(out);
    const size_t before = sink->size();
    if (format == ExportFormat::kCsv) sink->append(kCsvHeader);
    if (format == ExportFormat::kJson) sink->push_back('[');
    // The staging buffer is far from full, so this only counts bytes and cannot fail.
    (void)Flush(out, before);
  }

  // Validates `event_json` and fills *fields (valid until the next Parse); for CSV also
  // collects the targets' types and ids.
  Status Parse(std::string_view event_json, CsvFields* fields) {
    const bool csv = format == ExportFormat::kCsv;
    // Stored events are canonical: read them straight from their text. Anything else takes
    // the general path, which accepts and rejects exactly what the contract says.
    if (ReadCanonicalEvent(event_json, fields, csv ? &target_types : nullptr,
                           csv ? &target_ids : nullptr)) {
      fields->canonical = true;
      return Status::Ok();
    }
    *fields = CsvFields{};
    // simdjson reads up to SIMDJSON_PADDING bytes past the end of its input.
    const size_t needed = event_json.size() + simdjson::SIMDJSON_PADDING;
    if (needed > input_capacity) {
      input_capacity = std::max(needed, 2 * input_capacity);
      input = std::make_unique<char[]>(input_capacity);
    }
    if (CopyAndFindLineBreak(event_json.data(), event_json.size(), input.get())) {
      return InvalidEvent("contains a line break (CR or LF)");
    }
    std::memset(input.get() + event_json.size(), 0, simdjson::SIMDJSON_PADDING);
    dom::element root;
    const simdjson::error_code err =
        parser.parse(input.get(), event_json.size(), /*realloc_if_needed=*/false).get(root);
    if (err != simdjson::SUCCESS) {
      return InvalidEvent(std::string("is not valid JSON (") + simdjson::error_message(err) + ")");
    }
    dom::object event;
    if (root.get_object().get(event) != simdjson::SUCCESS) {
      return InvalidEvent("is not a JSON object");
    }
    Problem problem;
    if (!ReadEvent(event, fields, csv ? &target_types : nullptr, csv ? &target_ids : nullptr,
                   &problem)) {
      return problem.ToStatus();
    }
    return Status::Ok();
  }

  // Builds the CSV record of the event whose fields Parse extracted.
  void BuildCsvRecord(const CsvFields& f, bool canonical) {
    // A canonical text member holds no escape, so no '"', CR or LF: only a ',' makes it
    // need quotes, and the reader noted which ones hold one.
    const auto text = [&](std::string_view cell, uint32_t member) {
      if (canonical && (f.with_comma & member) == 0) {
        record.PlainText(cell);
      } else {
        record.Text(cell);
      }
    };
    using M = CanonicalEvent;
    record.Clear();
    text(f.id, M::kIdText);
    record.Comma();
    record.Unsigned(f.seq);
    for (auto [cell, member] :
         {std::pair{f.organization_id, M::kOrganizationIdText},
          std::pair{f.occurred_at, M::kOccurredAtText}, std::pair{f.received_at, M::kReceivedAtText},
          std::pair{f.action, M::kActionText}}) {
      record.Comma();
      text(cell, member);
    }
    record.Comma();
    if (f.has_version) {
      char buf[24];
      char* p = buf;
      if (f.version_negative) *p++ = '-';
      p = std::to_chars(p, buf + sizeof(buf), f.version_magnitude).ptr;
      record.Text(std::string_view(buf, p - buf));
    }
    for (auto [cell, member] : {std::pair{f.actor_id, M::kActorIdText},
                                std::pair{f.actor_type, M::kActorTypeText},
                                std::pair{f.actor_name, M::kActorNameText}}) {
      record.Comma();
      text(cell, member);
    }
    record.Comma();
    record.JsonStringArray(target_types);
    record.Comma();
    record.JsonStringArray(target_ids);
    record.Comma();
    text(f.location, M::kLocationText);
    record.Comma();
    text(f.user_agent, M::kUserAgentText);
    record.Comma();
    // The fast path's JSON text is canonical, which is what Json writes: a text cell gives
    // it the same quoting (it starts with '{', so it is never neutralised).
    if (f.metadata != nullptr) {
      record.Json(*f.metadata);
    } else {
      record.Text(f.metadata_json);
    }
    record.Comma();
    if (f.changes != nullptr) {
      record.Json(*f.changes);
    } else {
      record.Text(f.changes_json);
    }
    record.Comma();
    text(f.source_kind, M::kSourceKindText);
    record.End();
  }

  // Appends the row of the event that Parse validated into *fields; JSON elements get their
  // separator: "\n" before the first of the file, ",\n" before the others.
  void AppendRow(std::string_view event_json, const CsvFields& fields, bool first,
                 std::string* dst) {
    switch (format) {
      case ExportFormat::kCsv:
        BuildCsvRecord(fields, fields.canonical);
        dst->append(record.view());
        break;
      case ExportFormat::kNdjson:
        dst->append(event_json);
        dst->push_back('\n');
        break;
      case ExportFormat::kJson:
        dst->append(first ? "\n" : ",\n");
        dst->append(event_json);
        break;
    }
  }

  static void AppendVerifiableRow(std::string_view event_json, uint64_t leaf_index,
                                  std::string* dst) {
    dst->append("{\"event\":");
    dst->append(event_json);
    dst->append(",\"leaf_index\":");
    char digits[24];
    dst->append(digits, std::to_chars(digits, digits + sizeof digits, leaf_index).ptr);
    dst->append("}\n");
  }

  Status Add(std::string_view event_json, std::string* out) {
    if (state == State::kFinished) return Status::Internal("the export is already finished");
    Begin(out);
    CsvFields fields;
    ANNALS_RETURN_IF_ERROR(Parse(event_json, &fields));
    std::string* sink = Sink(out);
    const size_t before = sink->size();
    AppendRow(event_json, fields, rows == 0, sink);
    ++rows;
    return Flush(out, before);
  }

  Status AddVerifiable(std::string_view event_json, uint64_t leaf_index, std::string* out) {
    if (state == State::kFinished) return Status::Internal("the export is already finished");
    if (format != ExportFormat::kNdjson) {
      return Status::InvalidArgument("only NDJSON exports can be verifiable");
    }
    Begin(out);
    CsvFields fields;
    ANNALS_RETURN_IF_ERROR(Parse(event_json, &fields));
    std::string* sink = Sink(out);
    const size_t before = sink->size();
    AppendVerifiableRow(event_json, leaf_index, sink);
    ++rows;
    return Flush(out, before);
  }

  Status EncodeRow(std::string_view event_json, std::string* rows_out) {
    CsvFields fields;
    ANNALS_RETURN_IF_ERROR(Parse(event_json, &fields));
    AppendRow(event_json, fields, /*first=*/false, rows_out);
    return Status::Ok();
  }

  Status EncodeVerifiableRow(std::string_view event_json, uint64_t leaf_index,
                             std::string* rows_out) {
    if (format != ExportFormat::kNdjson) {
      return Status::InvalidArgument("only NDJSON exports can be verifiable");
    }
    CsvFields fields;
    ANNALS_RETURN_IF_ERROR(Parse(event_json, &fields));
    AppendVerifiableRow(event_json, leaf_index, rows_out);
    return Status::Ok();
  }

  Status AddCompressed(std::string_view encoded, const CompressedRows& piece, uint64_t count,
                       std::string* out) {
    if (state == State::kFinished) return Status::Internal("the export is already finished");
    if (!gzip) return Status::InvalidArgument("compressed rows need a gzip export");
    // The file's first JSON element takes another separator than the piece holds.
    if (format == ExportFormat::kJson && rows == 0) return AddEncoded(encoded, count, out);
    Begin(out);
    if (count == 0) return Status::Ok();
    ANNALS_RETURN_IF_ERROR(Flush(out, out->size(), Z_FULL_FLUSH));
    out->append(piece.deflated);
    bytes_out += piece.deflated.size();
    crc = crc32_combine(crc, piece.crc32, static_cast<z_off_t>(piece.size));
    uncompressed += piece.size;
    rows += count;
    return Status::Ok();
  }

  Status AddEncoded(std::string_view encoded, uint64_t count, std::string* out) {
    if (state == State::kFinished) return Status::Internal("the export is already finished");
    Begin(out);
    if (count == 0) return Status::Ok();
    // Encoded JSON elements all start with ",\n"; the file's first one takes "\n".
    if (format == ExportFormat::kJson && rows == 0 && !encoded.empty() && encoded[0] == ',') {
      encoded.remove_prefix(1);
    }
    std::string* sink = Sink(out);
    const size_t before = sink->size();
    sink->append(encoded);
    rows += count;
    return Flush(out, before);
  }

  Status AddTrailer(std::string_view line, std::string* out) {
    if (state == State::kFinished) return Status::Internal("the export is already finished");
    if (format != ExportFormat::kNdjson) {
      return Status::InvalidArgument("only NDJSON exports can be verifiable");
    }
    Begin(out);
    std::string* sink = Sink(out);
    const size_t before = sink->size();
    sink->append(line);
    sink->push_back('\n');
    return Flush(out, before);
  }

  Status Finish(std::string* out) {
    if (state == State::kFinished) return Status::Internal("the export is already finished");
    Begin(out);
    std::string* sink = Sink(out);
    const size_t before = sink->size();
    if (format == ExportFormat::kJson) sink->append("\n]\n");
    ANNALS_RETURN_IF_ERROR(Flush(out, before, Z_FINISH));
    state = State::kFinished;
    return Status::Ok();
  }

  const ExportFormat format;
  const bool gzip;
  State state = State::kNew;
  uint64_t rows = 0;
  uint64_t bytes_out = 0;

  // Parsing: the event copied into a buffer with simdjson's padding, and the parser; both
  // are reused from event to event and grow to the largest event seen.
  std::unique_ptr<char[]> input;
  size_t input_capacity = 0;
  dom::parser parser;

  // CSV: the targets' types and ids (views into the parser), and the record being built.
  std::vector<std::string_view> target_types;
  std::vector<std::string_view> target_ids;
  CsvRecord record;

  // gzip only: the deflate stream of the bytes the encoder compresses itself, whether it has
  // taken input since its last flush, and the CRC-32 and length of the whole file's content
  // (its own bytes and the pieces').
  z_stream stream{};
  bool deflating = false;
  bool dirty = false;
  uLong crc = crc32(0, nullptr, 0);
  uint64_t uncompressed = 0;
  std::string staging;
  std::unique_ptr<Bytef[]> deflate_out;
};

Result<ExportEncoder> ExportEncoder::Create(ExportFormat format, bool gzip) {
  auto impl = std::make_unique<Impl>(format, gzip);
  if (gzip) {
    const int rc = deflateInit2(&impl->stream, kDeflateLevel, Z_DEFLATED, kRawWindowBits,
                                kDeflateMemLevel, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) {
      return Status::Internal("cannot set up gzip compression (zlib error " + std::to_string(rc) +
                              ")");
    }
    impl->deflating = true;
    impl->staging.reserve(kDeflateChunkBytes + 4096);
    impl->deflate_out = std::make_unique<Bytef[]>(kDeflateChunkBytes);
  }
  return ExportEncoder(std::move(impl));
}

ExportEncoder::ExportEncoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ExportEncoder::ExportEncoder(ExportEncoder&&) noexcept = default;
ExportEncoder& ExportEncoder::operator=(ExportEncoder&&) noexcept = default;
ExportEncoder::~ExportEncoder() = default;

void ExportEncoder::Begin(std::string* out) { impl_->Begin(out); }
Status ExportEncoder::Add(std::string_view event_json, std::string* out) {
  return impl_->Add(event_json, out);
}
Status ExportEncoder::AddVerifiable(std::string_view event_json, uint64_t leaf_index,
                                    std::string* out) {
  return impl_->AddVerifiable(event_json, leaf_index, out);
}
Status ExportEncoder::EncodeRow(std::string_view event_json, std::string* rows) {
  return impl_->EncodeRow(event_json, rows);
}
Status ExportEncoder::EncodeVerifiableRow(std::string_view event_json, uint64_t leaf_index,
                                          std::string* rows) {
  return impl_->EncodeVerifiableRow(event_json, leaf_index, rows);
}
Status ExportEncoder::AddEncoded(std::string_view rows, uint64_t count, std::string* out) {
  return impl_->AddEncoded(rows, count, out);
}
Status ExportEncoder::AddCompressed(std::string_view rows, const CompressedRows& piece,
                                    uint64_t count, std::string* out) {
  return impl_->AddCompressed(rows, piece, count, out);
}

struct RowCompressor::Impl {
  ~Impl() {
    if (ready) deflateEnd(&stream);
  }
  z_stream stream{};
  bool ready = false;
  std::unique_ptr<Bytef[]> buffer = std::make_unique<Bytef[]>(kDeflateChunkBytes);
};

Result<RowCompressor> RowCompressor::Create() {
  auto impl = std::make_unique<Impl>();
  const int rc = deflateInit2(&impl->stream, kDeflateLevel, Z_DEFLATED, kRawWindowBits,
                              kDeflateMemLevel, Z_DEFAULT_STRATEGY);
  if (rc != Z_OK) {
    return Status::Internal("cannot set up gzip compression (zlib error " + std::to_string(rc) +
                            ")");
  }
  impl->ready = true;
  return RowCompressor(std::move(impl));
}

RowCompressor::RowCompressor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RowCompressor::RowCompressor(RowCompressor&&) noexcept = default;
RowCompressor& RowCompressor::operator=(RowCompressor&&) noexcept = default;
RowCompressor::~RowCompressor() = default;

Status RowCompressor::Compress(std::string_view rows, CompressedRows* piece) {
  z_stream* stream = &impl_->stream;
  deflateReset(stream);
  piece->deflated.clear();
  piece->crc32 = static_cast<uint32_t>(
      crc32(crc32(0, nullptr, 0), reinterpret_cast<const Bytef*>(rows.data()),
            static_cast<uInt>(rows.size())));
  piece->size = rows.size();
  stream->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(rows.data()));
  stream->avail_in = static_cast<uInt>(rows.size());
  // A sync flush ends the piece byte-aligned and not final; after deflateReset it refers to
  // nothing before it.
  const int rc = DeflateAll(stream, Z_SYNC_FLUSH, impl_->buffer.get(), &piece->deflated);
  if (rc != Z_OK) {
    return Status::Internal("gzip compression of the export failed (zlib error " +
                            std::to_string(rc) + ")");
  }
  return Status::Ok();
}

Status ExportEncoder::AddTrailer(std::string_view line, std::string* out) {
  return impl_->AddTrailer(line, out);
}
Status ExportEncoder::Finish(std::string* out) { return impl_->Finish(out); }
ExportFormat ExportEncoder::format() const { return impl_->format; }
bool ExportEncoder::gzip() const { return impl_->gzip; }
uint64_t ExportEncoder::rows() const { return impl_->rows; }
uint64_t ExportEncoder::bytes_out() const { return impl_->bytes_out; }

}  // namespace annals::exports
