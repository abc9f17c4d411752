// Merkle tree math of RFC 9162 (Certificate Transparency version 2.0), section 2.1, with
// SHA-256: hashing, tree heads, inclusion and consistency proofs and their verification.
//
// The tree over leaves d(0) .. d(n-1) is MTH(D[n]) as defined in RFC 9162 section 2.1.1: the
// left subtree of a tree of n > 1 leaves holds the largest power of two k < n leaves. Every
// function here is storage-agnostic: roots and proofs are computed from the hashes of complete
// aligned subtrees, which a SubtreeSource supplies (a store keeps them, e.g. in tiles; the
// in-memory LeafHashes computes them).
//
// Unless stated otherwise, functions are pure and thread-safe, and a SubtreeSource is used only
// by the calling thread for the duration of the call.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "annals/status.h"

namespace annals::merkle {

// A SHA-256 digest: a leaf hash, a node hash or a tree root.
using Hash = std::array<uint8_t, 32>;

// Returns `hash` as 64 lowercase hexadecimal characters.
std::string HashToHex(const Hash& hash);

// Parses exactly 64 lowercase hexadecimal characters. Strict: returns nullopt for any other
// length, for uppercase letters and for any other character, so every hash has exactly one
// accepted encoding.
std::optional<Hash> HashFromHex(std::string_view hex);

// SHA-256(0x00 || leaf_input). In annals the leaf input is the 32-byte event commitment.
Hash LeafHash(std::string_view leaf_input);

// SHA-256(0x01 || left || right).
Hash NodeHash(const Hash& left, const Hash& right);

// The root of the empty tree: SHA-256 of the empty string (e3b0c442...b855).
Hash EmptyRoot();

// True if [start, start + size) is a complete aligned subtree: `size` is a power of two and
// `start` a multiple of `size`. These are exactly the ranges whose hashes are the nodes of
// every tree that contains them, so a store can persist them once and for all.
bool IsAlignedSubtree(uint64_t start, uint64_t size);

// Supplies hashes of complete aligned subtrees of one append-only tree.
//
// Subtree(start, size) returns MTH(D[start : start + size]) for IsAlignedSubtree(start, size)
// and start + size no greater than the number of leaves the source holds; size == 1 is the
// leaf hash. It returns kInvalidArgument for a range that is not aligned or not held, and may
// return any other error (e.g. kUnavailable from a store), which the callers below pass on
// unchanged. Implementations decide their own thread-safety; the functions below call a
// source from the calling thread only.
class SubtreeSource {
 public:
  virtual ~SubtreeSource() = default;
  virtual Result<Hash> Subtree(uint64_t start, uint64_t size) = 0;
};

// MTH(D[tree_size]) (EmptyRoot() for 0). Makes popcount(tree_size) Subtree calls.
Result<Hash> RootOf(uint64_t tree_size, SubtreeSource& source);

// PATH(leaf_index, D[tree_size]) of RFC 9162 section 2.1.3.1: the audit path from the leaf up
// to the root, nearest sibling first. kInvalidArgument if leaf_index >= tree_size.
// Makes at most 2 * ceil(log2(tree_size)) Subtree calls; the result has one hash per level
// the leaf lies below the root.
Result<std::vector<Hash>> InclusionProof(uint64_t leaf_index, uint64_t tree_size,
                                         SubtreeSource& source);

// PROOF(first, D[second]) of RFC 9162 section 2.1.4.1 (SUBPROOF with b = true). The proof is
// empty for first == 0 and for first == second (the RFC defines it for 0 < first < second
// only; these trivial cases need no hashes). kInvalidArgument if first > second.
// Makes at most 2 * ceil(log2(second)) + 1 Subtree calls.
Result<std::vector<Hash>> ConsistencyProof(uint64_t first, uint64_t second, SubtreeSource& source);

// Verifies an inclusion proof as in RFC 9162 section 2.1.3.2: true only if `proof` is exactly
// the audit path that, from `leaf_hash` at `leaf_index`, yields `root` for a tree of
// `tree_size` leaves. Rejects leaf_index >= tree_size (so every proof for an empty tree) and a
// proof that is too short or too long. O(proof.size()) hashing, no allocation.
// The proof binds the leaf to `root`, not `root` to `tree_size`: a proof whose path has the
// same shape in a tree of another size also verifies against that size (leaf 0's proof in a
// tree of 5 leaves passes for tree_size 6 with the 5-leaf root), so tree_size and root must
// come from one signed tree head.
bool VerifyInclusion(uint64_t leaf_index, uint64_t tree_size, const Hash& leaf_hash,
                     const std::vector<Hash>& proof, const Hash& root);

// Verifies a consistency proof as in RFC 9162 section 2.1.4.2: true only if the tree of
// `first` leaves with root `first_root` is a prefix of the tree of `second` leaves with root
// `second_root`. Beyond the RFC's 0 < first < second:
//   - first > second: rejected;
//   - first == second: accepted only with an empty proof and equal roots;
//   - first == 0: accepted only with an empty proof and first_root == EmptyRoot() (every tree
//     extends the empty tree; second_root is then not constrained unless second == 0, when it
//     must be EmptyRoot() too).
// A proof that is too short or too long is rejected. O(proof.size()) hashing, no allocation.
// As with VerifyInclusion, each size must come with its root from one signed tree head.
bool VerifyConsistency(uint64_t first, uint64_t second, const std::vector<Hash>& proof,
                       const Hash& first_root, const Hash& second_root);

// MTH(D[lo:hi]), the hash of the range [lo, hi) of leaves, for a range that is a node of
// some tree: lo < hi and lo is a multiple of std::bit_ceil(hi - lo) (for hi - lo > 2^63, lo
// is 0). These are exactly the complete aligned subtrees and the right-edge nodes [lo, n) of
// a tree of n = hi leaves; the range decomposes into complete aligned subtrees of the sizes of
// the set bits of hi - lo, largest first. kInvalidArgument for any other range.
// Makes popcount(hi - lo) Subtree calls (one for a complete aligned subtree).
Result<Hash> RangeHash(uint64_t lo, uint64_t hi, SubtreeSource& source);

// A multi-leaf inclusion proof: the hashes a verifier needs, besides the leaves at
// `leaf_indices`, to recompute MTH(D[tree_size]).
//
// Definition (the order is the contract): walk the RFC 9162 tree top-down, left before right
// (the node [lo, hi) splits at lo + k with k the largest power of two < hi - lo; its children
// are one level below it, the root is level 0);
//   - a node containing none of the indices contributes its hash (one entry) and is not
//     descended;
//   - a node that is a single leaf in the set contributes nothing;
//   - every other node is descended.
// Top-down means level by level: the entries are ordered by level, the root's side first,
// and within a level from left to right. For a single index the proof is therefore the audit
// path InclusionProof returns, reversed. Empty indices with tree_size > 0 give the root
// alone; tree_size 0 requires empty indices and gives an empty proof.
//
// kInvalidArgument unless `leaf_indices` is strictly increasing and every index is below
// tree_size. For k indices in a tree of n leaves: O(k log n) work (never O(n)), at most
// k * ceil(log2(n)) hashes (the root alone for k = 0), and one Subtree call per hash except
// for at most one right-edge node that is not a complete subtree, so at most
// proof.size() + 63 Subtree calls. Errors of the source are passed on unchanged.
Result<std::vector<Hash>> MultiInclusionProof(const std::vector<uint64_t>& leaf_indices,
                                              uint64_t tree_size, SubtreeSource& source);

// Verifies a multi-leaf inclusion proof: recomputes the root from the leaves
// (leaf_hashes[i] is the hash of leaf leaf_indices[i]) and `proof`, consuming the proof in
// the order MultiInclusionProof defines. True only if
//   - leaf_hashes has one hash per index, and the indices are strictly increasing and below
//     tree_size;
//   - every proof entry is consumed exactly once: none missing, none left over;
//   - the recomputed root equals `root`.
// For tree_size 0 that means empty indices, an empty proof and root == EmptyRoot().
// Iterative (explicit stacks of at most 64 levels, no recursion, no allocation);
// O(k log n) work for k indices in a tree of n leaves, whatever the proof, and at most
// proof.size() + k - 1 hash computations.
// As with VerifyInclusion, the proof binds the leaves to `root`, not `root` to tree_size: the
// same proof can verify for another size whose tree has the same shape around the leaves,
// so tree_size and root must come from one signed tree head.
bool VerifyMultiInclusion(const std::vector<uint64_t>& leaf_indices,
                          const std::vector<Hash>& leaf_hashes, uint64_t tree_size,
                          const std::vector<Hash>& proof, const Hash& root);

// An in-memory SubtreeSource over leaf hashes, computing each subtree from its leaves
// (O(size) hashing per Subtree call). For tests, small trees and offline verification.
// Not synchronized: concurrent const use is safe, Append needs exclusive access.
class LeafHashes final : public SubtreeSource {
 public:
  LeafHashes() = default;
  explicit LeafHashes(std::vector<Hash> leaf_hashes) : leaves_(std::move(leaf_hashes)) {}

