#include "domain/canonical_json.h"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <vector>

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

void AppendUnsigned(uint64_t v, std::string* out) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

// Writes the members of `obj` in JCS order.
void AppendObject(const boost::json::object& obj, std::string* out) {
  out->push_back('{');
  if (obj.size() == 1) {
    const auto& kv = *obj.begin();
    AppendJsonString(kv.key(), out);
    out->push_back(':');
    AppendCanonical(kv.value(), out);
  } else if (!obj.empty()) {
    std::vector<const boost::json::key_value_pair*> members;
    members.reserve(obj.size());
    for (const auto& kv : obj) members.push_back(&kv);
    std::sort(members.begin(), members.end(),
              [](const boost::json::key_value_pair* a, const boost::json::key_value_pair* b) {
                return JcsKeyLess(a->key(), b->key());
              });
    bool first = true;
    for (const auto* kv : members) {
      if (!first) out->push_back(',');
      first = false;
      AppendJsonString(kv->key(), out);
      out->push_back(':');
      AppendCanonical(kv->value(), out);
    }
  }
  out->push_back('}');
}

}  // namespace

bool JcsKeyLess(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  if (i == n) return a.size() < b.size();
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
  out->push_back('"');
  size_t run = 0;  // start of the pending literal run
  for (size_t i = 0; i < utf8.size(); ++i) {
    const auto c = static_cast<uint8_t>(utf8[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(utf8.data() + run, i - run);
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
  out->append(utf8.data() + run, utf8.size() - run);
  out->push_back('"');
}

void AppendJsonNumber(double number, std::string* out) {
  if (!std::isfinite(number)) return;
  if (number == 0) {  // also -0
    out->push_back('0');
    return;
  }
  // Integers below 2^53 print as themselves; this is the common case.
  constexpr double kTwo53 = 9007199254740992.0;
  if (std::fabs(number) < kTwo53 && std::trunc(number) == number) {
    if (number < 0) out->push_back('-');
    AppendUnsigned(static_cast<uint64_t>(std::fabs(number)), out);
    return;
  }
  if (number < 0) {
    out->push_back('-');
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
    out->append(digits, static_cast<size_t>(k));
    out->append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out->append(digits, static_cast<size_t>(n));
    out->push_back('.');
    out->append(digits + n, static_cast<size_t>(k - n));
  } else if (-6 < n && n <= 0) {
    out->append("0.");
    out->append(static_cast<size_t>(-n), '0');
    out->append(digits, static_cast<size_t>(k));
  } else {
    out->push_back(digits[0]);
    if (k > 1) {
      out->push_back('.');
      out->append(digits + 1, static_cast<size_t>(k - 1));
    }
    out->push_back('e');
    out->push_back(n - 1 < 0 ? '-' : '+');
    AppendUnsigned(static_cast<uint64_t>(n - 1 < 0 ? 1 - n : n - 1), out);
  }
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

}  // namespace annals
