#include "domain/event_filter_json.h"

namespace annals {

namespace json = boost::json;

json::array JsonStrings(const std::vector<std::string>& values) {
  json::array a;
  for (const auto& v : values) a.emplace_back(v);
  return a;
}

bool GetJsonStrings(const json::object& o, std::string_view key, std::vector<std::string>* out) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return true;
  if (!v->is_array()) return false;
  for (const json::value& x : v->as_array()) {
    if (!x.is_string()) return false;
    out->emplace_back(x.as_string());
  }
  return true;
}

json::object EncodeFilterRecord(const EventFilter& f) {
  json::object o;
  o["organization_id"] = f.organization_id;
  o["actions"] = JsonStrings(f.actions);
  o["action_prefixes"] = JsonStrings(f.action_prefixes);
  o["actor_ids"] = JsonStrings(f.actor_ids);
  o["target_types"] = JsonStrings(f.target_types);
  o["target_ids"] = JsonStrings(f.target_ids);
  if (f.from) o["from"] = *f.from;
  if (f.to) o["to"] = *f.to;
  return o;
}

bool DecodeFilterRecord(const json::object& o, EventFilter* f) {
  const json::value* org = o.if_contains("organization_id");
  if (org == nullptr || !org->is_string()) return false;
  f->organization_id = std::string(org->as_string());
  if (!GetJsonStrings(o, "actions", &f->actions) ||
      !GetJsonStrings(o, "action_prefixes", &f->action_prefixes) ||
      !GetJsonStrings(o, "actor_ids", &f->actor_ids) ||
      !GetJsonStrings(o, "target_types", &f->target_types) ||
      !GetJsonStrings(o, "target_ids", &f->target_ids)) {
    return false;
  }
  for (const char* name : {"from", "to"}) {
    const json::value* v = o.if_contains(name);
    if (v == nullptr) continue;
    if (!v->is_int64() && !v->is_uint64()) return false;
    (std::string_view(name) == "from" ? f->from : f->to) = v->to_number<int64_t>();
  }
  return true;
}

}  // namespace annals
