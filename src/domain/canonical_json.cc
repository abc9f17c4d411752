#include "domain/canonical_json.h"

#include <algorithm>
#include <array>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "domain/json_tape.h"

namespace annals {
namespace {

// Decodes the code point starting at s[i] (which must begin a sequence) and returns it
// mapped to a weight whose order is UTF-16 code unit order:
//   U+0000..U+D7FF  -> itself
//   U+10000..       -> itself (their high surrogates D800..DBFF sort here)
//   U+E000..U+FFFF  -> itself + 0x200000 (after every surrogate pair)
// Bytes that do not start valid UTF-8 weigh as themselves + 0x400000 so that comparison of
// malformed keys is still a strict weak order.
uint32_t Utf16Weight(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(s[k])); };
  const uint32_t c = b(i);
  const size_t rest = s.size() - i;
  const auto cont = [&](size_t k) { return k < rest && (b(i + k) & 0xC0) == 0x80; };
  uint32_t cp;
  if (c < 0x80) {
    return c;
  } else if (c >= 0xC0 && c < 0xE0 && cont(1)) {
    cp = ((c & 0x1F) << 6) | (b(i + 1) & 0x3F);
  } else if (c >= 0xE0 && c < 0xF0 && cont(1) && cont(2)) {
    cp = ((c & 0x0F) << 12) | ((b(i + 1) & 0x3F) << 6) | (b(i + 2) & 0x3F);
  } else if (c >= 0xF0 && c < 0xF8 && cont(1) && cont(2) && cont(3)) {
    cp = ((c & 0x07) << 18) | ((b(i + 1) & 0x3F) << 12) | ((b(i + 2) & 0x3F) << 6) |
         (b(i + 3) & 0x3F);
  } else {
    return c + 0x400000;
  }
  if (cp >= 0xE000 && cp <= 0xFFFF) return cp + 0x200000;
  return cp;
}

// Sorts `members[0..n)` in JCS order of key(member): insertion sort for the usual small
// objects, std::sort beyond.
template <typename T, typename KeyOf>
void SortMembers(T* members, size_t n, KeyOf key) {
  if (n > 24) {
    std::sort(members, members + n, [&](T a, T b) { return JcsKeyLess(key(a), key(b)); });
    return;
  }
  for (size_t i = 1; i < n; ++i) {
    T m = members[i];
    const std::string_view mk = key(m);
    size_t j = i;
    for (; j > 0 && JcsKeyLess(mk, key(members[j - 1])); --j) members[j] = members[j - 1];
    members[j] = m;
  }
}

// A buffer of up to kInline pointers on the stack, on the heap beyond.
template <typename T>
class SmallBuffer {
 public:
  explicit SmallBuffer(size_t n) {
    if (n > kInline) {
      heap_.resize(n);
      data_ = heap_.data();
    } else {
      data_ = inline_;
    }
  }
  T* data() { return data_; }

 private:
  static constexpr size_t kInline = 32;
  T inline_[kInline];
  std::vector<T> heap_;
  T* data_;
};

// Writes the members of `obj` in JCS order.
void AppendObject(const boost::json::object& obj, std::string* out) {
  out->push_back('{');
  if (obj.size() == 1) {
    const auto& kv = *obj.begin();
    AppendJsonString(kv.key(), out);
    out->push_back(':');
    AppendCanonical(kv.value(), out);
  } else if (!obj.empty()) {
    using Member = const boost::json::key_value_pair*;
    SmallBuffer<Member> buffer(obj.size());
    Member* members = buffer.data();
    size_t n = 0;
    for (const auto& kv : obj) members[n++] = &kv;
    SortMembers(members, n, [](Member m) {
      return std::string_view(m->key().data(), m->key().size());
    });
    for (size_t i = 0; i < n; ++i) {
      if (i > 0) out->push_back(',');
      AppendJsonString(members[i]->key(), out);
      out->push_back(':');
      AppendCanonical(members[i]->value(), out);
    }
  }
  out->push_back('}');
}

// Which bytes AppendJsonString must escape.
constexpr std::array<bool, 256> MakeEscapeTable() {
  std::array<bool, 256> table{};
  for (int c = 0; c < 0x20; ++c) table[c] = true;
  table['"'] = true;
  table['\\'] = true;
  return table;
}
constexpr std::array<bool, 256> kNeedsEscape = MakeEscapeTable();

