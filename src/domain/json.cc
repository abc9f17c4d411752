#include "domain/json.h"

#include <simdjson.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "domain/json_tape.h"

namespace annals {
namespace {

namespace od = simdjson::ondemand;

// Documents up to this size reuse a per-thread parser and buffer; larger ones get their own
// so a thread does not keep a huge allocation alive.
constexpr size_t kReusableBytes = size_t{1} << 20;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// ---- Numbers ---------------------------------------------------------------------------

enum class NumberVerdict { kOk, kMalformed, kOutOfRange, kNotExact };

// An accepted number: int64 when integral and within int64 range, else double.
struct NumberValue {
  bool is_int = false;
  int64_t i = 0;
  double d = 0;
};

// Validates `token` (trailing whitespace already removed) against the JSON number grammar
// and the round-trip rule documented in json.h; on success stores the value in *out.
NumberVerdict ParseNumberToken(std::string_view tok, NumberValue* out) {
  const size_t n = tok.size();
  // Fast path: a plain integer of at most 15 digits is exact (below 2^53) and is its own
  // shortest representation.
  {
    size_t k = tok.size() > 0 && tok[0] == '-' ? 1 : 0;
    const size_t digits = n - k;
    if (digits >= 1 && digits <= 15 && (tok[k] != '0' || digits == 1)) {
      int64_t v = 0;
      for (; k < n && IsDigit(tok[k]); ++k) v = v * 10 + (tok[k] - '0');
      if (k == n) {
        out->is_int = true;
        out->i = tok[0] == '-' ? -v : v;
        return NumberVerdict::kOk;
      }
    }
  }
  size_t i = 0;
  if (i < n && tok[i] == '-') ++i;
  const size_t int_begin = i;
  if (i >= n || !IsDigit(tok[i])) return NumberVerdict::kMalformed;
  if (tok[i] == '0') {
    ++i;
  } else {
    while (i < n && IsDigit(tok[i])) ++i;
  }
  const size_t int_end = i;
  size_t frac_begin = i, frac_end = i;
  if (i < n && tok[i] == '.') {
    ++i;
    frac_begin = i;
    if (i >= n || !IsDigit(tok[i])) return NumberVerdict::kMalformed;
    while (i < n && IsDigit(tok[i])) ++i;
    frac_end = i;
  }
  int64_t exponent = 0;
  if (i < n && (tok[i] == 'e' || tok[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < n && (tok[i] == '+' || tok[i] == '-')) {
      exp_negative = tok[i] == '-';
      ++i;
    }
    if (i >= n || !IsDigit(tok[i])) return NumberVerdict::kMalformed;
    while (i < n && IsDigit(tok[i])) {
      // Saturate: anything this large is out of range for a double anyway (or zero).
      if (exponent < 1000000000) exponent = exponent * 10 + (tok[i] - '0');
      ++i;
    }
    if (exp_negative) exponent = -exponent;
  }
  if (i != n) return NumberVerdict::kMalformed;

  // The digits as one sequence D = int digits + fraction digits; the value is
  // D * 10^(exponent - fraction length). Find D's significant part.
  const size_t int_len = int_end - int_begin;
  const size_t frac_len = frac_end - frac_begin;
  const size_t total = int_len + frac_len;
  const auto digit_at = [&](size_t k) {
    return k < int_len ? tok[int_begin + k] : tok[frac_begin + k - int_len];
  };
  size_t first = 0;
  while (first < total && digit_at(first) == '0') ++first;

  double d = 0;
  const auto parsed = std::from_chars(tok.data(), tok.data() + n, d);
  if (parsed.ec == std::errc::result_out_of_range && first != total) {
    return NumberVerdict::kOutOfRange;
  }
  if (first == total) {  // zero, possibly "-0" or "0.000e5"
    out->is_int = true;
    out->i = 0;
    return NumberVerdict::kOk;
  }
  if (parsed.ec != std::errc() || parsed.ptr != tok.data() + n) return NumberVerdict::kMalformed;
  if (!std::isfinite(d) || d == 0) return NumberVerdict::kOutOfRange;
  size_t last = total - 1;
  while (digit_at(last) == '0') --last;
  const size_t sig_len = last - first + 1;
  // A shortest round-trip representation never needs more than 17 digits.
  if (sig_len > 17) return NumberVerdict::kNotExact;
  char sig[17];
  for (size_t k = 0; k < sig_len; ++k) sig[k] = digit_at(first + k);
  const int64_t scale =
      exponent - static_cast<int64_t>(frac_len) + static_cast<int64_t>(total - 1 - last);

  // Shortest round-trip digits of d: "D.DDDDe+XX" (or "De+XX").
  char buf[64];
  const auto printed =
      std::to_chars(buf, buf + sizeof buf, std::fabs(d), std::chars_format::scientific);
  if (printed.ec != std::errc()) return NumberVerdict::kNotExact;
  char shortest[24];
  size_t short_len = 0;
  const char* p = buf;
  for (; p < printed.ptr && *p != 'e'; ++p) {
    if (*p != '.' && short_len < sizeof shortest) shortest[short_len++] = *p;
  }
  int64_t short_exp = 0;
  if (p < printed.ptr) {
    ++p;  // 'e'
    bool neg = false;
    if (p < printed.ptr && (*p == '+' || *p == '-')) neg = *p++ == '-';
    for (; p < printed.ptr; ++p) short_exp = short_exp * 10 + (*p - '0');
    if (neg) short_exp = -short_exp;
  }
  while (short_len > 1 && shortest[short_len - 1] == '0') --short_len;
  const int64_t short_scale = short_exp - static_cast<int64_t>(short_len - 1);
  if (short_len != sig_len || short_scale != scale ||
      std::string_view(shortest, short_len) != std::string_view(sig, sig_len)) {
    return NumberVerdict::kNotExact;
  }

  constexpr double kTwo63 = 9223372036854775808.0;
  if (std::trunc(d) == d && d >= -kTwo63 && d < kTwo63) {
    out->is_int = true;
    out->i = static_cast<int64_t>(d);
  } else {
    out->is_int = false;
    out->d = d;
  }
  return NumberVerdict::kOk;
}

// ---- Scanning helpers for errors found before the tree walk ----------------------------

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid (overlong
// forms, surrogates and code points above U+10FFFF are invalid).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  if (c < 0x80) return 1;
  const size_t rest = s.size() - i;
  const auto cont = [&](size_t k) { return (b(i + k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return rest >= 2 && cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (rest < 3 || !cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(i + 1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(i + 1) >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (rest < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(i + 1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(i + 1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// Offset of the first byte that is not part of valid UTF-8, or npos.
size_t FindInvalidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t len = Utf8SequenceLength(s, i);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

// Offset of the first control character (< 0x20) inside a string literal, of the opening
// quote of a string that is never closed, or of a stray control character outside strings
// (other than JSON whitespace). npos if none.
size_t FindStringProblem(std::string_view s) {
  bool in_string = false;
  size_t string_start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      } else if (c < 0x20) {
        return i;
      }
    } else if (c == '"') {
      in_string = true;
      string_start = i;
    } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      return i;
    }
  }
  return in_string ? string_start : std::string_view::npos;
}

// A copy of `s` that stage 1 accepts as far as encoding goes: bytes of invalid UTF-8
// become '?', control characters become ' '. Offsets are unchanged.
std::string Sanitize(std::string_view s) {
  std::string out(s);
  for (size_t i = 0; i < out.size();) {
    const size_t len = Utf8SequenceLength(out, i);
    if (len == 0) {
      out[i] = '?';
      ++i;
      continue;
    }
    if (len == 1 && static_cast<uint8_t>(out[i]) < 0x20) out[i] = ' ';
    i += len;
  }
  return out;
}

// ---- The walk ---------------------------------------------------------------------------

// simdjson rejects unpaired surrogate escapes itself; this re-checks the unescaped text, but
// only when the raw literal has escapes at all (plain literals were validated in stage 1).
bool UnescapedUtf8Ok(std::string_view raw_literal, std::string_view unescaped) {
  if (std::memchr(raw_literal.data(), '\\', raw_literal.size()) == nullptr) return true;
  return simdjson::validate_utf8(unescaped.data(), unescaped.size());
}

struct Failure {
  std::string what;             // e.g. "duplicate key"
  const char* where = nullptr;  // position in the parsed buffer, if known
  std::string path;             // JSON Pointer
};

// Objects with more members than this check for duplicate keys with a hash set.
constexpr size_t kLinearKeyCheck = 16;

// Whether `key` is already a member of the object being read, whose names so far are
// (*keys)[base..] or, for a large object, in *big. Records `key`.
bool IsDuplicateKey(std::string_view key, size_t base, std::vector<std::string_view>* keys,
                    std::unique_ptr<std::unordered_set<std::string_view>>* big) {
  if (*big != nullptr) return !(*big)->insert(key).second;
  const size_t count = keys->size() - base;
  for (size_t k = base; k < keys->size(); ++k) {
    if ((*keys)[k] == key) return true;
  }
  if (count + 1 < kLinearKeyCheck) {
    keys->push_back(key);
    return false;
  }
  *big = std::make_unique<std::unordered_set<std::string_view>>(keys->begin() + base, keys->end());
  (*big)->insert(key);
  keys->resize(base);
  return false;
}

// Walks an On-Demand document once and appends its tape to *nodes, enforcing the strict
// rules. The first problem in document order stops the walk and is recorded in failure().
// In locate mode it only looks for the string or key that covers `locate` and records its
// path in located_path.
class TapeBuilder {
 public:
  TapeBuilder(od::document* doc, size_t max_depth, const char* locate,
              JsonNodes* nodes, std::vector<std::string_view>* keys)
      : doc_(doc), max_depth_(max_depth), locate_(locate), nodes_(nodes), keys_(keys) {}

  // Builds the value `v`, whose containers (if it is one) sit at nesting `depth`, and
  // stores its height.
  bool Build(od::value v, size_t depth, uint32_t* height) {
    const std::string_view raw = v.raw_json_token();
    const char* where = raw.data();
    od::json_type type;
    if (auto err = v.type().get(type)) return FailSimd(err, where);
    *height = 0;
    switch (type) {
      case od::json_type::object:
        if (depth > max_depth_) return Fail(DepthMessage(), where);
        return BuildObject(v, depth, height);
      case od::json_type::array:
        if (depth > max_depth_) return Fail(DepthMessage(), where);
        return BuildArray(v, depth, height);
      case od::json_type::string: {
        if (locate_ != nullptr && Covers(where, where + raw.size())) return Located();
        std::string_view s;
        if (auto err = v.get_string().get(s)) return FailSimd(err, where);
        if (!UnescapedUtf8Ok(raw, s))
          return Fail("a string escape does not form valid UTF-16", where);
        PushString(JsonKind::kString, s);
        return true;
      }
      case od::json_type::number: {
        std::string_view tok = raw;
        while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t' || tok.back() == '\n' ||
                                tok.back() == '\r')) {
          tok.remove_suffix(1);
        }
        NumberValue number;
        switch (ParseNumberToken(tok, &number)) {
          case NumberVerdict::kOk: {
            JsonNode& node = Push(number.is_int ? JsonKind::kInt64 : JsonKind::kDouble);
            if (number.is_int) {
              node.i = number.i;
            } else {
              node.d = number.d;
            }
            return true;
          }
          case NumberVerdict::kMalformed:
            return Fail("malformed number", where);
          case NumberVerdict::kOutOfRange:
            return Fail("number is out of the range of an IEEE-754 double", where);
          case NumberVerdict::kNotExact:
            return Fail("number cannot be represented exactly by an IEEE-754 double", where);
        }
        return Fail("malformed number", where);
      }
      case od::json_type::boolean: {
        bool b = false;
        if (v.get_bool().get(b)) return Fail("invalid literal (expected true or false)", where);
        Push(JsonKind::kBool).i = b ? 1 : 0;
        return true;
      }
      case od::json_type::null: {
        bool is_null = false;
        if (v.is_null().get(is_null) || !is_null)
          return Fail("invalid literal (expected null)", where);
        Push(JsonKind::kNull);
        return true;
      }
    }
    return Fail("malformed JSON", where);
  }

  // Walks the wrapper array "[...]" put around a scalar document: exactly one element, which
  // is the real root (path "", depth 1).
  bool BuildWrapped(od::value v) {
    od::array arr;
    if (auto err = v.get_array().get(arr)) return FailSimd(err, v.raw_json_token().data());
    size_t count = 0;
    for (auto element : arr) {
      od::value ev;
      if (auto err = std::move(element).get(ev)) return FailSimd(err, Location());
      if (count++ > 0)
        return Fail("unexpected content after the JSON value", ev.raw_json_token().data());
      uint32_t height = 0;
      if (!Build(ev, 1, &height)) return false;
    }
    return true;
  }

  // Fails if anything but whitespace follows the root value.
  bool CheckAtEnd() {
    const char* loc = nullptr;
    if (doc_->current_location().get(loc) == simdjson::OUT_OF_BOUNDS) return true;
    if (loc == nullptr) return Fail("malformed JSON", nullptr);
    segments_.clear();
    return Fail("unexpected content after the JSON value", loc);
  }

  Failure& failure() { return failure_; }
  bool located() const { return located_; }
  const std::string& located_path() const { return located_path_; }

 private:
  JsonNode& Push(JsonKind kind) {
    JsonNode& node = nodes_->emplace_back();
    node.u = 0;
    node.len = 0;
    node.span = 1;
    node.kind = kind;
    node.flags = 0;
    node.height = 0;
    return node;
  }

  void PushString(JsonKind kind, std::string_view s) {
    JsonNode& node = Push(kind);
    node.str = s.data();
    node.len = static_cast<uint32_t>(s.size());
  }

  void Close(size_t self, uint32_t count, uint32_t child_height, uint32_t* height) {
    JsonNode& node = (*nodes_)[self];
    node.len = count;
    node.span = static_cast<uint32_t>(nodes_->size() - self);
    node.height = child_height + 1;
    *height = node.height;
  }

  bool BuildObject(od::value v, size_t depth, uint32_t* height) {
    od::object obj;
    if (auto err = v.get_object().get(obj)) return FailSimd(err, v.raw_json_token().data());
    const size_t self = nodes_->size();
    Push(JsonKind::kObject);
    const size_t key_base = keys_->size();
    std::unique_ptr<std::unordered_set<std::string_view>> big;
    uint32_t count = 0;
    uint32_t child_height = 0;
    for (auto field_result : obj) {
      od::field field;
      if (auto err = std::move(field_result).get(field)) return FailSimd(err, Location());
      const char* key_where = field.key().raw() - 1;  // the opening quote
      if (locate_ != nullptr) {
        const char* value_start = field.value().raw_json_token().data();
        if (Covers(key_where, value_start)) {
          std::string_view key;
          if (!field.unescaped_key().get(key)) segments_.push_back(Segment{key, 0});
          return Located();
        }
      }
      // The key view lives in the parser's string buffer, which only grows during a parse,
      // so it stays valid for the rest of the walk and for the tape's life.
      std::string_view key;
      if (auto err = field.unescaped_key().get(key)) return FailSimd(err, key_where);
      if (!UnescapedUtf8Ok(
              std::string_view(key_where, static_cast<size_t>(
                                              field.value().raw_json_token().data() - key_where)),
              key)) {
        return Fail("a string escape does not form valid UTF-16", key_where);
      }
      segments_.push_back(Segment{key, 0});
      if (IsDuplicateKey(key, key_base, keys_, &big)) return Fail("duplicate key", key_where);
      PushString(JsonKind::kKey, key);
      uint32_t h = 0;
      if (!Build(field.value(), depth + 1, &h)) return false;
      if (h > child_height) child_height = h;
      segments_.pop_back();
      ++count;
    }
    keys_->resize(key_base);
    Close(self, count, child_height, height);
    return true;
  }

  bool BuildArray(od::value v, size_t depth, uint32_t* height) {
    od::array arr;
    if (auto err = v.get_array().get(arr)) return FailSimd(err, v.raw_json_token().data());
    const size_t self = nodes_->size();
    Push(JsonKind::kArray);
    uint32_t index = 0;
    uint32_t child_height = 0;
    for (auto element : arr) {
      od::value ev;
      segments_.push_back(Segment{std::string_view(), index});
      if (auto err = std::move(element).get(ev)) return FailSimd(err, Location());
      uint32_t h = 0;
      if (!Build(ev, depth + 1, &h)) return false;
      if (h > child_height) child_height = h;
      segments_.pop_back();
      ++index;
    }
    Close(self, index, child_height, height);
    return true;
  }

  std::string DepthMessage() const {
    return "nesting is deeper than " + std::to_string(max_depth_) + " levels";
  }

  const char* Location() {
    const char* loc = nullptr;
    if (doc_->current_location().get(loc)) return nullptr;
    return loc;
  }

  bool Covers(const char* begin, const char* end) const {
    return locate_ >= begin && locate_ < end;
  }

  bool Located() {
    located_ = true;
    located_path_ = Path();
    return false;
  }

  bool Fail(std::string what, const char* where) {
    failure_.what = std::move(what);
    failure_.where = where;
    failure_.path = Path();
    return false;
  }

  bool FailSimd(simdjson::error_code err, const char* where) {
    switch (err) {
      case simdjson::STRING_ERROR:
        return Fail("invalid string escape or unpaired UTF-16 surrogate", where);
      case simdjson::INCORRECT_TYPE:
      case simdjson::T_ATOM_ERROR:
      case simdjson::F_ATOM_ERROR:
      case simdjson::N_ATOM_ERROR:
        return Fail("invalid literal", where);
      case simdjson::DEPTH_ERROR:
        return Fail(DepthMessage(), where);
      case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
        return Fail("unterminated object or array", where);
      default:
        return Fail("malformed JSON", where);
    }
  }

  od::document* doc_;
  size_t max_depth_;
  const char* locate_;
  JsonNodes* nodes_;
  // Member names of the objects being built (each object's from its own base), for the
  // duplicate check of objects up to kLinearKeyCheck members.
  std::vector<std::string_view>* keys_;
  // The JSON Pointer of the value being built, kept as segments and only rendered on
  // failure. Keys are views into the parser's string buffer.
  struct Segment {
    std::string_view key;  // empty data() for array indexes
    size_t index;
  };
  std::string Path() const {
    std::string path;
    for (const Segment& s : segments_) {
      if (s.key.data() != nullptr) {
        AppendJsonPointerToken(s.key, &path);
      } else {
        AppendJsonPointerIndex(s.index, &path);
      }
    }
    return path;
  }

  std::vector<Segment> segments_;
  Failure failure_;
  bool located_ = false;
  std::string located_path_;
};

// ---- The fast path ------------------------------------------------------------------------

// A strict RFC 8259 reader that builds the same tape as TapeBuilder for the documents it
// accepts, in one pass over the text and without copying strings that have no escapes
// (they point into the text). It accepts a subset of what the On-Demand walk accepts (never
// more): anything it does not accept, for whatever reason, goes to the walk, which reports
// the error or, should it accept after all, provides the tape.
class FastTapeReader {
 public:
  FastTapeReader(std::string_view text, size_t max_depth, JsonNodes* nodes,
                 std::string* unescaped)
      : p_(text.data()),
        end_(text.data() + text.size()),
        text_size_(text.size()),
        max_depth_(max_depth),
        nodes_(nodes),
        unescaped_(unescaped) {}

  bool Read() {
    SkipWhitespace();
    uint32_t height = 0;
    if (!Value(1, &height)) return false;
    SkipWhitespace();
    return p_ == end_;
  }

  // See JsonDocument::ReadElements.
  bool ReadElements(bool wrapped, JsonDocument::ElementSink sink, void* context) {
    const size_t element_depth = wrapped ? 3 : 2;
    if (max_depth_ < element_depth - 1) return false;
    SkipWhitespace();
    if (wrapped) {
      if (p_ == end_ || *p_ != '{') return false;
      ++p_;
      SkipWhitespace();
      std::string_view key;
      bool plain = false;
      if (p_ == end_ || *p_ != '"' || !String(&key, &plain) || key != "events") return false;
      SkipWhitespace();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      SkipWhitespace();
    }
    if (p_ == end_ || *p_ != '[') return false;
    ++p_;
    SkipWhitespace();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
    } else {
      for (size_t index = 0;; ++index) {
        nodes_->clear();
        unescaped_used_ = 0;  // the previous element's strings are no longer needed
        uint32_t height = 0;
        if (!Value(element_depth, &height)) return false;
        if (!sink(context, nodes_->front(), index)) return false;
        SkipWhitespace();
        if (p_ == end_) return false;
        if (*p_ == ',') {
          ++p_;
          SkipWhitespace();
          continue;
        }
        if (*p_ != ']') return false;
        ++p_;
        break;
      }
    }
    if (wrapped) {
      SkipWhitespace();
      if (p_ == end_ || *p_ != '}') return false;
      ++p_;
    }
    SkipWhitespace();
    return p_ == end_;
  }

 private:
  static bool IsWhitespace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

  void SkipWhitespace() {
    // Everything that is not whitespace is above ' '.
    while (p_ < end_ && static_cast<uint8_t>(*p_) <= ' ' && IsWhitespace(*p_)) ++p_;
  }

  // Whether the object whose node is (*nodes_)[self] already has a member named `key`.
  bool HasMember(size_t self, uint32_t count, std::string_view key) const {
    const JsonNode* k = nodes_->data() + self + 1;
    for (uint32_t i = 0; i < count; ++i, k = NextKey(k)) {
      if (k->len == key.size() && std::memcmp(k->str, key.data(), key.size()) == 0) return true;
    }
    return false;
  }

  JsonNode& Push(JsonKind kind) {
    JsonNode& node = nodes_->emplace_back();
    node.u = 0;
    node.len = 0;
    node.span = 1;
    node.kind = kind;
    node.flags = 0;
    node.height = 0;
    return node;
  }

  void PushString(JsonKind kind, std::string_view s, bool plain) {
    JsonNode& node = Push(kind);
    node.str = s.data();
    node.len = static_cast<uint32_t>(s.size());
    node.flags = plain ? JsonNode::kPlain : 0;
  }

  void Close(size_t self, uint32_t count, uint32_t child_height, uint32_t* height) {
    JsonNode& node = (*nodes_)[self];
    node.len = count;
    node.span = static_cast<uint32_t>(nodes_->size() - self);
    node.height = child_height + 1;
    *height = node.height;
  }

  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() ||
        std::memcmp(p_, word.data(), word.size()) != 0) {
      return false;
    }
    p_ += word.size();
    return true;
  }

  bool Value(size_t depth, uint32_t* height) {
    *height = 0;
    if (p_ == end_) return false;
    switch (*p_) {
      case '{':
        return depth <= max_depth_ && Object(depth, height);
      case '[':
        return depth <= max_depth_ && Array(depth, height);
      case '"': {
        std::string_view s;
        bool plain = false;
        if (!String(&s, &plain)) return false;
        PushString(JsonKind::kString, s, plain);
        return true;
      }
      case 't':
        if (!Literal("true")) return false;
        Push(JsonKind::kBool).i = 1;
        return true;
      case 'f':
        if (!Literal("false")) return false;
        Push(JsonKind::kBool).i = 0;
        return true;
      case 'n':
        if (!Literal("null")) return false;
        Push(JsonKind::kNull);
        return true;
      default:
        return Number();
    }
  }

  bool Number() {
    const char* start = p_;
    while (p_ < end_ && ((*p_ >= '0' && *p_ <= '9') || *p_ == '-' || *p_ == '+' || *p_ == '.' ||
                         *p_ == 'e' || *p_ == 'E')) {
      ++p_;
    }
    if (p_ == start) return false;
    NumberValue number;
    if (ParseNumberToken(std::string_view(start, static_cast<size_t>(p_ - start)), &number) !=
        NumberVerdict::kOk) {
      return false;
    }
    JsonNode& node = Push(number.is_int ? JsonKind::kInt64 : JsonKind::kDouble);
    if (number.is_int) {
      node.i = number.i;
    } else {
      node.d = number.d;
    }
    return true;
  }

  // The duplicate check of objects with kLinearKeyCheck members or more.
  bool IsLargeObjectDuplicate(size_t self, uint32_t count, std::string_view key,
                              std::unique_ptr<std::unordered_set<std::string_view>>* big) {
    if (*big == nullptr) {
      *big = std::make_unique<std::unordered_set<std::string_view>>();
      const JsonNode* k = nodes_->data() + self + 1;
      for (uint32_t i = 0; i < count; ++i, k = NextKey(k)) (*big)->insert(k->string());
    }
    return !(*big)->insert(key).second;
  }

  // Skips whitespace, then consumes `c` if it is next.
  bool Expect(char c) {
    if (p_ < end_ && *p_ == c) {  // the compact case
      ++p_;
      return true;
    }
    SkipWhitespace();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }

  // After a member or element: skips whitespace and consumes ',' (returns 1) or `close`
  // (returns 0); -1 for anything else.
  int Separator(char close) {
    if (p_ < end_ && static_cast<uint8_t>(*p_) <= ' ') SkipWhitespace();
    if (p_ == end_) return -1;
    if (*p_ == ',') {
      ++p_;
      return 1;
    }
    if (*p_ != close) return -1;
    ++p_;
    return 0;
  }

  bool Object(size_t depth, uint32_t* height) {
    ++p_;  // '{'
    const size_t self = nodes_->size();
    Push(JsonKind::kObject);
    std::unique_ptr<std::unordered_set<std::string_view>> big;
    uint32_t count = 0;
    uint32_t child_height = 0;
    SkipWhitespace();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
    } else {
      for (;;) {
        if (p_ < end_ && *p_ != '"') SkipWhitespace();
        if (p_ == end_ || *p_ != '"') return false;
        std::string_view key;
        bool plain = false;
        if (!String(&key, &plain)) return false;
        if (count < kLinearKeyCheck ? HasMember(self, count, key)
                                    : IsLargeObjectDuplicate(self, count, key, &big)) {
          return false;
        }
        PushString(JsonKind::kKey, key, plain);
        if (!Expect(':')) return false;
        if (p_ < end_ && static_cast<uint8_t>(*p_) <= ' ') SkipWhitespace();
        uint32_t h = 0;
        if (!Value(depth + 1, &h)) return false;
        if (h > child_height) child_height = h;
        ++count;
        const int next = Separator('}');
        if (next < 0) return false;
        if (next == 0) break;
      }
    }
    Close(self, count, child_height, height);
    return true;
  }

  bool Array(size_t depth, uint32_t* height) {
    ++p_;  // '['
    const size_t self = nodes_->size();
    Push(JsonKind::kArray);
    uint32_t count = 0;
    uint32_t child_height = 0;
    SkipWhitespace();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
    } else {
      for (;;) {
        if (p_ < end_ && static_cast<uint8_t>(*p_) <= ' ') SkipWhitespace();
        uint32_t h = 0;
        if (!Value(depth + 1, &h)) return false;
        if (h > child_height) child_height = h;
        ++count;
        const int next = Separator(']');
        if (next < 0) return false;
        if (next == 0) break;
      }
    }
    Close(self, count, child_height, height);
    return true;
  }

