#include "domain/merkle.h"

#include <openssl/evp.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "common/sha256.h"

namespace annals::merkle {
namespace {

Hash Digest(const uint8_t* data, size_t size) {
  Hash out{};
  Sha256Into(std::string_view(reinterpret_cast<const char*>(data), size), out.data());
  return out;
}

// The largest power of two strictly less than n. Precondition: n > 1.
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

// MTH(D[start : start + size]) for a range that the RFC's recursion produces: `start` is a
// multiple of std::bit_ceil(size), so the range decomposes into complete aligned subtrees of
// the sizes of size's set bits, largest first. popcount(size) Subtree calls. Precondition:
// size > 0.
Result<Hash> RangeRoot(uint64_t start, uint64_t size, SubtreeSource& source) {
  std::array<Hash, 64> parts;
  size_t count = 0;
  uint64_t offset = start;
  for (int bit = 63; bit >= 0; --bit) {
    const uint64_t part = uint64_t{1} << bit;
    if ((size & part) == 0) continue;
    auto hash = source.Subtree(offset, part);
    if (!hash.ok()) return hash.status();
    parts[count++] = *hash;
    offset += part;
  }
  Hash root = parts[count - 1];
  for (size_t i = count - 1; i > 0; --i) root = NodeHash(parts[i - 1], root);
  return root;
}

Result<Hash> AlignedSubtree(uint64_t start, uint64_t size, SubtreeSource& source) {
  return source.Subtree(start, size);
}

Hash SubtreeOfLeaves(const std::vector<Hash>& leaves, uint64_t start, uint64_t size) {
  if (size == 1) return leaves[start];
  const uint64_t half = size / 2;
  return NodeHash(SubtreeOfLeaves(leaves, start, half),
                  SubtreeOfLeaves(leaves, start + half, half));
}

// True if [lo, hi) is a node of some tree: lo < hi and lo is a multiple of
// std::bit_ceil(hi - lo), which for a range of more than 2^63 leaves means lo == 0.
bool IsTreeNode(uint64_t lo, uint64_t hi) {
  if (lo >= hi) return false;
  const uint64_t size = hi - lo;
  if (size > uint64_t{1} << 63) return lo == 0;
  return lo % std::bit_ceil(size) == 0;
}

// The position of the first index that breaks "strictly increasing and below tree_size", or
// indices.size() if there is none.
size_t FirstBadIndex(const std::vector<uint64_t>& indices, uint64_t tree_size) {
  for (size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] >= tree_size || (i > 0 && indices[i] <= indices[i - 1])) return i;
  }
  return indices.size();
}

// The first position in [a, b) whose index is >= split. Precondition: a < b and
// indices[a, b) is increasing. O(1) when all of them lie on one side of the split, which is
// the case at every node of a multi-proof walk but the (at most k - 1) branching ones;
// O(log(b - a)) otherwise.
size_t Partition(const std::vector<uint64_t>& indices, size_t a, size_t b, uint64_t split) {
  if (indices[b - 1] < split) return b;
  if (indices[a] >= split) return a;
  const auto first = indices.begin() + static_cast<std::ptrdiff_t>(a);
  const auto last = indices.begin() + static_cast<std::ptrdiff_t>(b);
  return static_cast<size_t>(std::lower_bound(first, last, split) - indices.begin());
}

// The number of levels of the deepest tree (2^64 - 1 leaves) below its root.
constexpr size_t kMaxLevels = 64;

