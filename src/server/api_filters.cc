// The common filter vocabulary in JSON request bodies and answers (exports, streams).
#include <boost/json.hpp>

#include "domain/canonical_json.h"
#include "query/event_query.h"
#include "server/api_internal.h"

namespace annals {

void ReadFilterMembers(const boost::json::object& body, const std::string& base,
                       EventFilter* filter, std::vector<ErrorDetail>* errors) {
  for (std::string_view name : kFilterMemberNames) {
    const boost::json::value* v = body.if_contains(name);
    if (v == nullptr) continue;
    const std::string n(name);
    if (v->is_string()) {
      ApplyFilterParam(n, std::string(v->as_string()), base + "/" + n, filter, errors);
    } else if (v->is_array() && !v->as_array().empty()) {
      const boost::json::array& a = v->as_array();
      for (size_t i = 0; i < a.size(); ++i) {
        const std::string path = base + "/" + n + "/" + std::to_string(i);
        if (!a[i].is_string()) {
          errors->push_back({path, n + " values must be strings"});
          continue;
        }
        ApplyFilterParam(n, std::string(a[i].as_string()), path, filter, errors);
      }
    } else {
      errors->push_back({base + "/" + n, n + " must be a string or a non-empty array of strings"});
    }
  }
}

void AppendJsonStringArray(const std::vector<std::string>& values, std::string* out) {
  *out += '[';
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) *out += ',';
    AppendJsonString(values[i], out);
  }
  *out += ']';
}

void AppendFilterMembersJson(const EventFilter& f, std::string* out) {
  std::vector<std::string> actions = f.actions;
  for (const auto& p : f.action_prefixes) actions.push_back(p + "*");
  *out += "{\"action\":";
  AppendJsonStringArray(actions, out);
  *out += ",\"actor_id\":";
  AppendJsonStringArray(f.actor_ids, out);
  *out += ",\"target_id\":";
  AppendJsonStringArray(f.target_ids, out);
  *out += ",\"target_type\":";
  AppendJsonStringArray(f.target_types, out);
  *out += '}';
}

}  // namespace annals