  // Moves p_ to the next byte of a string literal that is a quote, a backslash, a control
  // character or not ASCII (or to the end).
  void SkipPlainAscii() {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i control_max = _mm_set1_epi8(0x1F);
    while (end_ - p_ >= 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p_));
      const __m128i special =
          _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                       _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8(v, control_max), control_max), v));
      const int mask = _mm_movemask_epi8(special);
      if (mask != 0) {
        p_ += __builtin_ctz(static_cast<unsigned>(mask));
        return;
      }
      p_ += 16;
    }
#endif
    while (p_ < end_) {
      const auto c = static_cast<uint8_t>(*p_);
      if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) return;
      ++p_;
    }
  }

  // Reads the string literal at p_ (its opening quote); *plain tells whether it had no
  // escapes (so its bytes need none either).
  bool String(std::string_view* out, bool* plain) {
    *plain = true;
    ++p_;
    const char* start = p_;
    for (;;) {
      SkipPlainAscii();
      if (p_ == end_) return false;
      const auto c = static_cast<uint8_t>(*p_);
      if (c == '"') {
        *out = std::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return true;
      }
      if (c == '\\') {
        *plain = false;
        return EscapedString(start, out);
      }
      if (c < 0x20) return false;
      const size_t len = Utf8SequenceLength(std::string_view(p_, static_cast<size_t>(end_ - p_)), 0);
      if (len == 0) return false;
      p_ += len;
    }
  }

  static int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Reads the 4 hex digits of a \u escape at p_ (after "\u").
  bool Hex4(uint32_t* out) {
    if (end_ - p_ < 4) return false;
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const int h = HexValue(p_[k]);
      if (h < 0) return false;
      v = (v << 4) | static_cast<uint32_t>(h);
    }
    p_ += 4;
    *out = v;
    return true;
  }

  // The rest of a string literal that has escapes, from its first backslash at p_; the
  // unescaped bytes go to unescaped_ (large enough for the whole text, so views into it
  // stay valid).
  bool EscapedString(const char* start, std::string_view* out) {
    if (unescaped_->size() < text_size_) unescaped_->resize(text_size_);
    char* const begin = unescaped_->data() + unescaped_used_;
    char* dst = begin;
    std::memcpy(dst, start, static_cast<size_t>(p_ - start));
    dst += p_ - start;
    for (;;) {
      const char* run = p_;
      SkipPlainAscii();
      std::memcpy(dst, run, static_cast<size_t>(p_ - run));
      dst += p_ - run;
      if (p_ == end_) return false;
      const auto c = static_cast<uint8_t>(*p_);
      if (c == '"') {
        ++p_;
        break;
      }
      if (c < 0x20) return false;
      if (c >= 0x80) {
        const size_t len =
            Utf8SequenceLength(std::string_view(p_, static_cast<size_t>(end_ - p_)), 0);
        if (len == 0) return false;
        std::memcpy(dst, p_, len);
        dst += len;
        p_ += len;
        continue;
      }
      // A backslash.
      if (end_ - p_ < 2) return false;
      const char e = p_[1];
      p_ += 2;
      switch (e) {
        case '"':
        case '\\':
        case '/':
          *dst++ = e;
          break;
        case 'b':
          *dst++ = '\b';
          break;
        case 'f':
          *dst++ = '\f';
          break;
        case 'n':
          *dst++ = '\n';
          break;
        case 'r':
          *dst++ = '\r';
          break;
        case 't':
          *dst++ = '\t';
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a lone low surrogate
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low = 0;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
            p_ += 2;
            if (!Hex4(&low) || low < 0xDC00 || low > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          if (cp < 0x80) {
            *dst++ = static_cast<char>(cp);
          } else if (cp < 0x800) {
            *dst++ = static_cast<char>(0xC0 | (cp >> 6));
            *dst++ = static_cast<char>(0x80 | (cp & 0x3F));
          } else if (cp < 0x10000) {
            *dst++ = static_cast<char>(0xE0 | (cp >> 12));
            *dst++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            *dst++ = static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            *dst++ = static_cast<char>(0xF0 | (cp >> 18));
            *dst++ = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            *dst++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            *dst++ = static_cast<char>(0x80 | (cp & 0x3F));
          }
          break;
        }
        default:
          return false;
      }
    }
    const size_t length = static_cast<size_t>(dst - begin);
    unescaped_used_ += length;
    *out = std::string_view(begin, length);
    return true;
  }

  const char* p_;
  const char* const end_;
  const size_t text_size_;
  const size_t max_depth_;
  JsonNodes* nodes_;
  std::string* unescaped_;
  size_t unescaped_used_ = 0;
};

