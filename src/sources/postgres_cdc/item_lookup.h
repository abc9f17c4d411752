// The items a TRUNCATE ends: the live items of one target type in one organization.
// Thread-safe as the Store is.
#pragma once

#include <string>
#include <vector>

#include "annals/status.h"
#include "annals/store.h"

namespace annals::pgcdc {

// Ids of the items of `type` in `organization` that are not deleted, in id (byte) order,
// strictly after `after` when it is not empty, at most `limit`.
Result<std::vector<std::string>> LiveItemIds(Store* store, const std::string& organization,
                                             const std::string& type, const std::string& after,
                                             size_t limit);

}  // namespace annals::pgcdc
