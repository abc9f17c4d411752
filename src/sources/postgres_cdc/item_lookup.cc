#include "sources/postgres_cdc/item_lookup.h"

#include <set>

namespace annals::pgcdc {

// Walks the organization's events of the type (Store::Scan), then reads each item's
// lifecycle record. Cost: every event of the organization, per page.
Result<std::vector<std::string>> LiveItemIds(Store* store, const std::string& organization,
                                             const std::string& type, const std::string& after,
                                             size_t limit) {
  std::set<std::string> ids;
  ScanRequest scan;
  scan.filter.organization_id = organization;
  scan.filter.target_types = {type};
  scan.descending = false;
  scan.limit = 1000;
  for (;;) {
    Result<std::vector<EventRecord>> page = store->Scan(scan);
    if (!page.ok()) return page.status();
    for (const EventRecord& e : *page) {
      for (const TargetRef& t : e.fields.targets) {
        if (t.type == type && t.id > after) ids.insert(t.id);
      }
    }
    if (page->size() < scan.limit) break;
    scan.start_after = ListKey{page->back().fields.occurred_at, page->back().seq};
  }
  std::vector<std::string> out;
  for (const std::string& id : ids) {
    if (out.size() >= limit) break;
    Result<std::optional<ItemRecord>> item = store->GetItem(organization, type, id);
    if (!item.ok()) return item.status();
    if (item->has_value() && (*item)->deleted_at == 0) out.push_back(id);
  }
  return out;
}

}  // namespace annals::pgcdc
