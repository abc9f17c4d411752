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

#include <cstdint>
#include <string>
#include <string_view>

namespace annals::storage {

// Encoded sizes of the fixed-width components.
inline constexpr size_t kU64Size = 8;
inline constexpr size_t kTimestampSize = 8;

void AppendU64(std::string* dst, uint64_t value);
void AppendTimestamp(std::string* dst, int64_t value);
// The same encodings written to out[0..7], for callers that build keys in fixed buffers.
void StoreU64(uint64_t value, char* out);
void StoreTimestamp(int64_t value, char* out);
void AppendString(std::string* dst, std::string_view value);

// Appends the escaped bytes of `prefix` without the terminator. Every key whose string
// component at this place starts with `prefix` starts with the result, which makes it a seek
// target and a range prefix for "strings starting with prefix" (e.g. action "finding.*").
void AppendStringPrefix(std::string* dst, std::string_view prefix);

bool ConsumeU64(std::string_view* input, uint64_t* value);
bool ConsumeTimestamp(std::string_view* input, int64_t* value);
bool ConsumeString(std::string_view* input, std::string* value);
// Advances past one encoded string without materializing it.
bool SkipString(std::string_view* input);

// Convenience forms returning a fresh string.
std::string EncodeU64(uint64_t value);
std::string EncodeString(std::string_view value);

// Decodes a key that is exactly one u64 (e.g. an events key or a position value).
bool DecodeU64(std::string_view input, uint64_t* value);

// The length of the encoded string at the front of `input` (including its terminator), or 0
// when `input` does not start with a complete encoded string.
size_t EncodedStringLength(std::string_view input);

// The smallest string greater than every string that starts with `prefix`, or "" when no
// such string exists (prefix empty or all 0xFF). Used as an exclusive upper bound.
std::string PrefixSuccessor(std::string_view prefix);

}  // namespace annals::storage
