// RFC 8785 JSON Canonicalization Scheme (JCS) writer. The canonical form is what annals
// stores, returns from GET /v1/events/{id} and hashes for tamper evidence, so it must be
// byte-exact: do not substitute boost::json::serialize (it prints 1.5 as 1.5E0).
// All functions are pure and thread-safe.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

namespace annals {

// Appends the canonical JSON of `value`: no whitespace, object members sorted by key
// (compared as UTF-16 code units, see JcsKeyLess), strings escaped as AppendJsonString,
// numbers as AppendJsonNumber (int64 and uint64 values are printed as the double they
// convert to, exactly like JavaScript would print them). Strings and keys are expected to be
// valid UTF-8 (ParseStrictJson guarantees it); other bytes are copied through unchanged.
void AppendCanonical(const boost::json::value& value, std::string* out);
std::string Canonical(const boost::json::value& value);

// Appends `utf8` as a JSON string literal with JCS escaping: \" \\ \b \f \n \r \t, other
// control characters below 0x20 as \u00xx (lowercase hex), everything else literally.
void AppendJsonString(std::string_view utf8, std::string* out);

// The length of the longest prefix of s[0..n) that AppendJsonString copies unescaped (no '"',
// '\\' or byte below 0x20); vectorized.
size_t JsonPlainPrefix(const char* s, size_t n);

// Appends `number` per ECMAScript Number::toString (shortest round-trip digits): integers
// below 1e21 without exponent, -0 as 0, 1e21 as 1e+21, 1e-7 as 1e-7, 0.000001 as 0.000001.
// NaN and infinities have no JSON form; they never occur in parsed JSON, and for them this
// function appends nothing.
void AppendJsonNumber(double number, std::string* out);

// Orders object member names as JCS requires: by their UTF-16 code units, given UTF-8
// input. Differs from byte order only between U+E000..U+FFFF and supplementary characters.
bool JcsKeyLess(std::string_view a, std::string_view b);

}  // namespace annals