// "line 3, column 14" for a byte offset into `text` (columns count bytes, from 1).
std::string LineColumn(std::string_view text, size_t offset) {
  if (offset >= text.size()) return "at the end of the input";
  size_t line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return "at line " + std::to_string(line) + ", column " + std::to_string(offset - line_start + 1);
}

Status InvalidJson(std::string_view text, const std::string& what, std::optional<size_t> offset,
                   std::string path) {
  std::string message = what;
  if (offset.has_value()) message += " " + LineColumn(text, *offset);
  return Status::InvalidArgument(message, "invalid_json", {ErrorDetail{std::move(path), message}});
}

std::string IterateErrorMessage(simdjson::error_code err) {
  switch (err) {
    case simdjson::EMPTY:
      return "the document is empty";
    case simdjson::UTF8_ERROR:
      return "invalid UTF-8";
    case simdjson::UNESCAPED_CHARS:
      return "unescaped control character";
    case simdjson::UNCLOSED_STRING:
      return "unterminated string";
    case simdjson::CAPACITY:
      return "the document is too large to parse";
    case simdjson::DEPTH_ERROR:
      return "nesting is too deep";
    default:
      return "malformed JSON";
  }
}

// Copies a tape value into a boost::json value allocated from out's storage.
void ToBoost(const JsonNode& node, boost::json::value* out) {
  switch (node.kind) {
    case JsonKind::kNull:
    case JsonKind::kKey:
      *out = nullptr;
      return;
    case JsonKind::kBool:
      *out = node.i != 0;
      return;
    case JsonKind::kInt64:
      *out = node.i;
      return;
    case JsonKind::kUint64:
      *out = node.u;
      return;
    case JsonKind::kDouble:
      *out = node.d;
      return;
    case JsonKind::kString:
      out->emplace_string().assign(node.str, node.len);
      return;
    case JsonKind::kArray: {
      boost::json::array& a = out->emplace_array();
      a.reserve(node.len);
      const JsonNode* e = node.first();
      for (uint32_t i = 0; i < node.len; ++i, e = e->next()) ToBoost(*e, &a.emplace_back(nullptr));
      return;
    }
    case JsonKind::kObject: {
      boost::json::object& o = out->emplace_object();
      o.reserve(node.len);
      const JsonNode* k = node.first();
      for (uint32_t i = 0; i < node.len; ++i, k = NextKey(k)) {
        auto inserted = o.emplace(k->string(), nullptr);
        ToBoost(*(k + 1), &inserted.first->value());
      }
      return;
    }
  }
}