// Walks the nodes of the multi-proof walk (see MultiInclusionProof) depth-first, left before
// right, without allocating. For each node that yields a hash by itself it calls
// terminal(lo, hi, a, b, level): a == b for a node [lo, hi) without any of the indices, else
// the leaf lo == leaf_indices[a] of the set (b == a + 1). After both children of a descended
// node have been walked it calls descended(level) with that node's level. Nodes of one level
// are reached left to right, so a per-level cursor sees them in proof order. Returns true
// once every node has been walked, false as soon as a callback returns false.
// Precondition: tree_size > 0 and `indices` strictly increasing and below tree_size.
template <typename Terminal, typename Descended>
bool WalkMulti(const std::vector<uint64_t>& indices, uint64_t tree_size, Terminal&& terminal,
               Descended&& descended) {
  // One frame per descended node above the current one: its right child and whether that
  // child has been started.
  struct Frame {
    uint64_t split;  // The right child is [split, hi) ...
    uint64_t hi;
    size_t mid;  // ... and holds indices[mid, b).
    size_t b;
    bool right_started;
  };
  std::array<Frame, kMaxLevels> stack;
  size_t depth = 0;
  uint64_t lo = 0;
  uint64_t hi = tree_size;
  size_t a = 0;
  size_t b = indices.size();
  for (;;) {
    while (a != b && hi - lo > 1) {
      if (depth == stack.size()) return false;  // Unreachable: no tree has more levels.
      const uint64_t split = lo + SplitPoint(hi - lo);
      const size_t mid = Partition(indices, a, b, split);
      stack[depth++] = Frame{split, hi, mid, b, false};
      hi = split;
      b = mid;
    }
    if (!terminal(lo, hi, a, b, depth)) return false;
    for (;;) {
      if (depth == 0) return true;
      Frame& frame = stack[depth - 1];
      if (!frame.right_started) {
        frame.right_started = true;
        lo = frame.split;
        hi = frame.hi;
        a = frame.mid;
        b = frame.b;
        break;
      }
      --depth;
      if (!descended(depth)) return false;
    }
  }
}

