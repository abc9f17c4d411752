// Fuzz target for the Merkle proof verifiers (src/domain/merkle.h).
//
// Input layout: byte 0 selects the check (bit 2 clear: bit 0 picks inclusion or consistency;
// bit 2 set: multi-leaf inclusion; bit 1: raw or real-tree mode); the rest is read as below,
// missing bytes as zero.
//
// Raw mode: two little-endian uint64 (index and tree size, or first and second), one byte with
// the proof length (at most 70, fewer if the input ends), two hashes (leaf hash and root, or
// first and second root), then the proof hashes. The verifier must agree with an independent
// recursive verifier written from the PATH and SUBPROOF definitions of RFC 9162.
//
// Real-tree mode: a tree of 1-64 leaves is built; one byte picks its size, one the leaf index
// (or the first size), the genuine proof must verify, and each further byte pair mutates the
// proof, the sizes, the leaf hash or the roots. Whenever the verifier accepts a claim whose
// tree head (size and root) is genuine, the claim must be true: the leaf is the tree's leaf at
// that index, or the first root is the tree's root at that size, and the proof is the genuine
// one.
//
// Multi-leaf inclusion, raw mode: a little-endian uint64 tree size, one byte with the number
// of indices (at most 64), one encoding byte, one byte with the proof length, the root, one
// leaf hash per index (one fewer if bit 7 of the encoding byte is set), then the proof
// hashes. With bit 0 of the encoding byte clear each index is a little-endian uint64; with
// it set each is one byte g, the index being the previous one plus 1 plus g shifted left by
// bits 1-6 of the encoding byte (the first: g shifted), so that large trees get valid sets.
// VerifyMultiInclusion must agree with an independent verifier that lays the walk out level
// by level and evaluates it bottom-up.
//
// Multi-leaf inclusion, real-tree mode: one byte picks the size (1-64 leaves), eight bytes a
// bit mask of the indices; the proof must equal one built from the definition over the
// leaves and verify. Byte pairs then mutate the proof, the leaf hashes, the indices, the size
// and the root; the verifier must agree with the independent one, and whenever it accepts
// against a tree head the tree really had, every leaf must be the tree's leaf at its index
// and the proof the genuine one.
//
// A broken invariant calls abort(), which libFuzzer reports as a crash.
#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domain/merkle.h"