// Appends the tape of a boost::json value; returns its height.
uint32_t FromBoost(const boost::json::value& value, JsonNodes* nodes) {
  const size_t self = nodes->size();
  {
    JsonNode& node = nodes->emplace_back();
    node.u = 0;
    node.len = 0;
    node.span = 1;
    node.flags = 0;
    node.height = 0;
    switch (value.kind()) {
      case boost::json::kind::null:
        node.kind = JsonKind::kNull;
        return 0;
      case boost::json::kind::bool_:
        node.kind = JsonKind::kBool;
        node.i = value.get_bool() ? 1 : 0;
        return 0;
      case boost::json::kind::int64:
        node.kind = JsonKind::kInt64;
        node.i = value.get_int64();
        return 0;
      case boost::json::kind::uint64:
        node.kind = JsonKind::kUint64;
        node.u = value.get_uint64();
        return 0;
      case boost::json::kind::double_:
        node.kind = JsonKind::kDouble;
        node.d = value.get_double();
        return 0;
      case boost::json::kind::string:
        node.kind = JsonKind::kString;
        node.str = value.get_string().data();
        node.len = static_cast<uint32_t>(value.get_string().size());
        return 0;
      case boost::json::kind::array:
        node.kind = JsonKind::kArray;
        break;
      case boost::json::kind::object:
        node.kind = JsonKind::kObject;
        break;
    }
  }
  uint32_t child_height = 0;
  uint32_t count = 0;
  if (value.is_array()) {
    for (const auto& element : value.get_array()) {
      child_height = std::max(child_height, FromBoost(element, nodes));
      ++count;
    }
  } else {
    for (const auto& kv : value.get_object()) {
      JsonNode& key = nodes->emplace_back();
      key.kind = JsonKind::kKey;
      key.str = kv.key().data();
      key.len = static_cast<uint32_t>(kv.key().size());
      key.span = 1;
      key.flags = 0;
      key.height = 0;
      child_height = std::max(child_height, FromBoost(kv.value(), nodes));
      ++count;
    }
  }
  JsonNode& node = (*nodes)[self];
  node.len = count;
  node.span = static_cast<uint32_t>(nodes->size() - self);
  node.height = child_height + 1;
  return node.height;
}

