#include "sources/postgres_cdc/item_lookup.h"

namespace annals::pgcdc {

Result<std::vector<std::string>> LiveItemIds(Store* store, const std::string& organization,
                                             const std::string& type, const std::string& after,
                                             size_t limit) {
  std::vector<std::string> out;
  std::string start = after;
  // Deleted items are skipped, so a page may take several reads.
  while (out.size() < limit) {
    Result<std::vector<ItemRecord>> items = store->ListItems(organization, type, start, limit);
    if (!items.ok()) return items.status();
    for (const ItemRecord& item : *items) {
      if (item.deleted_at == 0 && out.size() < limit) out.push_back(item.id);
    }
    if (items->size() < limit) break;
    start = items->back().id;
  }
  return out;
}

}  // namespace annals::pgcdc