// Writes `v` in decimal at p; returns the end.
char* WriteUnsigned(uint64_t v, char* p) {
  return std::to_chars(p, p + 24, v).ptr;
}

// AppendJsonNumber's output never exceeds this ("-0.000001234567890123456" and the like).
constexpr size_t kMaxNumberBytes = 32;

// Writes AppendJsonNumber's text at p (room for kMaxNumberBytes); returns the end.
char* WriteJsonNumber(double number, char* out) {
  if (!std::isfinite(number)) return out;
  if (number == 0) {  // also -0
    *out++ = '0';
    return out;
  }
  // Integers below 2^53 print as themselves; this is the common case.
  constexpr double kTwo53 = 9007199254740992.0;
  if (std::fabs(number) < kTwo53 && std::trunc(number) == number) {
    if (number < 0) *out++ = '-';
    return WriteUnsigned(static_cast<uint64_t>(std::fabs(number)), out);
  }
  if (number < 0) {
    *out++ = '-';
    number = -number;
  }
  // Shortest round-trip digits in scientific form: "d.ddde+XX" or "de-XX".
  char buf[40];
  const auto r = std::to_chars(buf, buf + sizeof buf, number, std::chars_format::scientific);
  char digits[20];
  int k = 0;  // number of significant digits
  const char* p = buf;
  for (; p < r.ptr && *p != 'e'; ++p) {
    if (*p != '.') digits[k++] = *p;
  }
  int exp10 = 0;
  ++p;  // 'e'
  const bool exp_negative = *p == '-';
  ++p;  // sign
  for (; p < r.ptr; ++p) exp10 = exp10 * 10 + (*p - '0');
  if (exp_negative) exp10 = -exp10;
  // ECMAScript's n: the value is 0.d1d2...dk * 10^n.
  const int n = exp10 + 1;
  if (k <= n && n <= 21) {
    std::memcpy(out, digits, static_cast<size_t>(k));
    out += k;
    std::memset(out, '0', static_cast<size_t>(n - k));
    out += n - k;
  } else if (0 < n && n <= 21) {
    std::memcpy(out, digits, static_cast<size_t>(n));
    out += n;
    *out++ = '.';
    std::memcpy(out, digits + n, static_cast<size_t>(k - n));
    out += k - n;
  } else if (-6 < n && n <= 0) {
    *out++ = '0';
    *out++ = '.';
    std::memset(out, '0', static_cast<size_t>(-n));
    out += -n;
    std::memcpy(out, digits, static_cast<size_t>(k));
    out += k;
  } else {
    *out++ = digits[0];
    if (k > 1) {
      *out++ = '.';
      std::memcpy(out, digits + 1, static_cast<size_t>(k - 1));
      out += k - 1;
    }
    *out++ = 'e';
    *out++ = n - 1 < 0 ? '-' : '+';
    out = WriteUnsigned(static_cast<uint64_t>(n - 1 < 0 ? 1 - n : n - 1), out);
  }
  return out;
}

// Length of the prefix of s[0..n) that needs no escaping.
size_t PlainPrefix(const char* s, size_t n) {
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i control_max = _mm_set1_epi8(0x1F);
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    const __m128i special =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                     _mm_cmpeq_epi8(_mm_max_epu8(v, control_max), control_max));
    const int mask = _mm_movemask_epi8(special);
    if (mask != 0) return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
  }
#endif
  while (i < n && !kNeedsEscape[static_cast<uint8_t>(s[i])]) ++i;
  return i;
}

// Writes `s` as a JSON string literal (see AppendJsonString) at p, which has room for
// 6 * s.size() + 2 bytes; returns the end.
char* WriteEscapedString(std::string_view s, char* p) {
  static constexpr char kHex[] = "0123456789abcdef";
  *p++ = '"';
  const char* data = s.data();
  size_t size = s.size();
  for (;;) {
    const size_t run = PlainPrefix(data, size);
    std::memcpy(p, data, run);
    p += run;
    if (run == size) break;
    const auto c = static_cast<uint8_t>(data[run]);
    data += run + 1;
    size -= run + 1;
    *p++ = '\\';
    switch (c) {
      case '"':
        *p++ = '"';
        break;
      case '\\':
        *p++ = '\\';
        break;
      case '\b':
        *p++ = 'b';
        break;
      case '\f':
        *p++ = 'f';
        break;
      case '\n':
        *p++ = 'n';
        break;
      case '\r':
        *p++ = 'r';
        break;
      case '\t':
        *p++ = 't';
        break;
      default:
        *p++ = 'u';
        *p++ = '0';
        *p++ = '0';
        *p++ = kHex[c >> 4];
        *p++ = kHex[c & 0x0F];
    }
  }
  *p++ = '"';
  return p;
}