// Larger texts go to simdjson, which rejects them (string lengths and node counts in the
// tape are 32-bit).
constexpr size_t kFastReaderMaxBytes = simdjson::SIMDJSON_MAXSIZE_BYTES;
static_assert(kFastReaderMaxBytes <= UINT32_MAX);

// A reused JsonDocument keeps room for this many nodes (6 MiB).
constexpr size_t kKeepNodes = size_t{1} << 18;

thread_local JsonDocument* t_reusable_document = nullptr;
thread_local bool t_reusable_document_lent = false;

}  // namespace

// ---- JsonDocument -------------------------------------------------------------------------

struct JsonDocument::Impl {
  std::string input;  // the padded (and possibly "[...]"-wrapped) text
  size_t input_len = 0;
  od::parser parser;
  od::document doc;
  std::vector<std::string_view> keys;
  std::string unescaped;  // strings with escapes, from the fast path

  void Fill(std::string_view text, bool wrap) {
    const size_t len = text.size() + (wrap ? 2 : 0);
    input.clear();
    input.reserve(len + simdjson::SIMDJSON_PADDING);
    if (wrap) input.push_back('[');
    input.append(text);
    if (wrap) input.push_back(']');
    input_len = input.size();
    input.append(simdjson::SIMDJSON_PADDING, ' ');
  }
  simdjson::padded_string_view view() const {
    return simdjson::padded_string_view(input.data(), input_len, input.size());
  }
};

