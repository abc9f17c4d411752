#include "sources/postgres_cdc/row_values.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <charconv>
#include <cmath>

#include "domain/json.h"
#include "sources/source_event.h"

namespace annals::pgcdc {

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A lenient reader for the text of a json/jsonb column. PostgreSQL has already validated the
// text, so this reader only has to be right on valid JSON; on anything unexpected it gives
// up and the caller keeps the text as a string.
class LenientJson {
 public:
  explicit LenientJson(std::string_view text) : s_(text) {}

  bool Parse(boost::json::value* out) {
    if (!Value(out, 0)) return false;
    SkipSpace();
    return pos_ == s_.size();
  }

 private:
  static constexpr int kMaxDepth = 1000;

  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool Hex4(uint32_t* out) {
    if (s_.size() - pos_ < 4) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_++];
      v <<= 4;
      if (IsDigit(c)) {
        v |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    *out = v;
    return true;
  }

  bool String(std::string* out) {
    ++pos_;  // opening quote
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '"') return true;
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return false;
      const char e = s_[pos_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (s_.substr(pos_, 2) != "\\u") return false;
            pos_ += 2;
            if (!Hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  bool Value(boost::json::value* out, int depth) {
    if (depth > kMaxDepth) return false;
    SkipSpace();
    if (pos_ >= s_.size()) return false;
    const char c = s_[pos_];
    if (c == '{') {
      ++pos_;
      boost::json::object obj;
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        *out = std::move(obj);
        return true;
      }
      for (;;) {
        SkipSpace();
        if (pos_ >= s_.size() || s_[pos_] != '"') return false;
        std::string key;
        if (!String(&key)) return false;
        SkipSpace();
        if (pos_ >= s_.size() || s_[pos_] != ':') return false;
        ++pos_;
        boost::json::value v;
        if (!Value(&v, depth + 1)) return false;
        obj[key] = std::move(v);  // a repeated key: the last value wins (as in jsonb)
        SkipSpace();
        if (pos_ >= s_.size()) return false;
        if (s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (s_[pos_] != '}') return false;
        ++pos_;
        *out = std::move(obj);
        return true;
      }
    }
    if (c == '[') {
      ++pos_;
      boost::json::array arr;
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        *out = std::move(arr);
        return true;
      }
      for (;;) {
        boost::json::value v;
        if (!Value(&v, depth + 1)) return false;
        arr.push_back(std::move(v));
        SkipSpace();
        if (pos_ >= s_.size()) return false;
        if (s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (s_[pos_] != ']') return false;
        ++pos_;
        *out = std::move(arr);
        return true;
      }
    }
    if (c == '"') {
      std::string str;
      if (!String(&str)) return false;
      *out = boost::json::string(str);
      return true;
    }
    if (Literal("true")) {
      *out = true;
      return true;
    }
    if (Literal("false")) {
      *out = false;
      return true;
    }
    if (Literal("null")) {
      *out = nullptr;
      return true;
    }
    const size_t start = pos_;
    while (pos_ < s_.size() && (IsDigit(s_[pos_]) || s_[pos_] == '-' || s_[pos_] == '+' ||
                                s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
    }
    if (pos_ == start) return false;
    *out = NumberOrString(s_.substr(start, pos_ - start));
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

boost::json::value JsonColumn(std::string_view text) {
  // Usually the strict reader accepts the document as it is.
  Result<boost::json::value> strict = ParseStrictJson(text, kMaxSupportedJsonDepth);
  if (strict.ok()) return std::move(strict).value();
  boost::json::value v;
  if (LenientJson(text).Parse(&v)) return v;
  return boost::json::string(text);
}

}  // namespace

boost::json::value NumberOrString(std::string_view text) {
  // Plain integers of at most 15 digits are exact and their own shortest form.
  {
    size_t k = !text.empty() && text[0] == '-' ? 1 : 0;
    const size_t digits = text.size() - k;
    if (digits >= 1 && digits <= 15 && (text[k] != '0' || digits == 1)) {
      int64_t v = 0;
      for (; k < text.size() && IsDigit(text[k]); ++k) v = v * 10 + (text[k] - '0');
      if (k == text.size()) return boost::json::value(text[0] == '-' ? -v : v);
    }
  }
  // Plain decimals (numeric's output form) of at most 15 significant digits and modest
  // magnitude: every such decimal survives a double round trip (DBL_DIG is 15).
  {
    size_t k = !text.empty() && text[0] == '-' ? 1 : 0;
    size_t significant = 0, digits = 0, dots = 0;
    bool leading = true;
    for (; k < text.size(); ++k) {
      const char c = text[k];
      if (c == '.') {
        ++dots;
        continue;
      }
      if (!IsDigit(c)) break;
      ++digits;
      if (c != '0') leading = false;
      if (!leading) ++significant;
    }
    // Trailing zeros of the fraction are not significant.
    if (dots == 1 && k == text.size()) {
      for (size_t j = text.size(); j-- > 0 && text[j] == '0' && significant > 0;) --significant;
    }
    if (k == text.size() && dots == 1 && digits >= 2 && text.size() <= 40 &&
        significant <= 15 && text[text.size() - 1] != '.' && text[text[0] == '-' ? 1 : 0] != '.') {
      double d = 0;
      const auto r = std::from_chars(text.data(), text.data() + text.size(), d);
      if (r.ec == std::errc() && r.ptr == text.data() + text.size()) {
        if (d == 0) return boost::json::value(int64_t{0});
        if (std::trunc(d) == d && std::fabs(d) < 9007199254740992.0) {
          return boost::json::value(static_cast<int64_t>(d));
        }
        return boost::json::value(d);
      }
    }
  }
  Result<boost::json::value> parsed = ParseStrictJson(text, 1);
  if (parsed.ok() && parsed->is_number()) return std::move(parsed).value();
  return boost::json::string(text);
}

boost::json::value ColumnValue(uint32_t type_oid, std::string_view text) {
  switch (type_oid) {
    case kBoolOid:
      if (text == "t") return true;
      if (text == "f") return false;
      return boost::json::string(text);
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid:
    case kOidOid:
    case kFloat4Oid:
    case kFloat8Oid:
    case kNumericOid:
      return NumberOrString(text);
    case kJsonOid:
    case kJsonbOid:
      return JsonColumn(text);
    default:
      return boost::json::string(text);
  }
}

std::string ItemId(const std::vector<std::string_view>& key_parts) {
  std::string out;
  for (size_t i = 0; i < key_parts.size(); ++i) {
    if (i) out.push_back(':');
    out += EscapeItemIdPart(key_parts[i]);
  }
  return out;
}

std::string MaskValue(std::string_view key, std::string_view text) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "hmac-sha256:";
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[mac[i] >> 4]);
    out.push_back(kHex[mac[i] & 15]);
  }
  return out;
}

}  // namespace annals::pgcdc