namespace {

using annals::merkle::Hash;

void Check(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint64_t U64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{Byte()} << (8 * i);
    return v;
  }
  Hash Hash32() {
    Hash h{};
    for (auto& b : h) b = Byte();
    return h;
  }
  size_t remaining() const { return size_ - pos_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// --- The independent verifiers: the RFC's recursive definitions, consuming the proof in the
// order PATH and SUBPROOF produce it (innermost first).

uint64_t Split(uint64_t n) { return std::bit_floor(n - 1); }

// Root of the range of `size` leaves in which the proven leaf sits at `index`.
std::optional<Hash> PathRoot(uint64_t index, uint64_t size, const Hash& leaf,
                             const std::vector<Hash>& proof, size_t* next) {
  if (size == 1) return leaf;
  const uint64_t k = Split(size);
  const bool left = index < k;
  auto inner = left ? PathRoot(index, k, leaf, proof, next)
                    : PathRoot(index - k, size - k, leaf, proof, next);
  if (!inner || *next >= proof.size()) return std::nullopt;
  const Hash& sibling = proof[(*next)++];
  return left ? annals::merkle::NodeHash(*inner, sibling)
              : annals::merkle::NodeHash(sibling, *inner);
}

bool ReferenceInclusion(uint64_t index, uint64_t size, const Hash& leaf,
                        const std::vector<Hash>& proof, const Hash& root) {
  if (index >= size) return false;
  size_t next = 0;
  auto got = PathRoot(index, size, leaf, proof, &next);
  return got && next == proof.size() && *got == root;
}

// (root of the first m leaves of the range, root of the whole range of n leaves).
std::optional<std::pair<Hash, Hash>> SubproofRoots(uint64_t m, uint64_t n, bool b,
                                                   const Hash& first_root,
                                                   const std::vector<Hash>& proof, size_t* next) {
  if (m == n) {
    if (b) return std::pair{first_root, first_root};
    if (*next >= proof.size()) return std::nullopt;
    const Hash& c = proof[(*next)++];
    return std::pair{c, c};
  }
  const uint64_t k = Split(n);
  if (m <= k) {
    auto inner = SubproofRoots(m, k, b, first_root, proof, next);
    if (!inner || *next >= proof.size()) return std::nullopt;
    const Hash& right = proof[(*next)++];
    return std::pair{inner->first, annals::merkle::NodeHash(inner->second, right)};
  }
  auto inner = SubproofRoots(m - k, n - k, false, first_root, proof, next);
  if (!inner || *next >= proof.size()) return std::nullopt;
  const Hash& left = proof[(*next)++];
  return std::pair{annals::merkle::NodeHash(left, inner->first),
                   annals::merkle::NodeHash(left, inner->second)};
}

bool ReferenceConsistency(uint64_t first, uint64_t second, const std::vector<Hash>& proof,
                          const Hash& first_root, const Hash& second_root) {
  const Hash empty = annals::merkle::EmptyRoot();
  if (first > second) return false;
  if (first == 0) {
    return proof.empty() && first_root == empty && (second != 0 || second_root == empty);
  }
  if (first == second) return proof.empty() && first_root == second_root;
  size_t next = 0;
  auto got = SubproofRoots(first, second, true, first_root, proof, &next);
  return got && next == proof.size() && got->first == first_root && got->second == second_root;
}

void RawMode(bool inclusion, Reader& in) {
  const uint64_t a = in.U64();
  const uint64_t b = in.U64();
  const size_t wanted = in.Byte() % 71;
  const Hash h1 = in.Hash32();
  const Hash h2 = in.Hash32();
  std::vector<Hash> proof;
  while (proof.size() < wanted && in.remaining() >= 32) proof.push_back(in.Hash32());
  if (inclusion) {
    Check(annals::merkle::VerifyInclusion(a, b, h1, proof, h2) ==
              ReferenceInclusion(a, b, h1, proof, h2),
          "VerifyInclusion agrees with the recursive PATH verifier");
  } else {
    Check(annals::merkle::VerifyConsistency(a, b, proof, h1, h2) ==
              ReferenceConsistency(a, b, proof, h1, h2),
          "VerifyConsistency agrees with the recursive SUBPROOF verifier");
  }
}

constexpr uint64_t kMaxLeaves = 64;

void RealTreeMode(bool inclusion, Reader& in) {
  using namespace annals::merkle;
  // Built once: the tree and its roots are the same for every input (single-threaded use).
  static LeafHashes tree = [] {
    LeafHashes t;
    for (uint64_t i = 0; i < kMaxLeaves; ++i) t.Append(LeafHash("leaf " + std::to_string(i)));
    return t;
  }();
  static const std::array<Hash, kMaxLeaves + 1> roots = [] {
    std::array<Hash, kMaxLeaves + 1> r;
    for (uint64_t n = 0; n <= kMaxLeaves; ++n) {
      auto root = RootOf(n, tree);
      Check(root.ok(), "RootOf succeeds");
      r[n] = *root;
    }
    return r;
  }();
  // True if (size, root) is a tree head this tree really had.
  auto genuine = [&](uint64_t size, const Hash& root) {
    return size <= kMaxLeaves && roots[size] == root;
  };

  const uint64_t n = 1 + in.Byte() % kMaxLeaves;
  uint64_t a = inclusion ? in.Byte() % n : in.Byte() % (n + 1);
  uint64_t b = n;
  auto made = inclusion ? InclusionProof(a, b, tree) : ConsistencyProof(a, b, tree);
  Check(made.ok(), "proofs of a real tree can be made");
  const std::vector<Hash> original = *made;
  std::vector<Hash> proof = original;
  Hash h1 = inclusion ? tree.leaves()[a] : roots[a];
  Hash h2 = roots[b];
  if (inclusion) {
    Check(VerifyInclusion(a, b, h1, proof, h2), "a genuine inclusion proof verifies");
  } else {
    Check(VerifyConsistency(a, b, proof, h1, h2), "a genuine consistency proof verifies");
  }

  while (in.remaining() >= 2) {
    const uint8_t op = in.Byte();
    const uint8_t x = in.Byte();
    switch (op % 8) {
      case 0:
        if (!proof.empty()) proof[x % proof.size()][(x >> 3) % 32] ^= uint8_t(1u << (op >> 5));
        break;
      case 1:
        h1[x % 32] ^= uint8_t(1u << (op >> 5));
        break;
      case 2:
        h2[x % 32] ^= uint8_t(1u << (op >> 5));
        break;
      case 3:
        a = (op & 0x80) != 0 ? a + (x % 4) - 2 : x;
        break;
      case 4:
        b = (op & 0x80) != 0 ? b + (x % 4) - 2 : x;
        break;
      case 5:
        if (!proof.empty())
          proof.erase(proof.begin() + static_cast<std::ptrdiff_t>(x % proof.size()));
        break;
      case 6: {
        // Insert a real node hash of the tree, or a root, at some position.
        Hash node = roots[x % (kMaxLeaves + 1)];
        if ((op & 0x80) != 0) node = tree.leaves()[x % kMaxLeaves];
        const size_t at = proof.empty() ? 0 : (op >> 3) % (proof.size() + 1);
        if (proof.size() < 70) proof.insert(proof.begin() + static_cast<std::ptrdiff_t>(at), node);
        break;
      }
      case 7:
        // Replace a hash by another genuine hash of the tree.
        if ((op & 0x80) != 0) {
          h2 = roots[x % (kMaxLeaves + 1)];
        } else {
          h1 = inclusion ? tree.leaves()[x % kMaxLeaves] : roots[x % (kMaxLeaves + 1)];
        }
        break;
    }
  }

  if (inclusion) {
    if (!VerifyInclusion(a, b, h1, proof, h2)) return;
    Check(ReferenceInclusion(a, b, h1, proof, h2), "the recursive verifier accepts too");
    if (!genuine(b, h2)) return;  // Nothing is claimed about a head the tree never had.
    Check(a < b && tree.leaves()[a] == h1, "an accepted leaf is the tree's leaf at the index");
    auto expected = InclusionProof(a, b, tree);
    Check(expected.ok() && *expected == proof, "an accepted proof is the genuine proof");
  } else {
    if (!VerifyConsistency(a, b, proof, h1, h2)) return;
    Check(ReferenceConsistency(a, b, proof, h1, h2), "the recursive verifier accepts too");
    if (!genuine(b, h2)) return;
    Check(a <= b && roots[a] == h1, "an accepted first root is the tree's root at that size");
    auto expected = ConsistencyProof(a, b, tree);
    Check(expected.ok() && *expected == proof, "an accepted proof is the genuine proof");
  }
}

// --- Multi-leaf inclusion.

// The walk of a multi-leaf proof laid out level by level: every node the walk reaches, in
// proof order (by level, then left to right), children after their parent.
struct WalkNode {
  uint64_t lo;
  uint64_t hi;
  size_t a;  // indices[a, b) lie in [lo, hi).
  size_t b;
  size_t left = 0;  // Positions of the children of a descended node, else 0.
  size_t right = 0;
};

bool StrictlyIncreasingBelow(const std::vector<uint64_t>& indices, uint64_t size) {
  for (size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] >= size || (i > 0 && indices[i - 1] >= indices[i])) return false;
  }
  return true;
}

