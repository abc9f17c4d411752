#include "domain/json.h"

#include <simdjson.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <charconv>
#include <cmath>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>

namespace annals {
namespace {

namespace od = simdjson::ondemand;

// Documents up to this size reuse a per-thread parser and buffer; larger ones get their own
// so a thread does not keep a huge allocation alive.
constexpr size_t kReusableBytes = size_t{1} << 20;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// ---- Numbers ---------------------------------------------------------------------------

enum class NumberVerdict { kOk, kMalformed, kOutOfRange, kNotExact };

// Validates `token` (trailing whitespace already removed) against the JSON number grammar
// and the round-trip rule documented in json.h; on success stores the value in *out.
NumberVerdict ParseNumberToken(std::string_view tok, boost::json::value* out) {
  const size_t n = tok.size();
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
    *out = static_cast<int64_t>(0);
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
    *out = static_cast<int64_t>(d);
  } else {
    *out = d;
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

// ---- The tree walk ----------------------------------------------------------------------

// simdjson rejects unpaired surrogate escapes itself; this re-checks the unescaped text, but
// only when the raw literal has escapes at all (plain literals were validated in stage 1).
bool UnescapedUtf8Ok(std::string_view raw_literal, std::string_view unescaped) {
  if (raw_literal.find('\\') == std::string_view::npos) return true;
  return simdjson::validate_utf8(unescaped.data(), unescaped.size());
}

struct Failure {
  std::string what;             // e.g. "duplicate key"
  const char* where = nullptr;  // position in the parsed buffer, if known
  std::string path;             // JSON Pointer
};

// Walks an On-Demand document and builds the boost::json tree, enforcing the strict rules.
// In locate mode it builds nothing useful; it only looks for the string or key that covers
// `locate` and records its path in located_path.
class TreeBuilder {
 public:
  TreeBuilder(od::document* doc, size_t max_depth, const char* locate)
      : doc_(doc), max_depth_(max_depth), locate_(locate) {}

  // Builds the value `v`, whose containers (if it is one) sit at nesting `depth`.
  bool Build(od::value v, boost::json::value* out, size_t depth) {
    const std::string_view raw = v.raw_json_token();
    const char* where = raw.data();
    od::json_type type;
    if (auto err = v.type().get(type)) return FailSimd(err, where);
    switch (type) {
      case od::json_type::object:
        if (depth > max_depth_) return Fail(DepthMessage(), where);
        return BuildObject(v, out, depth);
      case od::json_type::array:
        if (depth > max_depth_) return Fail(DepthMessage(), where);
        return BuildArray(v, out, depth);
      case od::json_type::string: {
        if (locate_ != nullptr && Covers(where, where + raw.size())) return Located();
        std::string_view s;
        if (auto err = v.get_string().get(s)) return FailSimd(err, where);
        if (!UnescapedUtf8Ok(raw, s))
          return Fail("a string escape does not form valid UTF-16", where);
        out->emplace_string().assign(s.data(), s.size());
        return true;
      }
      case od::json_type::number: {
        std::string_view tok = raw;
        while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t' || tok.back() == '\n' ||
                                tok.back() == '\r')) {
          tok.remove_suffix(1);
        }
        switch (ParseNumberToken(tok, out)) {
          case NumberVerdict::kOk:
            return true;
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
        *out = b;
        return true;
      }
      case od::json_type::null: {
        bool is_null = false;
        if (v.is_null().get(is_null) || !is_null)
          return Fail("invalid literal (expected null)", where);
        *out = nullptr;
        return true;
      }
    }
    return Fail("malformed JSON", where);
  }

  // Walks the wrapper array "[...]" put around a scalar document: exactly one element, which
  // is the real root (path "", depth 1).
  bool BuildWrapped(od::value v, boost::json::value* out) {
    od::array arr;
    if (auto err = v.get_array().get(arr)) return FailSimd(err, v.raw_json_token().data());
    size_t count = 0;
    for (auto element : arr) {
      od::value ev;
      if (auto err = std::move(element).get(ev)) return FailSimd(err, Location());
      if (count++ > 0)
        return Fail("unexpected content after the JSON value", ev.raw_json_token().data());
      if (!Build(ev, out, 1)) return false;
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
  bool BuildObject(od::value v, boost::json::value* out, size_t depth) {
    od::object obj;
    if (auto err = v.get_object().get(obj)) return FailSimd(err, v.raw_json_token().data());
    boost::json::object& o = out->emplace_object();
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
      // so it stays valid for the rest of the walk (the path segments rely on that).
      std::string_view key;
      if (auto err = field.unescaped_key().get(key)) return FailSimd(err, key_where);
      if (!UnescapedUtf8Ok(
              std::string_view(key_where, static_cast<size_t>(
                                              field.value().raw_json_token().data() - key_where)),
              key)) {
        return Fail("a string escape does not form valid UTF-16", key_where);
      }
      segments_.push_back(Segment{key, 0});
      if (o.contains(key)) return Fail("duplicate key", key_where);
      boost::json::value child(o.storage());
      if (!Build(field.value(), &child, depth + 1)) return false;
      o.emplace(key, std::move(child));
      segments_.pop_back();
    }
    return true;
  }

  bool BuildArray(od::value v, boost::json::value* out, size_t depth) {
    od::array arr;
    if (auto err = v.get_array().get(arr)) return FailSimd(err, v.raw_json_token().data());
    boost::json::array& a = out->emplace_array();
    size_t index = 0;
    for (auto element : arr) {
      od::value ev;
      segments_.push_back(Segment{std::string_view(), index});
      if (auto err = std::move(element).get(ev)) return FailSimd(err, Location());
      boost::json::value child(a.storage());
      if (!Build(ev, &child, depth + 1)) return false;
      a.push_back(std::move(child));
      segments_.pop_back();
      ++index;
    }
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

// Holds the padded input: a per-thread buffer for small documents, its own otherwise.
class PaddedInput {
 public:
  PaddedInput(std::string_view text, bool wrap, bool force_own) {
    const size_t len = text.size() + (wrap ? 2 : 0);
    const size_t needed = len + simdjson::SIMDJSON_PADDING;
    static thread_local std::string reusable;
    buf_ = !force_own && needed <= kReusableBytes + simdjson::SIMDJSON_PADDING ? &reusable : &own_;
    buf_->clear();
    buf_->reserve(needed);
    if (wrap) buf_->push_back('[');
    buf_->append(text);
    if (wrap) buf_->push_back(']');
    len_ = buf_->size();
    buf_->append(simdjson::SIMDJSON_PADDING, ' ');
  }
  simdjson::padded_string_view view() const {
    return simdjson::padded_string_view(buf_->data(), len_, buf_->size());
  }
  const char* data() const { return buf_->data(); }
  size_t size() const { return len_; }

 private:
  std::string own_;
  std::string* buf_;
  size_t len_ = 0;
};

od::parser& ParserFor(size_t len, bool force_own, std::unique_ptr<od::parser>* own) {
  // Our own depth check (plus the scalar wrapper) must trigger before simdjson's.
  static_assert(simdjson::DEFAULT_MAX_DEPTH >= kMaxSupportedJsonDepth + 2);
  if (force_own || len > kReusableBytes) {
    *own = std::make_unique<od::parser>();
    return **own;
  }
  static thread_local od::parser reusable;
  return reusable;
}

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

// One parse attempt over `input`. In locate mode (`locate` != nullptr) the result only
// matters through builder->located().
simdjson::error_code Walk(const PaddedInput& input, bool wrapped, size_t max_depth,
                          const char* locate, boost::json::value* out, TreeBuilder** builder_out,
                          std::unique_ptr<TreeBuilder>* holder, od::document* doc,
                          std::unique_ptr<od::parser>* own_parser) {
  od::parser& parser = ParserFor(input.size(), locate != nullptr, own_parser);
  if (auto err = parser.iterate(input.view()).get(*doc)) return err;
  *holder = std::make_unique<TreeBuilder>(doc, max_depth, locate);
  TreeBuilder& builder = **holder;
  *builder_out = &builder;
  od::value root;
  if (auto err = doc->get_value().get(root)) return err;
  bool ok = wrapped ? builder.BuildWrapped(root, out) : builder.Build(root, out, 1);
  if (ok) ok = builder.CheckAtEnd();
  return ok ? simdjson::SUCCESS : simdjson::TAPE_ERROR;
}

}  // namespace

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
  // Maps a position in a parsed buffer back to an offset into `text`.
  const auto offset_of = [&](const PaddedInput& in, const char* where) -> std::optional<size_t> {
    if (where == nullptr || where < in.data() || where > in.data() + in.size()) return std::nullopt;
    const size_t pos = static_cast<size_t>(where - in.data());
    if (pos < shift) return size_t{0};
    return std::min(pos - shift, text.size());
  };

  try {
    boost::json::value result(std::move(storage));
    PaddedInput input(text, wrapped, /*force_own=*/false);
    std::unique_ptr<od::parser> own_parser;
    od::document doc;
    std::unique_ptr<TreeBuilder> holder;
    TreeBuilder* builder = nullptr;
    const simdjson::error_code err =
        Walk(input, wrapped, max_depth, nullptr, &result, &builder, &holder, &doc, &own_parser);
    if (err == simdjson::SUCCESS) return result;
    if (builder != nullptr && err == simdjson::TAPE_ERROR) {
      Failure& f = builder->failure();
      return InvalidJson(text, f.what, offset_of(input, f.where), std::move(f.path));
    }
    if (builder != nullptr) {  // get_value() on the root failed
      return InvalidJson(text, "malformed JSON", std::nullopt, "");
    }
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
      // Uses its own buffer and parser: the per-thread ones still back `input` and `doc`.
      PaddedInput clean_input(clean, wrapped, /*force_own=*/true);
      std::unique_ptr<od::parser> clean_parser;
      od::document clean_doc;
      std::unique_ptr<TreeBuilder> clean_holder;
      TreeBuilder* clean_builder = nullptr;
      boost::json::value scratch;
      Walk(clean_input, wrapped, max_depth, clean_input.data() + *offset + shift, &scratch,
           &clean_builder, &clean_holder, &clean_doc, &clean_parser);
      if (clean_builder != nullptr && clean_builder->located())
        path = clean_builder->located_path();
    }
    return InvalidJson(text, IterateErrorMessage(err), offset, std::move(path));
  } catch (const std::length_error&) {
    return InvalidJson(text, "a string or container is too large", std::nullopt, "");
  } catch (const std::exception& e) {
    return Status::Internal(std::string("JSON parsing failed: ") + e.what());
  }
}

}  // namespace annals
