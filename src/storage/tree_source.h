// A merkle::SubtreeSource over the nodes a Store keeps for one organization's tree
// (Store::TreeNodes): commitments at level 0 and complete aligned subtrees at every
// kMerkleTileHeight-th level (h). A subtree of 2^(ht + r) leaves is hashed up from 2^r stored
// nodes of level ht, which lie in one run of 2^h nodes (a "tile"); tiles are read once per
// source and kept, so one proof reads at most a few tiles per h levels.
//
// Not synchronized: one source serves one thread (one proof, one root) at a time. It may
// be used for any tree size up to the organization's size when it was created; nodes of
// complete subtrees never change, so concurrent appends do not disturb it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "annals/store.h"
#include "domain/merkle.h"

namespace annals {

class StoreTreeSource final : public merkle::SubtreeSource {
 public:
  // `store` must outlive the source.
  StoreTreeSource(Store* store, std::string organization_id)
      : store_(store), organization_id_(std::move(organization_id)) {}

  // kInvalidArgument for a range that is not an aligned subtree or whose nodes are not
  // (all) stored; store errors unchanged.
  Result<merkle::Hash> Subtree(uint64_t start, uint64_t size) override;

  // The leaf hash of leaf `index` and its commitment (the leaf input).
  Result<std::pair<merkle::Hash, Digest>> Leaf(uint64_t index);

 private:
  // The tile of `level` holding node `index`: nodes [w·k, w·k + w), w = 2^kMerkleTileHeight, as stored (leaf
  // hashes at level 0), possibly fewer at the right edge.
  Result<const std::vector<merkle::Hash>*> Tile(int level, uint64_t index);

  Store* store_;
  std::string organization_id_;
  std::map<std::pair<int, uint64_t>, std::vector<merkle::Hash>> tiles_;
  std::map<uint64_t, std::vector<Digest>> commitment_tiles_;
};

}  // namespace annals
