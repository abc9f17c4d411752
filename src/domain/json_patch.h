// RFC 6902 JSON Patch between two JSON documents, for item history ("what changed").
// Pure; thread-safe.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

namespace annals {

// The operations that turn `from` into `to`, deterministic and minimal per member:
//  * objects are compared member by member, in RFC 8785 (JCS) key order: "remove" for
//    members only in `from`, "add" for members only in `to`, and a recursive diff for
//    members in both;
//  * arrays of equal length are compared element by element; arrays of different lengths
//    are replaced whole (a predictable patch rather than a clever one);
//  * anything else that differs (type or value) is one "replace".
// Numbers compare by value (1 and 1.0 are equal). Paths are JSON Pointers (RFC 6901).
// Applying the result to `from` yields `to`.
boost::json::array JsonPatch(const boost::json::value& from, const boost::json::value& to);

// Applies `patch` (only the add, remove and replace operations JsonPatch produces) to
// `doc`; false if an operation does not apply. For tests and tools.
bool ApplyJsonPatch(const boost::json::array& patch, boost::json::value* doc);

}  // namespace annals
