#include "storage/tree_source.h"

#include <bit>

namespace annals {
namespace {

constexpr uint64_t kTileWidth = uint64_t{1} << kMerkleTileHeight;

}  // namespace

Result<const std::vector<merkle::Hash>*> StoreTreeSource::Tile(int level, uint64_t index) {
  const uint64_t tile = index / kTileWidth;
  auto it = tiles_.find({level, tile});
  if (it != tiles_.end()) return &it->second;
  Result<std::vector<Digest>> nodes =
      store_->TreeNodes(organization_id_, level, tile * kTileWidth, kTileWidth);
  if (!nodes.ok()) return nodes.status();
  std::vector<merkle::Hash> hashes;
  if (level == 0) {
    hashes.reserve(nodes->size());
    for (const Digest& c : *nodes) {
      hashes.push_back(merkle::LeafHash(
          std::string_view(reinterpret_cast<const char*>(c.data()), c.size())));
    }
    commitment_tiles_[tile] = std::move(*nodes);
  } else {
    hashes = std::move(*nodes);
  }
  return &tiles_.emplace(std::make_pair(level, tile), std::move(hashes)).first->second;
}

Result<merkle::Hash> StoreTreeSource::Subtree(uint64_t start, uint64_t size) {
  if (!merkle::IsAlignedSubtree(start, size)) {
    return Status::InvalidArgument("not an aligned subtree: [" + std::to_string(start) + ", +" +
                                   std::to_string(size) + ")");
  }
  const int k = std::countr_zero(size);
  const int level = k / kMerkleTileHeight * kMerkleTileHeight;
  const int r = k - level;
  const uint64_t first = start >> level;
  const uint64_t count = uint64_t{1} << r;
  Result<const std::vector<merkle::Hash>*> tile = Tile(level, first);
  if (!tile.ok()) return tile.status();
  const std::vector<merkle::Hash>& nodes = **tile;
  const uint64_t offset = first % kTileWidth;
  if (offset + count > nodes.size()) {
    // The stored run ends inside the range: beyond the tree's edge, or a node is missing.
    return Status::InvalidArgument("subtree [" + std::to_string(start) + ", +" +
                                   std::to_string(size) + ") is not stored");
  }
  if (count == 1) return nodes[offset];
  std::vector<merkle::Hash> row(nodes.begin() + offset, nodes.begin() + offset + count);
  while (row.size() > 1) {
    for (size_t i = 0; i < row.size() / 2; ++i) row[i] = merkle::NodeHash(row[2 * i], row[2 * i + 1]);
    row.resize(row.size() / 2);
  }
  return row[0];
}

Result<std::pair<merkle::Hash, Digest>> StoreTreeSource::Leaf(uint64_t index) {
  Result<const std::vector<merkle::Hash>*> tile = Tile(0, index);
  if (!tile.ok()) return tile.status();
  const uint64_t offset = index % kTileWidth;
  if (offset >= (*tile)->size()) {
    return Status::NotFound("leaf " + std::to_string(index) + " is beyond the stored tree",
                            "leaf_not_found");
  }
  return std::make_pair((**tile)[offset], commitment_tiles_[index / kTileWidth][offset]);
}

}  // namespace annals
