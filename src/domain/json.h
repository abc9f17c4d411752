// Strict JSON parsing for the API (PRODUCT.md "Event model": duplicate keys and numbers that
// do not survive a double round trip are 400s) and JSON Pointer helpers.
// All functions are thread-safe (parsers are per thread).
#pragma once

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "annals/status.h"

namespace annals {

// Parses exactly one JSON document (RFC 8259) and returns it as a boost::json::value.
//
// Rejected, each as Status::InvalidArgument(message, "invalid_json", {{path, message}}) where
// `path` is a JSON Pointer (RFC 6901) to the offending place ("" when it is the whole
// document or cannot be determined) and the message names the line and column:
//  * malformed JSON, an empty document, and anything but whitespace after the value;
//  * invalid UTF-8 anywhere, unescaped control characters in strings, bad escapes and
//    unpaired UTF-16 surrogate escapes (when the bad bytes are inside an object key, the
//    path shows them as '?' so that it stays valid UTF-8);
//  * a key that appears twice in one object (the path names the second occurrence);
//  * nesting deeper than `max_depth` containers (the outermost object or array is depth 1;
//    scalars add nothing). max_depth is capped at kMaxSupportedJsonDepth;
//  * a number that does not survive a round trip through an IEEE-754 double: it is accepted
//    only if its decimal value equals the value of the shortest decimal that round-trips
//    the double it parses to, i.e. serializing the parsed number (RFC 8785) yields the same
//    number. So 0.1, 1.5e300, 9007199254740992, -0 and 1E2 pass, while 9007199254740993,
//    0.10000000000000000001, 1e400, 1e-400 and 123456789012345678901234 fail.
//
// Accepted numbers are stored as int64 when integral and within int64 range (-0 becomes 0),
// otherwise as double; never as uint64.
Result<boost::json::value> ParseStrictJson(std::string_view text, size_t max_depth);
// Same, allocating the tree from `storage` (e.g. a boost::json::monotonic_resource that the
// caller keeps alive longer than the returned value).
Result<boost::json::value> ParseStrictJson(std::string_view text, size_t max_depth,
                                           boost::json::storage_ptr storage);

inline constexpr size_t kMaxSupportedJsonDepth = 1000;

// Appends "/" and `token` escaped per RFC 6901 ('~' -> "~0", '/' -> "~1") to *pointer.
void AppendJsonPointerToken(std::string_view token, std::string* pointer);
// Same for an array index.
void AppendJsonPointerIndex(size_t index, std::string* pointer);

// Returns `token` escaped per RFC 6901.
std::string EscapeJsonPointerToken(std::string_view token);

}  // namespace annals