  void Append(const Hash& leaf_hash) { leaves_.push_back(leaf_hash); }
  uint64_t size() const { return leaves_.size(); }
  const std::vector<Hash>& leaves() const { return leaves_; }

  Result<Hash> Subtree(uint64_t start, uint64_t size) override;

 private:
  std::vector<Hash> leaves_;
};

// A complete aligned subtree and its hash: what a store persists.
struct SubtreeHash {
  uint64_t start = 0;
  uint64_t size = 0;  // A power of two; start is a multiple of it.
  Hash hash{};

  bool operator==(const SubtreeHash&) const = default;
};

// The right edge (the "frontier") of an append-only tree: the hashes of the complete aligned
// subtrees that D[size] decomposes into, largest (leftmost) first, one per set bit of size.
// Maintains the root while leaves are appended, without access to earlier leaves.
// Not synchronized: a value type; concurrent const use is safe.
class CompactRange {
 public:
  // The empty tree.
  CompactRange() = default;

  // Restores the frontier of a tree of `size` leaves from its subtree hashes, largest first
  // (as returned by hashes()). kInvalidArgument unless hashes.size() == popcount(size).
  static Result<CompactRange> FromHashes(uint64_t size, std::vector<Hash> hashes);

  // Restores the frontier of a tree of `size` leaves from a source that holds at least that
  // many leaves; popcount(size) Subtree calls.
  static Result<CompactRange> FromSource(uint64_t size, SubtreeSource& source);

  // Appends the leaf with hash `leaf_hash` as leaf number size(). If `finished` is not null,
  // appends to it every complete aligned subtree this leaf completes, smallest first: the leaf
  // itself ({size(), 1, leaf_hash}), then each subtree of size 2, 4, ... that now ends with it.
  // Amortised O(1) hashing; kInvalidArgument only if the tree already holds 2^64 - 1 leaves.
  Status Append(const Hash& leaf_hash, std::vector<SubtreeHash>* finished = nullptr);

  // MTH(D[size()]); EmptyRoot() for the empty tree. O(log size()) hashing.
  Hash Root() const;

  uint64_t size() const { return size_; }

  // The frontier, largest subtree first; popcount(size()) hashes.
  const std::vector<Hash>& hashes() const { return hashes_; }

  // The frontier as subtrees with their positions, largest first.
  std::vector<SubtreeHash> Subtrees() const;

 private:
  uint64_t size_ = 0;
  std::vector<Hash> hashes_;
};

}  // namespace annals::merkle