// Precondition: size > 0 and indices strictly increasing and below size.
std::vector<WalkNode> LayOutWalk(const std::vector<uint64_t>& indices, uint64_t size) {
  std::vector<WalkNode> nodes = {WalkNode{0, size, 0, indices.size()}};
  for (size_t i = 0; i < nodes.size(); ++i) {
    const WalkNode node = nodes[i];
    if (node.a == node.b || node.hi - node.lo == 1) continue;
    const uint64_t split = node.lo + Split(node.hi - node.lo);
    size_t mid = node.a;
    while (mid < node.b && indices[mid] < split) ++mid;
    nodes[i].left = nodes.size();
    nodes.push_back(WalkNode{node.lo, split, node.a, mid});
    nodes[i].right = nodes.size();
    nodes.push_back(WalkNode{split, node.hi, mid, node.b});
  }
  return nodes;
}

bool ReferenceMulti(const std::vector<uint64_t>& indices, const std::vector<Hash>& leaves,
                    uint64_t size, const std::vector<Hash>& proof, const Hash& root) {
  if (leaves.size() != indices.size() || !StrictlyIncreasingBelow(indices, size)) return false;
  if (size == 0) return proof.empty() && root == annals::merkle::EmptyRoot();
  const std::vector<WalkNode> nodes = LayOutWalk(indices, size);
  std::vector<Hash> values(nodes.size());
  size_t next = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].a != nodes[i].b) continue;
    if (next == proof.size()) return false;
    values[i] = proof[next++];
  }
  if (next != proof.size()) return false;
  for (size_t i = nodes.size(); i-- > 0;) {
    const WalkNode& node = nodes[i];
    if (node.a == node.b) continue;
    values[i] = node.left == 0 ? leaves[node.a]
                               : annals::merkle::NodeHash(values[node.left], values[node.right]);
  }
  return values[0] == root;
}

