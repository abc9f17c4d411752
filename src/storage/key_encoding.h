// Order-preserving key encoding for the embedded store (docs/storage.md "Key encoding").
//
// A key is a concatenation of components. Each component's encoding is chosen so that
// comparing two encoded keys bytewise (memcmp, RocksDB's default comparator) gives the same
// result as comparing their component tuples one component after another:
//
//  * u64:        8 bytes, big-endian.
//  * timestamp:  a signed 64-bit value with its sign bit flipped, then 8 bytes big-endian, so
//                that negative values sort before positive ones.
//  * string:     the bytes of the string with every 0x00 written as 0x00 0xFF, followed by the
//                terminator 0x00 0x01. The encoding is prefix-free (no encoded string is a
//                prefix of another encoded string), and bytewise order of encodings equals
//                bytewise order of the strings, also when one string is a prefix of the other.
//
// Append* functions append to `dst`. Consume* functions decode one component from the front
// of `*input`, advance `*input` past it, and return false (leaving `*value` unspecified and
// `*input` unchanged) when the input is malformed or truncated.
//
// All functions are pure; thread-compatible.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace annals::storage {

// Encoded sizes of the fixed-width components.
inline constexpr size_t kU64Size = 8;
inline constexpr size_t kTimestampSize = 8;

// The fixed-width codecs are defined here, inline: index scans call them for every entry.
namespace detail {
inline constexpr uint64_t kSignBit = uint64_t{1} << 63;
inline uint64_t LoadBigEndian64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
  return v;
}
}  // namespace detail

void AppendU64(std::string* dst, uint64_t value);
void AppendTimestamp(std::string* dst, int64_t value);
// The same encodings written to out[0..7], for callers that build keys in fixed buffers.
inline void StoreU64(uint64_t value, char* out) {
  if constexpr (std::endian::native == std::endian::little) value = __builtin_bswap64(value);
  std::memcpy(out, &value, sizeof value);
}
inline void StoreTimestamp(int64_t value, char* out) {
  StoreU64(static_cast<uint64_t>(value) ^ detail::kSignBit, out);
}
void AppendString(std::string* dst, std::string_view value);

// Appends the escaped bytes of `prefix` without the terminator. Every key whose string
// component at this place starts with `prefix` starts with the result, which makes it a seek
// target and a range prefix for "strings starting with prefix" (e.g. action "finding.*").
void AppendStringPrefix(std::string* dst, std::string_view prefix);

inline bool ConsumeU64(std::string_view* input, uint64_t* value) {
  if (input->size() < kU64Size) return false;
  *value = detail::LoadBigEndian64(input->data());
  input->remove_prefix(kU64Size);
  return true;
}
inline bool ConsumeTimestamp(std::string_view* input, int64_t* value) {
  uint64_t raw = 0;
  if (!ConsumeU64(input, &raw)) return false;
  *value = static_cast<int64_t>(raw ^ detail::kSignBit);
  return true;
}
bool ConsumeString(std::string_view* input, std::string* value);
// Advances past one encoded string without materializing it.
bool SkipString(std::string_view* input);

// Convenience forms returning a fresh string.
std::string EncodeU64(uint64_t value);
std::string EncodeString(std::string_view value);

// Decodes a key that is exactly one u64 (e.g. an events key or a position value).
inline bool DecodeU64(std::string_view input, uint64_t* value) {
  if (input.size() != kU64Size) return false;
  *value = detail::LoadBigEndian64(input.data());
  return true;
}

// The length of the encoded string at the front of `input` (including its terminator), or 0
// when `input` does not start with a complete encoded string.
size_t EncodedStringLength(std::string_view input);

// The smallest string greater than every string that starts with `prefix`, or "" when no
// such string exists (prefix empty or all 0xFF). Used as an exclusive upper bound.
std::string PrefixSuccessor(std::string_view prefix);

}  // namespace annals::storage