// JcsKeyLess for member-name nodes, with the common all-ASCII case inline.
bool KeyNodeLess(const JsonNode* a, const JsonNode* b) {
  const size_t n = std::min(a->len, b->len);
  for (size_t i = 0; i < n; ++i) {
    const auto x = static_cast<uint8_t>(a->str[i]);
    const auto y = static_cast<uint8_t>(b->str[i]);
    if (x == y) continue;
    if (x < 0x80 && y < 0x80) return x < y;
    return JcsKeyLess(a->string(), b->string());
  }
  return a->len < b->len;
}

// Sorts member-name nodes in JCS order.
void SortKeys(const JsonNode** keys, size_t n) {
  if (n > 24) {
    std::sort(keys, keys + n, KeyNodeLess);
    return;
  }
  for (size_t i = 1; i < n; ++i) {
    const JsonNode* k = keys[i];
    size_t j = i;
    for (; j > 0 && KeyNodeLess(k, keys[j - 1]); --j) keys[j] = keys[j - 1];
    keys[j] = k;
  }
}

// Writes a member name and the colon.
char* WriteKey(const JsonNode& key, char* p) {
  if (key.flags & JsonNode::kPlain) {
    *p++ = '"';
    std::memcpy(p, key.str, key.len);
    p += key.len;
    *p++ = '"';
  } else {
    p = WriteEscapedString(key.string(), p);
  }
  *p++ = ':';
  return p;
}

// Member names of the objects being written, for sorting (each object uses the entries
// from its own base; nested objects use the space above).
using MemberOrder = std::vector<const JsonNode*>;

char* WriteNode(const JsonNode& node, char* p, MemberOrder* order) {
  switch (node.kind) {
    case JsonKind::kNull:
    case JsonKind::kKey:
      std::memcpy(p, "null", 4);
      return p + 4;
    case JsonKind::kBool:
      if (node.i != 0) {
        std::memcpy(p, "true", 4);
        return p + 4;
      }
      std::memcpy(p, "false", 5);
      return p + 5;
    case JsonKind::kInt64: {
      // Integers below 2^53 print as themselves.
      constexpr int64_t kTwo53 = int64_t{1} << 53;
      if (node.i > -kTwo53 && node.i < kTwo53) {
        if (node.i < 0) *p++ = '-';
        return WriteUnsigned(static_cast<uint64_t>(node.i < 0 ? -node.i : node.i), p);
      }
      return WriteJsonNumber(static_cast<double>(node.i), p);
    }
    case JsonKind::kUint64:
      return WriteJsonNumber(static_cast<double>(node.u), p);
    case JsonKind::kDouble:
      return WriteJsonNumber(node.d, p);
    case JsonKind::kString:
      if (node.flags & JsonNode::kPlain) {
        *p++ = '"';
        std::memcpy(p, node.str, node.len);
        p += node.len;
        *p++ = '"';
        return p;
      }
      return WriteEscapedString(node.string(), p);
    case JsonKind::kArray: {
      *p++ = '[';
      const JsonNode* e = node.first();
      for (uint32_t i = 0; i < node.len; ++i, e = e->next()) {
        if (i > 0) *p++ = ',';
        p = WriteNode(*e, p, order);
      }
      *p++ = ']';
      return p;
    }
    case JsonKind::kObject: {
      *p++ = '{';
      if (node.len == 1) {
        p = WriteKey(*node.first(), p);
        p = WriteNode(*(node.first() + 1), p, order);
      } else if (node.len > 1) {
        const size_t base = order->size();
        const JsonNode* k = node.first();
        for (uint32_t i = 0; i < node.len; ++i, k = NextKey(k)) order->push_back(k);
        SortKeys(order->data() + base, node.len);
        for (uint32_t i = 0; i < node.len; ++i) {
          if (i > 0) *p++ = ',';
          const JsonNode* key = (*order)[base + i];  // re-read: nested objects may grow it
          p = WriteKey(*key, p);
          p = WriteNode(*(key + 1), p, order);
        }
        order->resize(base);
      }
      *p++ = '}';
      return p;
    }
  }
  return p;
}

}  // namespace