JsonDocument::JsonDocument() : impl_(std::make_unique<Impl>()) {
  // Our own depth check (plus the scalar wrapper) must trigger before simdjson's.
  static_assert(simdjson::DEFAULT_MAX_DEPTH >= kMaxSupportedJsonDepth + 2);
}

JsonDocument::~JsonDocument() = default;

void JsonDocument::Trim() {
  if (nodes_.capacity() > kKeepNodes) nodes_.release();
  if (impl_->input.capacity() > kReusableBytes + simdjson::SIMDJSON_PADDING) {
    std::string().swap(impl_->input);
  }
  if (impl_->unescaped.capacity() > kReusableBytes) std::string().swap(impl_->unescaped);
}

void JsonDocument::Assign(const boost::json::value& value) {
  nodes_.clear();
  FromBoost(value, &nodes_);
}

Status JsonDocument::Parse(std::string_view text, size_t max_depth) {
  nodes_.clear();
  if (max_depth > kMaxSupportedJsonDepth) max_depth = kMaxSupportedJsonDepth;
  size_t first = 0;
  while (first < text.size() && (text[first] == ' ' || text[first] == '\t' || text[first] == '\n' ||
                                 text[first] == '\r')) {
    ++first;
  }
  if (first == text.size()) return InvalidJson(text, "the document is empty", std::nullopt, "");
  // simdjson cannot hand out scalar documents as values; wrap them in "[...]" and unwrap.
  const bool wrapped = text[first] != '{' && text[first] != '[';
  const size_t shift = wrapped ? 1 : 0;
  Impl& im = *impl_;
  // Maps a position in a parsed buffer back to an offset into `text`.
  const auto offset_of = [&](const Impl& in, const char* where) -> std::optional<size_t> {
    if (where == nullptr || where < in.input.data() || where > in.input.data() + in.input_len)
      return std::nullopt;
    const size_t pos = static_cast<size_t>(where - in.input.data());
    if (pos < shift) return size_t{0};
    return std::min(pos - shift, text.size());
  };

  try {
    nodes_.reserve(std::min(text.size() / 4 + 16, kKeepNodes));
    if (text.size() <= kFastReaderMaxBytes &&
        FastTapeReader(text, max_depth, &nodes_, &im.unescaped).Read()) {
      return Status::Ok();
    }
    nodes_.clear();
    im.Fill(text, wrapped);
    simdjson::error_code err = im.parser.iterate(im.view()).get(im.doc);
    if (err == simdjson::SUCCESS) {
      im.keys.clear();
      TapeBuilder builder(&im.doc, max_depth, nullptr, &nodes_, &im.keys);
      od::value root;
      if (im.doc.get_value().get(root)) {
        nodes_.clear();
        return InvalidJson(text, "malformed JSON", std::nullopt, "");
      }
      uint32_t height = 0;
      bool ok = wrapped ? builder.BuildWrapped(root) : builder.Build(root, 1, &height);
      if (ok) ok = builder.CheckAtEnd();
      if (ok) return Status::Ok();
      nodes_.clear();
      Failure& f = builder.failure();
      return InvalidJson(text, f.what, offset_of(im, f.where), std::move(f.path));
    }
    nodes_.clear();
    // Stage 1 rejected the input: find the place ourselves, then find its path by walking a
    // sanitized copy with the same layout.
    std::optional<size_t> offset;
    if (err == simdjson::UTF8_ERROR) {
      const size_t at = FindInvalidUtf8(text);
      if (at != std::string_view::npos) offset = at;
    } else if (err == simdjson::UNESCAPED_CHARS || err == simdjson::UNCLOSED_STRING) {
      const size_t at = FindStringProblem(text);
      if (at != std::string_view::npos) offset = at;
    }
    std::string path;
    if (offset.has_value() && err != simdjson::UNCLOSED_STRING) {
      const std::string clean = Sanitize(text);
      // Its own buffers and parser: a sanitized copy can be as large as the input.
      Impl clean_im;
      clean_im.Fill(clean, wrapped);
      JsonNodes scratch;
      if (!clean_im.parser.iterate(clean_im.view()).get(clean_im.doc)) {
        TapeBuilder locator(&clean_im.doc, max_depth, clean_im.input.data() + *offset + shift,
                            &scratch, &clean_im.keys);
        od::value root;
        if (!clean_im.doc.get_value().get(root)) {
          uint32_t height = 0;
          bool ok = wrapped ? locator.BuildWrapped(root) : locator.Build(root, 1, &height);
          if (ok) locator.CheckAtEnd();
          if (locator.located()) path = locator.located_path();
        }
      }
    }
    return InvalidJson(text, IterateErrorMessage(err), offset, std::move(path));
  } catch (const std::length_error&) {
    nodes_.clear();
    return InvalidJson(text, "a string or container is too large", std::nullopt, "");
  } catch (const std::exception& e) {
    nodes_.clear();
    return Status::Internal(std::string("JSON parsing failed: ") + e.what());
  }
}

