#include "query/event_filter.h"

#include <algorithm>

namespace annals {

namespace {
bool Contains(const std::vector<std::string>& values, const std::string& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}
}  // namespace

bool MatchesFilter(const EventFilter& f, const EventIndexFields& e) {
  if (e.organization_id != f.organization_id) return false;
  if (f.from && e.occurred_at < *f.from) return false;
  if (f.to && e.occurred_at >= *f.to) return false;
  if (!f.actions.empty() || !f.action_prefixes.empty()) {
    bool match = Contains(f.actions, e.action);
    for (size_t i = 0; !match && i < f.action_prefixes.size(); ++i) {
      match = e.action.starts_with(f.action_prefixes[i]);
    }
    if (!match) return false;
  }
  if (!f.actor_ids.empty() && !Contains(f.actor_ids, e.actor_id)) return false;
  if (!f.target_types.empty() || !f.target_ids.empty()) {
    return std::any_of(e.targets.begin(), e.targets.end(), [&](const TargetRef& t) {
      return (f.target_types.empty() || Contains(f.target_types, t.type)) &&
             (f.target_ids.empty() || Contains(f.target_ids, t.id));
    });
  }
  return true;
}

}  // namespace annals