// Where each level's entries start in a multi-proof: starts[level] for levels 0-64, and
// starts[65] the proof's size. O(k log n) for k indices in a tree of n leaves.
// Precondition: as for WalkMulti.
std::array<size_t, kMaxLevels + 2> LevelStarts(const std::vector<uint64_t>& indices,
                                               uint64_t tree_size) {
  std::array<size_t, kMaxLevels + 2> starts{};
  WalkMulti(
      indices, tree_size,
      [&](uint64_t, uint64_t, size_t a, size_t b, size_t level) {
        if (a == b) ++starts[level + 1];
        return true;
      },
      [](size_t) { return true; });
  for (size_t level = 1; level < starts.size(); ++level) starts[level] += starts[level - 1];
  return starts;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string HashToHex(const Hash& hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(hash.size() * 2, '\0');
  for (size_t i = 0; i < hash.size(); ++i) {
    out[2 * i] = kDigits[hash[i] >> 4];
    out[2 * i + 1] = kDigits[hash[i] & 0x0f];
  }
  return out;
}

std::optional<Hash> HashFromHex(std::string_view hex) {
  Hash out{};
  if (hex.size() != out.size() * 2) return std::nullopt;
  for (size_t i = 0; i < out.size(); ++i) {
    const int high = HexValue(hex[2 * i]);
    const int low = HexValue(hex[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return out;
}

Hash LeafHash(std::string_view leaf_input) {
  // Event commitments are 32 bytes; larger inputs take the (rare) allocating path.
  std::array<uint8_t, 1 + 64> small;
  if (leaf_input.size() <= small.size() - 1) {
    small[0] = 0x00;
    if (!leaf_input.empty()) std::memcpy(small.data() + 1, leaf_input.data(), leaf_input.size());
    return Digest(small.data(), 1 + leaf_input.size());
  }
  std::string buffer(1, '\0');
  buffer.append(leaf_input);
  return Digest(reinterpret_cast<const uint8_t*>(buffer.data()), buffer.size());
}

Hash NodeHash(const Hash& left, const Hash& right) {
  std::array<uint8_t, 1 + 2 * 32> buffer;
  buffer[0] = 0x01;
  std::memcpy(buffer.data() + 1, left.data(), left.size());
  std::memcpy(buffer.data() + 1 + left.size(), right.data(), right.size());
  return Digest(buffer.data(), buffer.size());
}

Hash EmptyRoot() {
  static const Hash empty = Digest(nullptr, 0);
  return empty;
}

bool IsAlignedSubtree(uint64_t start, uint64_t size) {
  return std::has_single_bit(size) && start % size == 0;
}

Result<Hash> RootOf(uint64_t tree_size, SubtreeSource& source) {
  if (tree_size == 0) return EmptyRoot();
  return RangeRoot(0, tree_size, source);
}

Result<std::vector<Hash>> InclusionProof(uint64_t leaf_index, uint64_t tree_size,
                                         SubtreeSource& source) {
  if (leaf_index >= tree_size) {
    return Status::InvalidArgument("leaf index " + std::to_string(leaf_index) +
                                   " is not below tree size " + std::to_string(tree_size));
  }
  // Walks PATH(m, D[n]) from the root down over the range [lo, lo + n), collecting the
  // siblings root-first; the proof lists them leaf-first.
  std::vector<Hash> proof;
  uint64_t lo = 0;
  uint64_t n = tree_size;
  const uint64_t m = leaf_index;
  while (n > 1) {
    const uint64_t k = SplitPoint(n);
    if (m - lo < k) {
      // PATH(m, D[0:k]) : MTH(D[k:n])
      auto sibling = RangeRoot(lo + k, n - k, source);
      if (!sibling.ok()) return sibling.status();
      proof.push_back(*sibling);
      n = k;
    } else {
      // PATH(m - k, D[k:n]) : MTH(D[0:k])
      auto sibling = AlignedSubtree(lo, k, source);
      if (!sibling.ok()) return sibling.status();
      proof.push_back(*sibling);
      lo += k;
      n -= k;
    }
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

Result<std::vector<Hash>> ConsistencyProof(uint64_t first, uint64_t second, SubtreeSource& source) {
  if (first > second) {
    return Status::InvalidArgument("first tree size " + std::to_string(first) +
                                   " exceeds second tree size " + std::to_string(second));
  }
  std::vector<Hash> proof;
  if (first == 0 || first == second) return proof;
  // Walks SUBPROOF(m, D[n], b) from the top over the range [lo, lo + n), collecting the
  // siblings outermost-first; the proof is the innermost term followed by the siblings
  // innermost-first.
  std::vector<Hash> siblings;
  uint64_t lo = 0;
  uint64_t n = second;
  uint64_t m = first;
  bool b = true;
  while (m != n) {
    const uint64_t k = SplitPoint(n);
    if (m <= k) {
      // SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
      auto sibling = RangeRoot(lo + k, n - k, source);
      if (!sibling.ok()) return sibling.status();
      siblings.push_back(*sibling);
      n = k;
    } else {
      // SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
      auto sibling = AlignedSubtree(lo, k, source);
      if (!sibling.ok()) return sibling.status();
      siblings.push_back(*sibling);
      lo += k;
      m -= k;
      n -= k;
      b = false;
    }
  }
  if (!b) {
    // SUBPROOF(m, D[m], false) = {MTH(D[m])}
    auto inner = RangeRoot(lo, n, source);
    if (!inner.ok()) return inner.status();
    proof.push_back(*inner);
  }
  proof.insert(proof.end(), siblings.rbegin(), siblings.rend());
  return proof;
}

Result<Hash> RangeHash(uint64_t lo, uint64_t hi, SubtreeSource& source) {
  if (!IsTreeNode(lo, hi)) {
    return Status::InvalidArgument("[" + std::to_string(lo) + ", " + std::to_string(hi) +
                                   ") is not a node of any Merkle tree");
  }
  return RangeRoot(lo, hi - lo, source);
}

Result<std::vector<Hash>> MultiInclusionProof(const std::vector<uint64_t>& leaf_indices,
                                              uint64_t tree_size, SubtreeSource& source) {
  if (const size_t bad = FirstBadIndex(leaf_indices, tree_size); bad != leaf_indices.size()) {
    return Status::InvalidArgument(
        "leaf index " + std::to_string(leaf_indices[bad]) + " at position " + std::to_string(bad) +
        (leaf_indices[bad] >= tree_size
             ? " is not below tree size " + std::to_string(tree_size)
             : " does not follow " + std::to_string(leaf_indices[bad - 1]) + " strictly"));
  }
  std::vector<Hash> proof;
  if (tree_size == 0) return proof;
  // Two walks: the first counts each level's entries, the second, left to right, fills each
  // level's part of the proof from its start.
  std::array<size_t, kMaxLevels + 2> cursor = LevelStarts(leaf_indices, tree_size);
  proof.resize(cursor.back());
  Status failure;
  const bool walked = WalkMulti(
      leaf_indices, tree_size,
      [&](uint64_t lo, uint64_t hi, size_t a, size_t b, size_t level) {
        if (a != b) return true;  // A leaf in the set.
        auto hash = RangeRoot(lo, hi - lo, source);
        if (!hash.ok()) {
          failure = hash.status();
          return false;
        }
        proof[cursor[level]++] = *hash;
        return true;
      },
      [](size_t) { return true; });
  if (!failure.ok()) return failure;
  if (!walked) return Status::Internal("Merkle tree deeper than 64 levels");
  return proof;
}

bool VerifyMultiInclusion(const std::vector<uint64_t>& leaf_indices,
                          const std::vector<Hash>& leaf_hashes, uint64_t tree_size,
                          const std::vector<Hash>& proof, const Hash& root) {
  if (leaf_hashes.size() != leaf_indices.size()) return false;
  if (FirstBadIndex(leaf_indices, tree_size) != leaf_indices.size()) return false;
  if (tree_size == 0) return proof.empty() && root == EmptyRoot();
  // The indices fix the walk, hence how many entries each level takes: a proof of another
  // length has garbage or missing entries.
  std::array<size_t, kMaxLevels + 2> cursor = LevelStarts(leaf_indices, tree_size);
  if (cursor.back() != proof.size()) return false;
  // Evaluated bottom-up: each node that yields a hash pushes it, each descended node replaces
  // its two children's hashes by its own. At most one pending left child per level, plus the
  // current node.
  std::array<Hash, kMaxLevels + 1> values;
  size_t count = 0;
  const bool walked = WalkMulti(
      leaf_indices, tree_size,
      [&](uint64_t, uint64_t, size_t a, size_t b, size_t level) {
        if (count == values.size()) return false;
        // Within its level's part: the counts above fix each level's share of the proof.
        values[count++] = a == b ? proof[cursor[level]++] : leaf_hashes[a];
        return true;
      },
      [&](size_t) {
        if (count < 2) return false;
        values[count - 2] = NodeHash(values[count - 2], values[count - 1]);
        --count;
        return true;
      });
  return walked && count == 1 && values[0] == root;
}

bool VerifyInclusion(uint64_t leaf_index, uint64_t tree_size, const Hash& leaf_hash,
                     const std::vector<Hash>& proof, const Hash& root) {
  // RFC 9162 section 2.1.3.2, step by step.
  if (leaf_index >= tree_size) return false;
  uint64_t fn = leaf_index;
  uint64_t sn = tree_size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) return false;  // The proof is too long.
    if ((fn & 1) != 0 || fn == sn) {
      r = NodeHash(p, r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;  // sn != 0: the proof is too short.
}

bool VerifyConsistency(uint64_t first, uint64_t second, const std::vector<Hash>& proof,
                       const Hash& first_root, const Hash& second_root) {
  if (first > second) return false;
  if (first == 0) {
    return proof.empty() && first_root == EmptyRoot() &&
           (second != 0 || second_root == EmptyRoot());
  }
  if (first == second) return proof.empty() && first_root == second_root;
  // RFC 9162 section 2.1.4.2, step by step, for 0 < first < second. The path is `proof`,
  // preceded by first_root when first is a power of two (step 2), read in place.
  if (proof.empty()) return false;
  const bool prepend = std::has_single_bit(first);
  const size_t path_size = proof.size() + (prepend ? 1 : 0);
  auto path = [&](size_t i) -> const Hash& {
    return prepend ? (i == 0 ? first_root : proof[i - 1]) : proof[i];
  };
  uint64_t fn = first - 1;
  uint64_t sn = second - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path(0);
  Hash sr = path(0);
  for (size_t i = 1; i < path_size; ++i) {
    const Hash& c = path(i);
    if (sn == 0) return false;  // The proof is too long.
    if ((fn & 1) != 0 || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return fr == first_root && sr == second_root && sn == 0;
}

Result<Hash> LeafHashes::Subtree(uint64_t start, uint64_t size) {
  if (!IsAlignedSubtree(start, size) || start > leaves_.size() || size > leaves_.size() - start) {
    return Status::InvalidArgument("no complete aligned subtree [" + std::to_string(start) + ", +" +
                                   std::to_string(size) + ") in a tree of " +
                                   std::to_string(leaves_.size()) + " leaves");
  }
  return SubtreeOfLeaves(leaves_, start, size);
}

Result<CompactRange> CompactRange::FromHashes(uint64_t size, std::vector<Hash> hashes) {
  if (hashes.size() != static_cast<size_t>(std::popcount(size))) {
    return Status::InvalidArgument("a tree of " + std::to_string(size) + " leaves has " +
                                   std::to_string(std::popcount(size)) + " frontier hashes, not " +
                                   std::to_string(hashes.size()));
  }
  CompactRange range;
  range.size_ = size;
  range.hashes_ = std::move(hashes);
  return range;
}

Result<CompactRange> CompactRange::FromSource(uint64_t size, SubtreeSource& source) {
  std::vector<Hash> hashes;
  hashes.reserve(std::popcount(size));
  uint64_t offset = 0;
  for (int bit = 63; bit >= 0; --bit) {
    const uint64_t part = uint64_t{1} << bit;
    if ((size & part) == 0) continue;
    auto hash = source.Subtree(offset, part);
    if (!hash.ok()) return hash.status();
    hashes.push_back(*hash);
    offset += part;
  }
  return FromHashes(size, std::move(hashes));
}

Status CompactRange::Append(const Hash& leaf_hash, std::vector<SubtreeHash>* finished) {
  if (size_ == UINT64_MAX) return Status::InvalidArgument("the tree is full");
  const uint64_t index = size_;
  Hash hash = leaf_hash;
  uint64_t width = 1;
  if (finished != nullptr) finished->push_back(SubtreeHash{index, 1, hash});
  // Each set low bit of size_ is a frontier subtree of that width that the new one completes.
  while ((size_ & width) != 0) {
    hash = NodeHash(hashes_.back(), hash);
    hashes_.pop_back();
    width <<= 1;
    if (finished != nullptr) finished->push_back(SubtreeHash{index + 1 - width, width, hash});
  }
  hashes_.push_back(hash);
  ++size_;
  return Status::Ok();
}

Hash CompactRange::Root() const {
  if (hashes_.empty()) return EmptyRoot();
  Hash root = hashes_.back();
  for (size_t i = hashes_.size() - 1; i > 0; --i) root = NodeHash(hashes_[i - 1], root);
  return root;
}

std::vector<SubtreeHash> CompactRange::Subtrees() const {
  std::vector<SubtreeHash> out;
  out.reserve(hashes_.size());
  uint64_t offset = 0;
  size_t i = 0;
  for (int bit = 63; bit >= 0; --bit) {
    const uint64_t part = uint64_t{1} << bit;
    if ((size_ & part) == 0) continue;
    out.push_back(SubtreeHash{offset, part, hashes_[i++]});
    offset += part;
  }
  return out;
}

}  // namespace annals::merkle
