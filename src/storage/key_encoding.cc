#include "storage/key_encoding.h"

#include <cstring>

namespace annals::storage {
namespace {

constexpr char kEscape = '\x00';
constexpr char kEscapedZero = '\xFF';
constexpr char kTerminator = '\x01';
}  // namespace

void AppendU64(std::string* dst, uint64_t value) {
  char buf[kU64Size];
  StoreU64(value, buf);
  dst->append(buf, kU64Size);
}

void AppendTimestamp(std::string* dst, int64_t value) {
  char buf[kTimestampSize];
  StoreTimestamp(value, buf);
  dst->append(buf, kTimestampSize);
}

void AppendStringPrefix(std::string* dst, std::string_view prefix) {
  const char* p = prefix.data();
  const char* end = p + prefix.size();
  while (p < end) {
    const void* zero = std::memchr(p, 0, static_cast<size_t>(end - p));
    if (zero == nullptr) {
      dst->append(p, static_cast<size_t>(end - p));
      break;
    }
    const char* z = static_cast<const char*>(zero);
    dst->append(p, static_cast<size_t>(z - p));
    dst->push_back(kEscape);
    dst->push_back(kEscapedZero);
    p = z + 1;
  }
}

void AppendString(std::string* dst, std::string_view value) {
  AppendStringPrefix(dst, value);
  dst->push_back(kEscape);
  dst->push_back(kTerminator);
}

size_t EncodedStringLength(std::string_view input) {
  size_t i = 0;
  while (true) {
    const void* zero = std::memchr(input.data() + i, 0, input.size() - i);
    if (zero == nullptr) return 0;
    i = static_cast<size_t>(static_cast<const char*>(zero) - input.data());
    if (i + 1 >= input.size()) return 0;  // an escape byte with nothing after it
    const char next = input[i + 1];
    if (next == kTerminator) return i + 2;
    if (next != kEscapedZero) return 0;  // 0x00 followed by anything else is malformed
    i += 2;
  }
}

bool ConsumeString(std::string_view* input, std::string* value) {
  const size_t len = EncodedStringLength(*input);
  if (len == 0) return false;
  value->clear();
  value->reserve(len - 2);
  std::string_view body = input->substr(0, len - 2);
  while (!body.empty()) {
    const size_t zero = body.find('\0');
    if (zero == std::string_view::npos) {
      value->append(body);
      break;
    }
    value->append(body.data(), zero);
    value->push_back('\0');
    body.remove_prefix(zero + 2);  // EncodedStringLength checked the 0xFF after it
  }
  input->remove_prefix(len);
  return true;
}

bool SkipString(std::string_view* input) {
  const size_t len = EncodedStringLength(*input);
  if (len == 0) return false;
  input->remove_prefix(len);
  return true;
}

std::string EncodeU64(uint64_t value) {
  std::string s;
  AppendU64(&s, value);
  return s;
}

std::string EncodeString(std::string_view value) {
  std::string s;
  AppendString(&s, value);
  return s;
}

std::string PrefixSuccessor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    unsigned char last = static_cast<unsigned char>(s.back());
    if (last != 0xFF) {
      s.back() = static_cast<char>(last + 1);
      return s;
    }
    s.pop_back();
  }
  return s;
}

}  // namespace annals::storage
