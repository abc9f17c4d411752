// Evaluating the common filter vocabulary (EventFilter) on one event, for every consumer
// that sees events one by one: the store's scans (on stored headers), live tail and streams
// (on records). Pure; thread-safe.
#pragma once

#include <string_view>
#include <vector>

#include "annals/event.h"
#include "annals/store.h"

namespace annals {

namespace filter_detail {
inline bool Contains(const std::vector<std::string>& values, std::string_view v) {
  for (const auto& x : values) {
    if (x == v) return true;
  }
  return false;
}
}  // namespace filter_detail

// True when an event with these fields satisfies every field of `f` (organization,
// occurred_at range [from, to), exact actions or action prefixes, actors, and a target that
// matches both target_types and target_ids). `any_target(pred)` must return whether
// pred(type, id) holds for one of the event's targets.
template <typename AnyTargetFn>
bool MatchesFilterFields(const EventFilter& f, std::string_view organization_id,
                         TimestampUs occurred_at, std::string_view action,
                         std::string_view actor_id, AnyTargetFn&& any_target) {
  using filter_detail::Contains;
  if (organization_id != f.organization_id) return false;
  if (f.from && occurred_at < *f.from) return false;
  if (f.to && occurred_at >= *f.to) return false;
  if (!f.actions.empty() || !f.action_prefixes.empty()) {
    bool match = Contains(f.actions, action);
    for (size_t i = 0; !match && i < f.action_prefixes.size(); ++i) {
      match = action.starts_with(f.action_prefixes[i]);
    }
    if (!match) return false;
  }
  if (!f.actor_ids.empty() && !Contains(f.actor_ids, actor_id)) return false;
  if (!f.target_types.empty() || !f.target_ids.empty()) {
    return any_target([&](std::string_view type, std::string_view id) {
      return (f.target_types.empty() || Contains(f.target_types, type)) &&
             (f.target_ids.empty() || Contains(f.target_ids, id));
    });
  }
  return true;
}

// MatchesFilterFields on an event's index fields.
inline bool MatchesFilter(const EventFilter& f, const EventIndexFields& e) {
  return MatchesFilterFields(f, e.organization_id, e.occurred_at, e.action, e.actor_id,
                             [&](auto&& pred) {
                               for (const TargetRef& t : e.targets) {
                                 if (pred(t.type, t.id)) return true;
                               }
                               return false;
                             });
}

}  // namespace annals