bool JsonDocument::ReadElements(std::string_view text, size_t max_depth, bool wrapped,
                                ElementSink sink, void* context) {
  nodes_.clear();
  if (max_depth > kMaxSupportedJsonDepth) max_depth = kMaxSupportedJsonDepth;
  if (text.size() > kFastReaderMaxBytes) return false;
  const bool ok = FastTapeReader(text, max_depth, &nodes_, &impl_->unescaped)
                      .ReadElements(wrapped, sink, context);
  nodes_.clear();
  return ok;
}

JsonDocumentLease::JsonDocumentLease(size_t input_size) {
  if (input_size <= kReusableBytes && !t_reusable_document_lent) {
    if (t_reusable_document == nullptr) {
      static thread_local JsonDocument reusable;
      t_reusable_document = &reusable;
    }
    t_reusable_document_lent = true;
    shared_ = true;
    doc_ = t_reusable_document;
  } else {
    own_ = std::make_unique<JsonDocument>();
    doc_ = own_.get();
  }
}

JsonDocumentLease::~JsonDocumentLease() {
  if (shared_) {
    doc_->Trim();
    t_reusable_document_lent = false;
  }
}

void JsonNodes::Grow(size_t min_capacity) {
  const size_t capacity = std::max({min_capacity, capacity_ * 2, size_t{64}});
  std::unique_ptr<JsonNode[]> data(new JsonNode[capacity]);
  if (size_ > 0) std::memcpy(static_cast<void*>(data.get()), data_.get(), size_ * sizeof(JsonNode));
  data_ = std::move(data);
  capacity_ = capacity;
}

