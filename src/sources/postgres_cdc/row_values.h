// How PostgreSQL column values become JSON in change images, item ids and masked values
// (docs/change-capture.md "Event mapping"). Pure functions; thread-safe.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace annals::pgcdc {

// Built-in type OIDs annals maps to something other than a string.
inline constexpr uint32_t kBoolOid = 16;
inline constexpr uint32_t kInt8Oid = 20;
inline constexpr uint32_t kInt2Oid = 21;
inline constexpr uint32_t kInt4Oid = 23;
inline constexpr uint32_t kOidOid = 26;
inline constexpr uint32_t kJsonOid = 114;
inline constexpr uint32_t kFloat4Oid = 700;
inline constexpr uint32_t kFloat8Oid = 701;
inline constexpr uint32_t kNumericOid = 1700;
inline constexpr uint32_t kJsonbOid = 3802;

// The JSON value of a column given its type and its text output form:
//  * bool: true/false;
//  * int2/int4/int8/oid/float4/float8/numeric: a number when the text survives a round trip
//    through an IEEE-754 double (the API's rule), else the exact text as a string ("NaN",
//    "Infinity" and 9007199254740993 stay strings);
//  * json/jsonb: the document itself, with numbers that a double cannot hold kept exactly as
//    strings and, for json (which keeps duplicate keys), the last value of a repeated key;
//  * anything else (text, timestamps, uuids, arrays, enums, ...): the text as a string.
boost::json::value ColumnValue(uint32_t type_oid, std::string_view text);

// The number for a numeric text, or the text as a string when a double cannot hold it.
boost::json::value NumberOrString(std::string_view text);

// An item id from its primary-key values: each escaped by EscapeItemIdPart
// (sources/source_event.h), joined with ':'.
std::string ItemId(const std::vector<std::string_view>& key_parts);

// "hmac-sha256:" + lowercase hex of HMAC-SHA256(key, text).
std::string MaskValue(std::string_view key, std::string_view text);

}  // namespace annals::pgcdc
