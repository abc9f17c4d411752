// The stored form of an EventFilter (inside export and stream records in the meta space):
// a JSON object with "organization_id", "actions", "action_prefixes", "actor_ids",
// "target_types", "target_ids" (arrays of strings) and optional "from" / "to" (µs). Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "annals/store.h"

namespace annals {

boost::json::object EncodeFilterRecord(const EventFilter& filter);
// False when `o` is not a filter record (a missing organization_id or a member of the wrong
// type); `*filter` is then unspecified.
bool DecodeFilterRecord(const boost::json::object& o, EventFilter* filter);

// Helpers for records with string-array members.
boost::json::array JsonStrings(const std::vector<std::string>& values);
// Appends the strings of member `key` (absent: nothing); false when it is not an array of
// strings.
bool GetJsonStrings(const boost::json::object& o, std::string_view key,
                    std::vector<std::string>* out);

}  // namespace annals