const JsonNode* FindMember(const JsonNode& obj, std::string_view name) {
  const JsonNode* k = obj.first();
  for (uint32_t i = 0; i < obj.len; ++i, k = NextKey(k)) {
    if (k->len == name.size() && std::memcmp(k->str, name.data(), name.size()) == 0) return k + 1;
  }
  return nullptr;
}


void AppendJsonPointerToken(std::string_view token, std::string* pointer) {
  pointer->push_back('/');
  for (char c : token) {
    if (c == '~') {
      pointer->append("~0");
    } else if (c == '/') {
      pointer->append("~1");
    } else {
      pointer->push_back(c);
    }
  }
}

void AppendJsonPointerIndex(size_t index, std::string* pointer) {
  pointer->push_back('/');
  pointer->append(std::to_string(index));
}

std::string EscapeJsonPointerToken(std::string_view token) {
  std::string out;
  AppendJsonPointerToken(token, &out);
  return out.substr(1);
}

Result<boost::json::value> ParseStrictJson(std::string_view text, size_t max_depth) {
  return ParseStrictJson(text, max_depth, boost::json::storage_ptr());
}

Result<boost::json::value> ParseStrictJson(std::string_view text, size_t max_depth,
                                           boost::json::storage_ptr storage) {
  JsonDocumentLease doc(text.size());
  Status status = doc->Parse(text, max_depth);
  if (!status.ok()) return status;
  try {
    boost::json::value result(std::move(storage));
    ToBoost(doc->root(), &result);
    return result;
  } catch (const std::length_error&) {
    return InvalidJson(text, "a string or container is too large", std::nullopt, "");
  } catch (const std::exception& e) {
    return Status::Internal(std::string("JSON parsing failed: ") + e.what());
  }
}

}  // namespace annals
