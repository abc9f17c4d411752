// Evaluating the common filter vocabulary (EventFilter) on one event, for consumers that
// see events one by one (live tail, streams). Pure; thread-safe.
#pragma once

#include "annals/event.h"
#include "annals/store.h"

namespace annals {

// True when the event satisfies every field of `filter` (organization, occurred_at range,
// actions and action prefixes, actors, targets), with Store::Scan's semantics.
bool MatchesFilter(const EventFilter& filter, const EventIndexFields& event);

}  // namespace annals