void RawMultiMode(Reader& in) {
  const uint64_t size = in.U64();
  const size_t count = in.Byte() % 65;
  const uint8_t encoding = in.Byte();
  const size_t wanted = in.Byte();
  const Hash root = in.Hash32();
  std::vector<uint64_t> indices;
  if ((encoding & 1) != 0) {
    const int shift = (encoding >> 1) & 63;
    for (size_t i = 0; i < count; ++i) {
      const uint64_t step = uint64_t{in.Byte()} << shift;
      indices.push_back(i == 0 ? step : indices.back() + 1 + step);
    }
  } else {
    for (size_t i = 0; i < count; ++i) indices.push_back(in.U64());
  }
  std::vector<Hash> leaves;
  const size_t leaf_count = (encoding & 0x80) != 0 && count > 0 ? count - 1 : count;
  for (size_t i = 0; i < leaf_count; ++i) leaves.push_back(in.Hash32());
  std::vector<Hash> proof;
  while (proof.size() < wanted && in.remaining() >= 32) proof.push_back(in.Hash32());
  Check(annals::merkle::VerifyMultiInclusion(indices, leaves, size, proof, root) ==
            ReferenceMulti(indices, leaves, size, proof, root),
        "VerifyMultiInclusion agrees with the level-by-level verifier");
}

// MTH(leaves[lo, hi)) by the RFC's recursion.
Hash ReferenceMth(const std::vector<Hash>& leaves, uint64_t lo, uint64_t hi) {
  if (hi - lo == 1) return leaves[lo];
  const uint64_t k = Split(hi - lo);
  return annals::merkle::NodeHash(ReferenceMth(leaves, lo, lo + k),
                                  ReferenceMth(leaves, lo + k, hi));
}