size_t JsonPlainPrefix(const char* s, size_t n) { return PlainPrefix(s, n); }

bool JcsKeyLess(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  if (i == n) return a.size() < b.size();
  if (static_cast<uint8_t>(a[i]) < 0x80 && static_cast<uint8_t>(b[i]) < 0x80) {
    return static_cast<uint8_t>(a[i]) < static_cast<uint8_t>(b[i]);
  }
  // Back up to the first byte of the code point in which the strings differ (the bytes
  // before i are equal, so that code point starts at the same offset in both).
  while (i > 0 && ((static_cast<uint8_t>(a[i]) & 0xC0) == 0x80 ||
                   (static_cast<uint8_t>(b[i]) & 0xC0) == 0x80)) {
    --i;
  }
  const uint32_t wa = Utf16Weight(a, i);
  const uint32_t wb = Utf16Weight(b, i);
  if (wa != wb) return wa < wb;
  // Same weight from different bytes only happens with malformed input; fall back to bytes.
  return a.substr(i) < b.substr(i);
}

void AppendJsonString(std::string_view utf8, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char* const data = utf8.data();
  const size_t size = utf8.size();
  size_t i = PlainPrefix(data, size);
  if (i == size) {  // the common case: nothing to escape
    const size_t at = out->size();
    out->resize(at + size + 2);
    char* p = out->data() + at;
    p[0] = '"';
    std::memcpy(p + 1, data, size);
    p[size + 1] = '"';
    return;
  }
  out->reserve(out->size() + size + 16);
  out->push_back('"');
  size_t run = 0;  // start of the pending literal run
  for (; i < size; ++i) {
    const auto c = static_cast<uint8_t>(data[i]);
    if (!kNeedsEscape[c]) continue;
    out->append(data + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default: {
        const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0x0F]};
        out->append(esc, 6);
      }
    }
  }
  out->append(data + run, size - run);
  out->push_back('"');
}

void AppendJsonNumber(double number, std::string* out) {
  char buf[kMaxNumberBytes];
  out->append(buf, WriteJsonNumber(number, buf));
}

void AppendCanonical(const boost::json::value& value, std::string* out) {
  switch (value.kind()) {
    case boost::json::kind::null:
      out->append("null");
      return;
    case boost::json::kind::bool_:
      out->append(value.get_bool() ? "true" : "false");
      return;
    case boost::json::kind::int64:
      AppendJsonNumber(static_cast<double>(value.get_int64()), out);
      return;
    case boost::json::kind::uint64:
      AppendJsonNumber(static_cast<double>(value.get_uint64()), out);
      return;
    case boost::json::kind::double_:
      AppendJsonNumber(value.get_double(), out);
      return;
    case boost::json::kind::string: {
      const boost::json::string& s = value.get_string();
      AppendJsonString(std::string_view(s.data(), s.size()), out);
      return;
    }
    case boost::json::kind::array: {
      out->push_back('[');
      bool first = true;
      for (const auto& element : value.get_array()) {
        if (!first) out->push_back(',');
        first = false;
        AppendCanonical(element, out);
      }
      out->push_back(']');
      return;
    }
    case boost::json::kind::object:
      AppendObject(value.get_object(), out);
      return;
  }
}

std::string Canonical(const boost::json::value& value) {
  std::string out;
  AppendCanonical(value, &out);
  return out;
}

char* WriteJsonString(std::string_view s, char* out) { return WriteEscapedString(s, out); }

size_t CanonicalSizeBound(const JsonNode& node) {
  size_t bound = 0;
  const JsonNode* const end = node.next();
  for (const JsonNode* n = &node; n != end; ++n) {
    if (n->kind == JsonKind::kString || n->kind == JsonKind::kKey) {
      bound += size_t{6} * n->len + 4;  // quotes, and ':' or ','
    } else {
      bound += kMaxNumberBytes + 2;  // also covers literals and brackets
    }
  }
  return bound;
}

char* WriteCanonical(const JsonNode& node, char* out) {
  thread_local MemberOrder order;
  order.clear();
  return WriteNode(node, out, &order);
}

void AppendCanonical(const JsonNode& node, std::string* out) {
  const size_t at = out->size();
  out->resize(at + CanonicalSizeBound(node));
  char* end = WriteCanonical(node, out->data() + at);
  out->resize(static_cast<size_t>(end - out->data()));
}

}  // namespace annals