void RealTreeMultiMode(Reader& in) {
  using namespace annals::merkle;
  static LeafHashes tree = [] {
    LeafHashes t;
    for (uint64_t i = 0; i < kMaxLeaves; ++i) t.Append(LeafHash("leaf " + std::to_string(i)));
    return t;
  }();
  static const std::array<Hash, kMaxLeaves + 1> roots = [] {
    std::array<Hash, kMaxLeaves + 1> r;
    r[0] = EmptyRoot();
    for (uint64_t n = 1; n <= kMaxLeaves; ++n) r[n] = ReferenceMth(tree.leaves(), 0, n);
    return r;
  }();
  auto genuine = [&](uint64_t size, const Hash& root) {
    return size <= kMaxLeaves && roots[size] == root;
  };

  const uint64_t n = 1 + in.Byte() % kMaxLeaves;
  const uint64_t mask = in.U64();
  std::vector<uint64_t> indices;
  for (uint64_t i = 0; i < n; ++i) {
    if ((mask >> i & 1) != 0) indices.push_back(i);
  }
  auto made = MultiInclusionProof(indices, n, tree);
  Check(made.ok(), "multi-leaf proofs of a real tree can be made");
  std::vector<Hash> expected;
  for (const WalkNode& node : LayOutWalk(indices, n)) {
    if (node.a == node.b) expected.push_back(ReferenceMth(tree.leaves(), node.lo, node.hi));
  }
  Check(*made == expected, "the multi-leaf proof is the one the definition gives");
  std::vector<Hash> proof = *made;
  std::vector<Hash> leaves;
  for (uint64_t i : indices) leaves.push_back(tree.leaves()[i]);
  uint64_t size = n;
  Hash root = roots[n];
  Check(VerifyMultiInclusion(indices, leaves, size, proof, root),
        "a genuine multi-leaf proof verifies");

  constexpr size_t kMaxItems = 300;
  while (in.remaining() >= 2) {
    const uint8_t op = in.Byte();
    const uint8_t x = in.Byte();
    const auto flip = uint8_t(1u << (op >> 5));
    switch (op % 8) {
      case 0:
        if (!proof.empty()) proof[x % proof.size()][(x >> 3) % 32] ^= flip;
        break;
      case 1:
        if (!leaves.empty()) leaves[x % leaves.size()][(x >> 3) % 32] ^= flip;
        break;
      case 2:
        root[x % 32] ^= flip;
        break;
      case 3:
        if (!indices.empty()) {
          uint64_t& index = indices[(op >> 3) % indices.size()];
          index = (op & 0x80) != 0 ? index + (x % 4) - 2 : x;
        }
        break;
      case 4:
        size = (op & 0x80) != 0 ? size + (x % 4) - 2 : x;
        break;
      case 5:
        // Remove a proof entry, a leaf (index and hash), or only an index or only a hash.
        if ((op & 0x80) == 0) {
          if (!proof.empty()) {
            proof.erase(proof.begin() + static_cast<std::ptrdiff_t>(x % proof.size()));
          }
        } else {
          const bool index = (op & 0x40) == 0 || (op & 0x20) != 0;
          const bool hash = (op & 0x40) == 0 || (op & 0x20) == 0;
          if (index && !indices.empty()) {
            indices.erase(indices.begin() + static_cast<std::ptrdiff_t>(x % indices.size()));
          }
          if (hash && !leaves.empty()) {
            leaves.erase(leaves.begin() + static_cast<std::ptrdiff_t>(x % leaves.size()));
          }
        }
        break;
      case 6: {
        if ((op & 0x80) == 0) {
          // Insert a genuine hash of the tree (a leaf, a root) into the proof.
          const Hash node =
              (op & 0x40) != 0 ? tree.leaves()[x % kMaxLeaves] : roots[x % (kMaxLeaves + 1)];
          const size_t at = proof.empty() ? 0 : (op >> 3) % (proof.size() + 1);
          if (proof.size() < kMaxItems) {
            proof.insert(proof.begin() + static_cast<std::ptrdiff_t>(at), node);
          }
        } else if (indices.size() < kMaxItems && leaves.size() < kMaxItems) {
          // Add a leaf with its genuine hash: in order, or at the end.
          const uint64_t index = x % (kMaxLeaves + 4);
          const Hash hash = tree.leaves()[index % kMaxLeaves];
          size_t at = indices.size();
          if ((op & 0x40) != 0) {
            at = 0;
            while (at < indices.size() && indices[at] < index) ++at;
          }
          indices.insert(indices.begin() + static_cast<std::ptrdiff_t>(at), index);
          leaves.insert(leaves.begin() + static_cast<std::ptrdiff_t>(std::min(at, leaves.size())),
                        hash);
        }
        break;
      }
      case 7:
        // Replace the root or a leaf hash by another genuine hash of the tree.
        if ((op & 0x80) != 0) {
          root = roots[x % (kMaxLeaves + 1)];
        } else if (!leaves.empty()) {
          leaves[(op >> 3) % leaves.size()] = tree.leaves()[x % kMaxLeaves];
        }
        break;
    }
  }

  const bool accepted = VerifyMultiInclusion(indices, leaves, size, proof, root);
  Check(accepted == ReferenceMulti(indices, leaves, size, proof, root),
        "VerifyMultiInclusion agrees with the level-by-level verifier on a mutated claim");
  if (!accepted || !genuine(size, root)) return;
  for (size_t i = 0; i < indices.size(); ++i) {
    Check(indices[i] < size && tree.leaves()[indices[i]] == leaves[i],
          "an accepted leaf is the tree's leaf at its index");
  }
  auto real = MultiInclusionProof(indices, size, tree);
  Check(real.ok() && *real == proof, "an accepted multi-leaf proof is the genuine proof");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader in(data, size);
  const uint8_t mode = in.Byte();
  const bool inclusion = (mode & 1) == 0;
  if ((mode & 4) != 0) {
    if ((mode & 2) == 0) {
      RawMultiMode(in);
    } else {
      RealTreeMultiMode(in);
    }
  } else if ((mode & 2) == 0) {
    RawMode(inclusion, in);
  } else {
    RealTreeMode(inclusion, in);
  }
  return 0;
}
