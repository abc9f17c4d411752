#include "domain/merkle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/sha256.h"

namespace annals::merkle {
namespace {

Hash H(std::string_view hex) {
  auto hash = HashFromHex(hex);
  EXPECT_TRUE(hash.has_value()) << hex;
  return hash.value_or(Hash{});
}

std::string Bytes(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::vector<Hash> Hs(std::initializer_list<std::string_view> hexes) {
  std::vector<Hash> out;
  for (auto hex : hexes) out.push_back(H(hex));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Known-answer data: the reference tree of RFC 6962 implementations (the eight leaf inputs,
// node hashes, roots for sizes 1-8 and proofs used by the test suites of
// github.com/transparency-dev/merkle, testonly/constants.go and proof/verify_test.go, which
// go back to google/certificate-transparency).

const char* const kLeafInputs[] = {
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};

const char* const kLeafHashes[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
};

// Complete subtrees above the leaves: [level][index].
const char* const kLevel1[] = {
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
};
const char* const kLevel2[] = {
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
};

// Roots by tree size 0-8.
const char* const kRoots[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct InclusionVector {
  uint64_t index;  // 0-based.
  uint64_t size;
  std::vector<Hash> proof;
};

std::vector<InclusionVector> InclusionVectors() {
  return {
      {0, 1, {}},
      {0, 8,
       Hs({"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
           "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
           "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"})},
      {5, 8,
       Hs({"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
           "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
           "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
      {2, 3, Hs({"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"})},
      {1, 5,
       Hs({"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
           "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
           "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"})},
  };
}

struct ConsistencyVector {
  uint64_t first;
  uint64_t second;
  std::vector<Hash> proof;
};

std::vector<ConsistencyVector> ConsistencyVectors() {
  return {
      {1, 1, {}},
      {1, 8,
       Hs({"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
           "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
           "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"})},
      {6, 8,
       Hs({"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
           "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
           "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
      {2, 5,
       Hs({"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
           "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"})},
      {6, 7,
       Hs({"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
           "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
           "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
  };
}

LeafHashes ReferenceTree() {
  LeafHashes tree;
  for (const char* input : kLeafInputs) tree.Append(LeafHash(Bytes(input)));
  return tree;
}

// ---------------------------------------------------------------------------------------------
// An independent model: MTH, PATH and SUBPROOF written literally from RFC 9162 section 2.1
// over a vector of leaf hashes, recursing on sub-vectors.

using Leaves = std::vector<Hash>;

Leaves Slice(const Leaves& d, uint64_t from, uint64_t to) {
  return Leaves(d.begin() + static_cast<std::ptrdiff_t>(from),
                d.begin() + static_cast<std::ptrdiff_t>(to));
}

uint64_t LargestPowerBelow(uint64_t n) {
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

Hash Mth(const Leaves& d) {
  if (d.empty()) return H("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  if (d.size() == 1) return d[0];
  const uint64_t k = LargestPowerBelow(d.size());
  return NodeHash(Mth(Slice(d, 0, k)), Mth(Slice(d, k, d.size())));
}

std::vector<Hash> Path(uint64_t m, const Leaves& d) {
  if (d.size() == 1) return {};
  const uint64_t k = LargestPowerBelow(d.size());
  std::vector<Hash> out;
  if (m < k) {
    out = Path(m, Slice(d, 0, k));
    out.push_back(Mth(Slice(d, k, d.size())));
  } else {
    out = Path(m - k, Slice(d, k, d.size()));
    out.push_back(Mth(Slice(d, 0, k)));
  }
  return out;
}

std::vector<Hash> Subproof(uint64_t m, const Leaves& d, bool b) {
  const uint64_t n = d.size();
  if (m == n) {
    if (b) return {};
    return {Mth(d)};
  }
  const uint64_t k = LargestPowerBelow(n);
  std::vector<Hash> out;
  if (m <= k) {
    out = Subproof(m, Slice(d, 0, k), b);
    out.push_back(Mth(Slice(d, k, n)));
  } else {
    out = Subproof(m - k, Slice(d, k, n), false);
    out.push_back(Mth(Slice(d, 0, k)));
  }
  return out;
}

// Leaf hashes for property tests: the reference inputs, then distinct generated inputs.
Leaves TestLeaves(uint64_t n) {
  Leaves out;
  for (uint64_t i = 0; i < n; ++i) {
    out.push_back(i < 8 ? LeafHash(Bytes(kLeafInputs[i])) : LeafHash("leaf " + std::to_string(i)));
  }
  return out;
}

constexpr uint64_t kMaxPropertySize = 64;

// ---------------------------------------------------------------------------------------------
// Hashing and hex.

TEST(MerkleHash, EmptyRootAndHashingKnownAnswers) {
  EXPECT_EQ(HashToHex(EmptyRoot()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(HashToHex(LeafHash(Bytes(kLeafInputs[i]))), kLeafHashes[i]) << i;
  }
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(HashToHex(NodeHash(H(kLeafHashes[2 * i]), H(kLeafHashes[2 * i + 1]))), kLevel1[i]);
  }
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(HashToHex(NodeHash(H(kLevel1[2 * i]), H(kLevel1[2 * i + 1]))), kLevel2[i]);
  }
  EXPECT_EQ(HashToHex(NodeHash(H(kLevel2[0]), H(kLevel2[1]))), kRoots[8]);
}

TEST(MerkleHash, DomainSeparationMatchesSha256) {
  const std::string commitment(32, '\x5a');
  const std::string big(1000, 'x');
  for (const std::string& input : {commitment, big, std::string()}) {
    const std::string expected = Sha256(std::string(1, '\0') + input);
    const Hash got = LeafHash(input);
    EXPECT_EQ(std::string(got.begin(), got.end()), expected);
  }
  const Hash a = LeafHash("a");
  const Hash b = LeafHash("b");
  const std::string node = Sha256(std::string(1, '\1') + std::string(a.begin(), a.end()) +
                                  std::string(b.begin(), b.end()));
  const Hash got = NodeHash(a, b);
  EXPECT_EQ(std::string(got.begin(), got.end()), node);
}

TEST(MerkleHash, HexIsStrictLowercase) {
  const std::string hex = kRoots[8];
  auto parsed = HashFromHex(hex);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(HashToHex(*parsed), hex);
  std::string upper = hex;
  upper[0] = 'D';
  EXPECT_FALSE(HashFromHex(upper).has_value());
  EXPECT_FALSE(HashFromHex(hex.substr(1)).has_value());
  EXPECT_FALSE(HashFromHex(hex + "0").has_value());
  EXPECT_FALSE(HashFromHex("").has_value());
  std::string bad = hex;
  bad[10] = 'g';
  EXPECT_FALSE(HashFromHex(bad).has_value());
  bad[10] = ' ';
  EXPECT_FALSE(HashFromHex(bad).has_value());
}

TEST(MerkleHash, IsAlignedSubtree) {
  EXPECT_TRUE(IsAlignedSubtree(0, 1));
  EXPECT_TRUE(IsAlignedSubtree(7, 1));
  EXPECT_TRUE(IsAlignedSubtree(8, 4));
  EXPECT_TRUE(IsAlignedSubtree(0, uint64_t{1} << 63));
  EXPECT_FALSE(IsAlignedSubtree(0, 0));
  EXPECT_FALSE(IsAlignedSubtree(0, 3));
  EXPECT_FALSE(IsAlignedSubtree(2, 4));
  EXPECT_FALSE(IsAlignedSubtree(uint64_t{1} << 62, uint64_t{1} << 63));
}

// ---------------------------------------------------------------------------------------------
// Known answers for roots and proofs.

TEST(MerkleKnownAnswer, Roots) {
  LeafHashes tree = ReferenceTree();
  CompactRange range;
  auto root0 = RootOf(0, tree);
  ASSERT_TRUE(root0.ok());
  EXPECT_EQ(HashToHex(*root0), kRoots[0]);
  EXPECT_EQ(HashToHex(range.Root()), kRoots[0]);
  for (uint64_t size = 1; size <= 8; ++size) {
    auto root = RootOf(size, tree);
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    EXPECT_EQ(HashToHex(*root), kRoots[size]) << size;
    ASSERT_TRUE(range.Append(tree.leaves()[size - 1]).ok());
    EXPECT_EQ(HashToHex(range.Root()), kRoots[size]) << size;
  }
}

TEST(MerkleKnownAnswer, CompactRangeFrontier) {
  // The frontier of each size is the complete subtrees of its binary decomposition.
  LeafHashes tree = ReferenceTree();
  CompactRange range;
  const std::vector<std::vector<std::string>> want = {
      {kLeafHashes[0]},
      {kLevel1[0]},
      {kLevel1[0], kLeafHashes[2]},
      {kLevel2[0]},
      {kLevel2[0], kLeafHashes[4]},
      {kLevel2[0], kLevel1[2]},
      {kLevel2[0], kLevel1[2], kLeafHashes[6]},
      {kRoots[8]},
  };
  for (size_t i = 0; i < 8; ++i) {
    ASSERT_TRUE(range.Append(tree.leaves()[i]).ok());
    std::vector<std::string> got;
    for (const Hash& h : range.hashes()) got.push_back(HashToHex(h));
    EXPECT_EQ(got, want[i]) << "size " << i + 1;
  }
}

TEST(MerkleKnownAnswer, InclusionProofs) {
  LeafHashes tree = ReferenceTree();
  for (const auto& v : InclusionVectors()) {
    auto proof = InclusionProof(v.index, v.size, tree);
    ASSERT_TRUE(proof.ok()) << proof.status().ToString();
    EXPECT_EQ(*proof, v.proof) << v.index << "/" << v.size;
    EXPECT_TRUE(
        VerifyInclusion(v.index, v.size, tree.leaves()[v.index], v.proof, H(kRoots[v.size])))
        << v.index << "/" << v.size;
  }
}

TEST(MerkleKnownAnswer, ConsistencyProofs) {
  LeafHashes tree = ReferenceTree();
  for (const auto& v : ConsistencyVectors()) {
    auto proof = ConsistencyProof(v.first, v.second, tree);
    ASSERT_TRUE(proof.ok()) << proof.status().ToString();
    EXPECT_EQ(*proof, v.proof) << v.first << "->" << v.second;
    EXPECT_TRUE(
        VerifyConsistency(v.first, v.second, v.proof, H(kRoots[v.first]), H(kRoots[v.second])))
        << v.first << "->" << v.second;
  }
}

// ---------------------------------------------------------------------------------------------
// Properties over every tree of 1-64 leaves.

TEST(MerkleProperty, RootsMatchModel) {
  const Leaves all = TestLeaves(kMaxPropertySize);
  LeafHashes tree(all);
  CompactRange range;
  std::vector<SubtreeHash> finished;
  for (uint64_t n = 1; n <= kMaxPropertySize; ++n) {
    const Hash mth = Mth(Slice(all, 0, n));
    auto root = RootOf(n, tree);
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(*root, mth) << n;

    finished.clear();
    ASSERT_TRUE(range.Append(all[n - 1], &finished).ok());
    EXPECT_EQ(range.size(), n);
    EXPECT_EQ(range.Root(), mth) << n;
    // The subtrees finished by leaf n - 1: sizes 1, 2, 4, ... up to the lowest set bit of n,
    // each ending with that leaf, with the model's hashes.
    ASSERT_EQ(finished.size(), static_cast<size_t>(std::countr_zero(n)) + 1) << n;
    for (size_t j = 0; j < finished.size(); ++j) {
      const SubtreeHash& s = finished[j];
      EXPECT_EQ(s.size, uint64_t{1} << j);
      EXPECT_EQ(s.start + s.size, n);
      EXPECT_TRUE(IsAlignedSubtree(s.start, s.size));
      EXPECT_EQ(s.hash, Mth(Slice(all, s.start, s.start + s.size)));
    }
    // The frontier restores the same tree, from its hashes or from a source.
    auto restored = CompactRange::FromHashes(n, range.hashes());
    ASSERT_TRUE(restored.ok());
    EXPECT_EQ(restored->Root(), mth);
    auto from_source = CompactRange::FromSource(n, tree);
    ASSERT_TRUE(from_source.ok());
    EXPECT_EQ(from_source->hashes(), range.hashes());
    uint64_t covered = 0;
    for (const SubtreeHash& s : range.Subtrees()) {
      EXPECT_EQ(s.start, covered);
      EXPECT_EQ(s.hash, Mth(Slice(all, s.start, s.start + s.size)));
      covered += s.size;
    }
    EXPECT_EQ(covered, n);
  }
}

TEST(MerkleProperty, EveryInclusionProofMatchesModelAndVerifies) {
  const Leaves all = TestLeaves(kMaxPropertySize);
  LeafHashes tree(all);
  for (uint64_t n = 1; n <= kMaxPropertySize; ++n) {
    const Leaves d = Slice(all, 0, n);
    const Hash root = Mth(d);
    for (uint64_t i = 0; i < n; ++i) {
      auto proof = InclusionProof(i, n, tree);
      ASSERT_TRUE(proof.ok()) << proof.status().ToString();
      EXPECT_EQ(*proof, Path(i, d)) << i << "/" << n;
      EXPECT_TRUE(VerifyInclusion(i, n, all[i], *proof, root)) << i << "/" << n;
    }
  }
}

TEST(MerkleProperty, EveryConsistencyProofMatchesModelAndVerifies) {
  const Leaves all = TestLeaves(kMaxPropertySize);
  LeafHashes tree(all);
  for (uint64_t n = 1; n <= kMaxPropertySize; ++n) {
    const Leaves d = Slice(all, 0, n);
    const Hash second_root = Mth(d);
    for (uint64_t m = 1; m <= n; ++m) {
      const Hash first_root = Mth(Slice(all, 0, m));
      auto proof = ConsistencyProof(m, n, tree);
      ASSERT_TRUE(proof.ok()) << proof.status().ToString();
      const std::vector<Hash> model = m == n ? std::vector<Hash>{} : Subproof(m, d, true);
      EXPECT_EQ(*proof, model) << m << "->" << n;
      EXPECT_TRUE(VerifyConsistency(m, n, *proof, first_root, second_root)) << m << "->" << n;
    }
    auto from_empty = ConsistencyProof(0, n, tree);
    ASSERT_TRUE(from_empty.ok());
    EXPECT_TRUE(from_empty->empty());
    EXPECT_TRUE(VerifyConsistency(0, n, *from_empty, EmptyRoot(), second_root));
  }
}

// A source that counts its calls, to hold the O(log n) bounds.
class CountingSource final : public SubtreeSource {
 public:
  explicit CountingSource(SubtreeSource& inner) : inner_(inner) {}
  Result<Hash> Subtree(uint64_t start, uint64_t size) override {
    ++calls;
    EXPECT_TRUE(IsAlignedSubtree(start, size)) << start << "+" << size;
    return inner_.Subtree(start, size);
  }
  uint64_t calls = 0;

 private:
  SubtreeSource& inner_;
};

TEST(MerkleProperty, SubtreeCallsAreLogarithmic) {
  const uint64_t kMax = 300;
  LeafHashes tree(TestLeaves(kMax));
  for (uint64_t n = 1; n <= kMax; ++n) {
    const uint64_t depth = std::bit_width(n - 1);  // ceil(log2(n))
    CountingSource counting(tree);
    ASSERT_TRUE(RootOf(n, counting).ok());
    EXPECT_EQ(counting.calls, static_cast<uint64_t>(std::popcount(n)));
    for (uint64_t i = 0; i < n; i += 7) {
      counting.calls = 0;
      ASSERT_TRUE(InclusionProof(i, n, counting).ok());
      EXPECT_LE(counting.calls, 2 * depth) << i << "/" << n;
    }
    for (uint64_t m = 1; m <= n; m += 5) {
      counting.calls = 0;
      ASSERT_TRUE(ConsistencyProof(m, n, counting).ok());
      EXPECT_LE(counting.calls, 2 * depth + 1) << m << "->" << n;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Argument checking and error propagation.

class FailingSource final : public SubtreeSource {
 public:
  Result<Hash> Subtree(uint64_t, uint64_t) override {
    return Status::Unavailable("store is closed");
  }
};

TEST(MerkleErrors, InvalidArgumentsAndSourceFailures) {
  LeafHashes tree = ReferenceTree();
  EXPECT_EQ(InclusionProof(8, 8, tree).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(InclusionProof(0, 0, tree).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ConsistencyProof(5, 3, tree).status().code(), Code::kInvalidArgument);
  // Sizes beyond what the source holds.
  EXPECT_EQ(RootOf(9, tree).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(InclusionProof(0, 9, tree).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ConsistencyProof(3, 9, tree).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(CompactRange::FromSource(9, tree).status().code(), Code::kInvalidArgument);
  // Unaligned or empty subtrees.
  EXPECT_EQ(tree.Subtree(1, 2).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(tree.Subtree(0, 3).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(tree.Subtree(0, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(tree.Subtree(8, 1).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(tree.Subtree(UINT64_MAX, 1).status().code(), Code::kInvalidArgument);

  FailingSource failing;
  EXPECT_EQ(RootOf(5, failing).status().code(), Code::kUnavailable);
  EXPECT_EQ(InclusionProof(2, 5, failing).status().code(), Code::kUnavailable);
  EXPECT_EQ(ConsistencyProof(2, 5, failing).status().code(), Code::kUnavailable);
  EXPECT_EQ(CompactRange::FromSource(5, failing).status().code(), Code::kUnavailable);
  // Trivial answers need no source.
  EXPECT_TRUE(RootOf(0, failing).ok());
  EXPECT_TRUE(ConsistencyProof(0, 5, failing).ok());
  EXPECT_TRUE(ConsistencyProof(5, 5, failing).ok());

  EXPECT_EQ(CompactRange::FromHashes(3, {EmptyRoot()}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(CompactRange::FromHashes(0, {EmptyRoot()}).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(CompactRange::FromHashes(0, {}).ok());
}

TEST(MerkleErrors, CompactRangeRefusesToOverflow) {
  std::vector<Hash> full(64, EmptyRoot());
  auto range = CompactRange::FromHashes(UINT64_MAX, full);
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range->Append(EmptyRoot()).code(), Code::kInvalidArgument);
  EXPECT_EQ(range->size(), UINT64_MAX);
}

// ---------------------------------------------------------------------------------------------
// The negative corpus: every mutation of a valid proof must be rejected.

Hash Flip(Hash h, size_t byte, int bit) {
  h[byte] ^= static_cast<uint8_t>(1u << bit);
  return h;
}

const Hash kZero{};
const Hash kSome = H("abacaba000000000000000000000000000000000000000000060061e00123456");

struct InclusionCase {
  uint64_t index;
  uint64_t size;
  Hash leaf;
  std::vector<Hash> proof;
  Hash root;
  std::string what;
};

std::vector<InclusionCase> CorruptInclusion(uint64_t i, uint64_t n, const Hash& leaf,
                                            const std::vector<Hash>& proof, const Hash& root) {
  std::vector<InclusionCase> out = {
      {i - 1, n, leaf, proof, root, "index - 1"},
      {i + 1, n, leaf, proof, root, "index + 1"},
      {n, n, leaf, proof, root, "index = size"},
      {i, n * 2, leaf, proof, root, "size * 2"},
      {i, n / 2, leaf, proof, root, "size / 2"},
      {i, 0, leaf, proof, root, "size 0"},
      {i, n, Flip(leaf, 0, 0), proof, root, "leaf bit 0"},
      {i, n, Flip(leaf, 31, 7), proof, root, "leaf bit 255"},
      {i, n, leaf, proof, Flip(root, 0, 0), "root bit 0"},
      {i, n, leaf, proof, Flip(root, 17, 3), "root bit 139"},
      {i, n, leaf, proof, kZero, "zero root"},
      {i, n, leaf, proof, kSome, "random root"},
      {i, n, leaf, proof, EmptyRoot(), "empty-tree root"},
  };
  if (leaf != root) out.push_back({i, n, root, proof, leaf, "leaf and root swapped"});
  for (const Hash& extra : {kSome, kZero, root, leaf}) {
    std::vector<Hash> longer = proof;
    longer.push_back(extra);
    out.push_back({i, n, leaf, longer, root, "garbage after"});
    std::vector<Hash> before = proof;
    before.insert(before.begin(), extra);
    out.push_back({i, n, leaf, before, root, "garbage before"});
  }
  if (!proof.empty()) {
    out.push_back({i, n, leaf, {}, root, "empty proof"});
    std::vector<Hash> shorter(proof.begin(), proof.end() - 1);
    out.push_back({i, n, leaf, shorter, root, "last node removed"});
    std::vector<Hash> headless(proof.begin() + 1, proof.end());
    out.push_back({i, n, leaf, headless, root, "first node removed"});
    std::vector<Hash> inserted = proof;
    inserted.insert(inserted.begin() + static_cast<std::ptrdiff_t>(proof.size() / 2), kSome);
    out.push_back({i, n, leaf, inserted, root, "node inserted"});
  }
  for (size_t p = 0; p < proof.size(); ++p) {
    for (auto [byte, bit] : {std::pair<size_t, int>{0, 0}, {0, 3}, {15, 5}, {31, 7}}) {
      std::vector<Hash> flipped = proof;
      flipped[p] = Flip(flipped[p], byte, bit);
      out.push_back({i, n, leaf, flipped, root, "proof[" + std::to_string(p) + "] bit flipped"});
    }
    if (proof.size() > 1) {
      std::vector<Hash> swapped = proof;
      std::swap(swapped[p], swapped[(p + 1) % proof.size()]);
      if (swapped != proof) {
        out.push_back({i, n, leaf, swapped, root, "nodes swapped at " + std::to_string(p)});
      }
    }
  }
  return out;
}

TEST(MerkleNegative, InclusionMutationsAreRejected) {
  const Leaves all = TestLeaves(kMaxPropertySize);
  LeafHashes tree(all);
  size_t checked = 0;
  for (uint64_t n = 1; n <= kMaxPropertySize; ++n) {
    const Hash root = Mth(Slice(all, 0, n));
    for (uint64_t i = 0; i < n; ++i) {
      auto proof = InclusionProof(i, n, tree);
      ASSERT_TRUE(proof.ok());
      ASSERT_TRUE(VerifyInclusion(i, n, all[i], *proof, root));
      for (const auto& c : CorruptInclusion(i, n, all[i], *proof, root)) {
        EXPECT_FALSE(VerifyInclusion(c.index, c.size, c.leaf, c.proof, c.root))
            << c.what << " for leaf " << i << " of " << n;
        ++checked;
      }
      // Another leaf's hash at this index.
      EXPECT_FALSE(VerifyInclusion(i, n, all[(i + 1) % kMaxPropertySize], *proof, root));
    }
  }
  EXPECT_GT(checked, 100000u);
}

struct ConsistencyCase {
  uint64_t first;
  uint64_t second;
  std::vector<Hash> proof;
  Hash first_root;
  Hash second_root;
  std::string what;
};

std::vector<ConsistencyCase> CorruptConsistency(uint64_t m, uint64_t n,
                                                const std::vector<Hash>& proof, const Hash& r1,
                                                const Hash& r2) {
  std::vector<ConsistencyCase> out = {
      {m - 1, n, proof, r1, r2, "first - 1"},
      {m + 1, n, proof, r1, r2, "first + 1"},
      {m, n * 2, proof, r1, r2, "second * 2"},
      {m, n / 2, proof, r1, r2, "second / 2"},
      {m * 2, n, proof, r1, r2, "first * 2"},
      {m / 2, n, proof, r1, r2, "first / 2"},
      {n, m, proof, r1, r2, "first > second"},
      {0, n, proof, r1, r2, "first = 0 with a proof"},
      {0, n, proof, EmptyRoot(), r2, "first = 0 with a proof and the empty root"},
      {m, m, proof, r1, r1, "first = second with a proof"},
      {m, n, proof, r2, r1, "swapped roots"},
      {m, n, proof, r1, r1, "second root = first root"},
      {m, n, proof, kZero, r2, "zero first root"},
      {m, n, proof, r1, kZero, "zero second root"},
      {m, n, proof, kSome, r2, "random first root"},
      {m, n, proof, r1, kSome, "random second root"},
      {m, n, proof, Flip(r1, 0, 0), r2, "first root bit 0"},
      {m, n, proof, r1, Flip(r2, 31, 7), "second root bit 255"},
      {m, n, {}, r1, r2, "empty proof"},
  };
  for (const Hash& extra : {kSome, kZero, r1, r2, proof[0]}) {
    std::vector<Hash> longer = proof;
    longer.push_back(extra);
    out.push_back({m, n, longer, r1, r2, "garbage after"});
    std::vector<Hash> before = proof;
    before.insert(before.begin(), extra);
    out.push_back({m, n, before, r1, r2, "garbage before"});
  }
  std::vector<Hash> shorter(proof.begin(), proof.end() - 1);
  out.push_back({m, n, shorter, r1, r2, "last node removed"});
  std::vector<Hash> headless(proof.begin() + 1, proof.end());
  out.push_back({m, n, headless, r1, r2, "first node removed"});
  for (size_t p = 0; p < proof.size(); ++p) {
    for (auto [byte, bit] : {std::pair<size_t, int>{0, 0}, {0, 4}, {15, 5}, {31, 7}}) {
      std::vector<Hash> flipped = proof;
      flipped[p] = Flip(flipped[p], byte, bit);
      out.push_back({m, n, flipped, r1, r2, "proof[" + std::to_string(p) + "] bit flipped"});
    }
  }
  return out;
}

TEST(MerkleNegative, ConsistencyMutationsAreRejected) {
  const Leaves all = TestLeaves(kMaxPropertySize);
  LeafHashes tree(all);
  std::vector<Hash> roots;
  for (uint64_t n = 0; n <= kMaxPropertySize; ++n) roots.push_back(Mth(Slice(all, 0, n)));
  size_t checked = 0;
  for (uint64_t n = 2; n <= kMaxPropertySize; ++n) {
    for (uint64_t m = 1; m < n; ++m) {
      auto proof = ConsistencyProof(m, n, tree);
      ASSERT_TRUE(proof.ok());
      ASSERT_FALSE(proof->empty());
      ASSERT_TRUE(VerifyConsistency(m, n, *proof, roots[m], roots[n]));
      for (const auto& c : CorruptConsistency(m, n, *proof, roots[m], roots[n])) {
        EXPECT_FALSE(VerifyConsistency(c.first, c.second, c.proof, c.first_root, c.second_root))
            << c.what << " for " << m << "->" << n;
        ++checked;
      }
      // The right roots for neighbouring sizes do not pass either.
      if (m + 1 < n) {
        EXPECT_FALSE(VerifyConsistency(m + 1, n, *proof, roots[m + 1], roots[n]));
      }
      if (m > 1) {
        EXPECT_FALSE(VerifyConsistency(m - 1, n, *proof, roots[m - 1], roots[n]));
      }
    }
  }
  EXPECT_GT(checked, 50000u);
}

TEST(MerkleNegative, TrivialConsistencyCases) {
  const Hash r = H(kRoots[5]);
  const std::vector<Hash> none;
  const std::vector<Hash> one = {EmptyRoot()};
  // first == second: equal roots and no proof only.
  EXPECT_TRUE(VerifyConsistency(5, 5, none, r, r));
  EXPECT_FALSE(VerifyConsistency(5, 5, none, r, kSome));
  EXPECT_FALSE(VerifyConsistency(5, 5, one, r, r));
  EXPECT_FALSE(VerifyConsistency(5, 5, {r}, r, r));
  // The empty tree: the empty root and no proof only.
  EXPECT_TRUE(VerifyConsistency(0, 0, none, EmptyRoot(), EmptyRoot()));
  EXPECT_FALSE(VerifyConsistency(0, 0, one, EmptyRoot(), EmptyRoot()));
  EXPECT_FALSE(VerifyConsistency(0, 0, none, kSome, kSome));
  EXPECT_TRUE(VerifyConsistency(0, 5, none, EmptyRoot(), r));
  EXPECT_FALSE(VerifyConsistency(0, 5, none, r, r));
  EXPECT_FALSE(VerifyConsistency(0, 5, one, EmptyRoot(), r));
  EXPECT_FALSE(VerifyConsistency(0, 5, {r}, EmptyRoot(), r));
  // Time travel.
  EXPECT_FALSE(VerifyConsistency(1, 0, none, r, r));
  EXPECT_FALSE(VerifyConsistency(6, 5, none, r, r));
  EXPECT_FALSE(VerifyConsistency(UINT64_MAX, 1, {r}, r, r));
  // A growing tree needs a proof.
  EXPECT_FALSE(VerifyConsistency(1, 2, none, r, r));
}

TEST(MerkleNegative, TrivialInclusionCases) {
  const Hash leaf = LeafHash("data");
  const std::vector<Hash> none;
  // A one-leaf tree: the root is the leaf, the proof is empty.
  EXPECT_TRUE(VerifyInclusion(0, 1, leaf, none, leaf));
  EXPECT_FALSE(VerifyInclusion(0, 1, leaf, none, kZero));
  EXPECT_FALSE(VerifyInclusion(0, 1, kZero, none, leaf));
  EXPECT_FALSE(VerifyInclusion(0, 1, leaf, {leaf}, NodeHash(leaf, leaf)));
  EXPECT_FALSE(VerifyInclusion(0, 1, leaf, {kSome}, leaf));
  // Nothing is in the empty tree; index beyond the size.
  EXPECT_FALSE(VerifyInclusion(0, 0, leaf, none, leaf));
  EXPECT_FALSE(VerifyInclusion(0, 0, EmptyRoot(), none, EmptyRoot()));
  EXPECT_FALSE(VerifyInclusion(1, 1, leaf, none, leaf));
  EXPECT_FALSE(VerifyInclusion(2, 1, leaf, none, leaf));
  EXPECT_FALSE(VerifyInclusion(UINT64_MAX, UINT64_MAX, leaf, none, leaf));
}

// RFC 9162 verification binds the leaf (or the first root) to the given root, not the root to
// the given size: a path of the same shape in a tree of another size verifies too. This is why
// a size and its root must come from one signed tree head; the verifiers accept nothing that
// a genuine head would not support.
TEST(MerkleNegative, SizeIsBoundToTheRootOnlyByTheHead) {
  LeafHashes tree = ReferenceTree();
  auto proof = InclusionProof(0, 5, tree);
  ASSERT_TRUE(proof.ok());
  EXPECT_TRUE(VerifyInclusion(0, 5, tree.leaves()[0], *proof, H(kRoots[5])));
  // Same shape for leaf 0 in a tree of 6: passes only against the 5-leaf root.
  EXPECT_TRUE(VerifyInclusion(0, 6, tree.leaves()[0], *proof, H(kRoots[5])));
  EXPECT_FALSE(VerifyInclusion(0, 6, tree.leaves()[0], *proof, H(kRoots[6])));
  auto consistency = ConsistencyProof(4, 5, tree);
  ASSERT_TRUE(consistency.ok());
  EXPECT_TRUE(VerifyConsistency(4, 6, *consistency, H(kRoots[4]), H(kRoots[5])));
  EXPECT_FALSE(VerifyConsistency(4, 6, *consistency, H(kRoots[4]), H(kRoots[6])));
}

TEST(MerkleNegative, RandomProofsForHugeTreesAreRejected) {
  std::mt19937_64 rng(20261129);
  auto random_hash = [&] {
    Hash h;
    for (auto& b : h) b = static_cast<uint8_t>(rng());
    return h;
  };
  for (int round = 0; round < 2000; ++round) {
    const uint64_t size = rng() >> (rng() % 64);
    const uint64_t other = size == 0 ? 0 : rng() % size;
    std::vector<Hash> proof(rng() % 70);
    for (auto& h : proof) h = random_hash();
    EXPECT_FALSE(VerifyInclusion(other, size, random_hash(), proof, random_hash()));
    EXPECT_FALSE(VerifyConsistency(other, size, proof, random_hash(), random_hash()));
  }
  // The longest meaningful paths: 64 levels, and one node more.
  std::vector<Hash> path(64, kSome);
  EXPECT_FALSE(VerifyInclusion(UINT64_MAX - 1, UINT64_MAX, kSome, path, kSome));
  path.push_back(kSome);
  EXPECT_FALSE(VerifyInclusion(UINT64_MAX - 1, UINT64_MAX, kSome, path, kSome));
  EXPECT_FALSE(VerifyConsistency(UINT64_MAX - 1, UINT64_MAX, path, kSome, kSome));
}

// ---------------------------------------------------------------------------------------------
// Multi-leaf inclusion proofs, against a model written from the definition: build every node
// hash with the model's MTH over sub-vectors and collect, level by level from the root and
// left to right within a level, the hash of each node without any of the indices; descend
// every other node but a single leaf.

using Indices = std::vector<uint64_t>;

bool AnyIn(const Indices& set, uint64_t lo, uint64_t hi) {
  for (uint64_t i : set) {
    if (i >= lo && i < hi) return true;
  }
  return false;
}

// `d` is the node D[offset : offset + d.size()] at `level`; by_level[level] collects that
// level's hashes left to right.
void MultiModel(const Leaves& d, uint64_t offset, size_t level, const Indices& set,
                std::vector<std::vector<Hash>>& by_level) {
  if (by_level.size() <= level) by_level.resize(level + 1);
  if (!AnyIn(set, offset, offset + d.size())) {
    by_level[level].push_back(Mth(d));
    return;
  }
  if (d.size() == 1) return;
  const uint64_t k = LargestPowerBelow(d.size());
  MultiModel(Slice(d, 0, k), offset, level + 1, set, by_level);
  MultiModel(Slice(d, k, d.size()), offset + k, level + 1, set, by_level);
}

std::vector<Hash> MultiModel(const Leaves& d, const Indices& set) {
  std::vector<std::vector<Hash>> by_level;
  if (!d.empty()) MultiModel(d, 0, 0, set, by_level);
  std::vector<Hash> out;
  for (const auto& level : by_level) out.insert(out.end(), level.begin(), level.end());
  return out;
}

// The shape of the walk over a tree of n leaves: "p" for a proof entry, "l" for a leaf of the
// set, "(left right)" for a descended node. Two claims with the same shape recompute the root
// from the same inputs in the same way.
std::string MultiShape(const Indices& set, uint64_t lo, uint64_t hi) {
  if (!AnyIn(set, lo, hi)) return "p";
  if (hi - lo == 1) return "l";
  const uint64_t k = LargestPowerBelow(hi - lo);
  return "(" + MultiShape(set, lo, lo + k) + MultiShape(set, lo + k, hi) + ")";
}

std::vector<Hash> LeavesAt(const Leaves& all, const Indices& set) {
  std::vector<Hash> out;
  for (uint64_t i : set) out.push_back(all[i]);
  return out;
}

// The index subsets the property tests use for a tree of n leaves: the empty and the full
// set, every singleton, every pair for n <= 20, and random subsets of several densities.
std::vector<Indices> SubsetsFor(uint64_t n, std::mt19937_64& rng) {
  std::vector<Indices> out;
  out.push_back({});
  Indices full;
  for (uint64_t i = 0; i < n; ++i) full.push_back(i);
  out.push_back(full);
  for (uint64_t i = 0; i < n; ++i) out.push_back({i});
  if (n <= 20) {
    for (uint64_t i = 0; i < n; ++i) {
      for (uint64_t j = i + 1; j < n; ++j) out.push_back({i, j});
    }
  }
  for (int round = 0; round < 24; ++round) {
    const uint64_t per_mille = std::array<uint64_t, 4>{50, 200, 500, 900}[round % 4];
    Indices set;
    for (uint64_t i = 0; i < n; ++i) {
      if (rng() % 1000 < per_mille) set.push_back(i);
    }
    out.push_back(set);
  }
  return out;
}

TEST(MerkleMulti, ProofsMatchModelAndVerify) {
  const Leaves all = TestLeaves(kMaxPropertySize);
  LeafHashes tree(all);
  std::mt19937_64 rng(9162);
  size_t checked = 0;
  for (uint64_t n = 1; n <= kMaxPropertySize; ++n) {
    const Leaves d = Slice(all, 0, n);
    const Hash root = Mth(d);
    for (const Indices& set : SubsetsFor(n, rng)) {
      auto proof = MultiInclusionProof(set, n, tree);
      ASSERT_TRUE(proof.ok()) << proof.status().ToString();
      EXPECT_EQ(*proof, MultiModel(d, set)) << n << " leaves, " << set.size() << " indices";
      EXPECT_TRUE(VerifyMultiInclusion(set, LeavesAt(all, set), n, *proof, root))
          << n << " leaves, " << set.size() << " indices";
      // At most k * ceil(log2(n)) hashes, the root alone for no indices.
      const uint64_t depth = std::bit_width(n - 1);
      EXPECT_LE(proof->size(), set.empty() ? 1 : set.size() * depth);
      ++checked;
    }
  }
  EXPECT_GT(checked, 5000u);
}

TEST(MerkleMulti, EmptySetIsTheRootAndFullSetNeedsNothing) {
  const Leaves all = TestLeaves(kMaxPropertySize);
  LeafHashes tree(all);
  for (uint64_t n = 1; n <= kMaxPropertySize; ++n) {
    const Hash root = Mth(Slice(all, 0, n));
    auto none = MultiInclusionProof({}, n, tree);
    ASSERT_TRUE(none.ok());
    EXPECT_EQ(*none, std::vector<Hash>{root});
    EXPECT_TRUE(VerifyMultiInclusion({}, {}, n, *none, root));
    Indices full;
    for (uint64_t i = 0; i < n; ++i) full.push_back(i);
    auto everything = MultiInclusionProof(full, n, tree);
    ASSERT_TRUE(everything.ok());
    EXPECT_TRUE(everything->empty()) << n;
    EXPECT_TRUE(VerifyMultiInclusion(full, Slice(all, 0, n), n, {}, root));
  }
  // The empty tree: no indices, no proof, the empty root.
  auto empty = MultiInclusionProof({}, 0, tree);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_TRUE(VerifyMultiInclusion({}, {}, 0, {}, EmptyRoot()));
  EXPECT_FALSE(VerifyMultiInclusion({}, {}, 0, {}, kZero));
  EXPECT_FALSE(VerifyMultiInclusion({}, {}, 0, {EmptyRoot()}, EmptyRoot()));
  EXPECT_FALSE(VerifyMultiInclusion({0}, {EmptyRoot()}, 0, {}, EmptyRoot()));
}

TEST(MerkleMulti, SingletonIsTheReversedAuditPath) {
  const Leaves all = TestLeaves(kMaxPropertySize);
  LeafHashes tree(all);
  for (uint64_t n = 1; n <= kMaxPropertySize; ++n) {
    const Hash root = Mth(Slice(all, 0, n));
    for (uint64_t i = 0; i < n; ++i) {
      auto multi = MultiInclusionProof({i}, n, tree);
      auto path = InclusionProof(i, n, tree);
      ASSERT_TRUE(multi.ok());
      ASSERT_TRUE(path.ok());
      const std::vector<Hash> reversed(path->rbegin(), path->rend());
      EXPECT_EQ(*multi, reversed) << i << "/" << n;
      EXPECT_TRUE(VerifyMultiInclusion({i}, {all[i]}, n, *multi, root));
      EXPECT_TRUE(
          VerifyInclusion(i, n, all[i], std::vector<Hash>(multi->rbegin(), multi->rend()), root));
    }
  }
}

TEST(MerkleMulti, KnownAnswers) {
  // The reference tree of 8 leaves: leaves 1 and 5 need nodes [2, 4) and [6, 8) (level 2),
  // then leaves 0 and 4 (level 3).
  LeafHashes tree = ReferenceTree();
  auto proof = MultiInclusionProof({1, 5}, 8, tree);
  ASSERT_TRUE(proof.ok());
  EXPECT_EQ(*proof, Hs({kLevel1[1], kLevel1[3], kLeafHashes[0], kLeafHashes[4]}));
  EXPECT_TRUE(
      VerifyMultiInclusion({1, 5}, {tree.leaves()[1], tree.leaves()[5]}, 8, *proof, H(kRoots[8])));
  // Seven leaves, set {2}: [4, 7) (level 1, a right-edge node that is not a complete
  // subtree), [0, 2) (level 2), leaf 3 (level 3).
  auto right_edge = MultiInclusionProof({2}, 7, tree);
  ASSERT_TRUE(right_edge.ok());
  auto node = RangeHash(4, 7, tree);
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(*right_edge, (std::vector<Hash>{*node, H(kLevel1[0]), H(kLeafHashes[3])}));
  EXPECT_TRUE(VerifyMultiInclusion({2}, {tree.leaves()[2]}, 7, *right_edge, H(kRoots[7])));
}

TEST(MerkleMulti, RangeHashOfEveryNodeMatchesModel) {
  const Leaves all = TestLeaves(kMaxPropertySize);
  LeafHashes tree(all);
  size_t nodes = 0;
  for (uint64_t n = 1; n <= kMaxPropertySize; ++n) {
    // Every node of the tree of n leaves, by the RFC's split.
    std::vector<std::pair<uint64_t, uint64_t>> todo = {{0, n}};
    while (!todo.empty()) {
      const auto [lo, hi] = todo.back();
      todo.pop_back();
      CountingSource counting(tree);
      auto hash = RangeHash(lo, hi, counting);
      ASSERT_TRUE(hash.ok()) << lo << ".." << hi << ": " << hash.status().ToString();
      EXPECT_EQ(*hash, Mth(Slice(all, lo, hi))) << lo << ".." << hi;
      EXPECT_EQ(counting.calls, static_cast<uint64_t>(std::popcount(hi - lo)));
      ++nodes;
      if (hi - lo > 1) {
        const uint64_t k = LargestPowerBelow(hi - lo);
        todo.push_back({lo, lo + k});
        todo.push_back({lo + k, hi});
      }
    }
  }
  EXPECT_GT(nodes, 4000u);
  // Ranges that are no node of any tree.
  EXPECT_EQ(RangeHash(3, 3, tree).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(RangeHash(4, 3, tree).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(RangeHash(1, 3, tree).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(RangeHash(2, 5, tree).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(RangeHash(4, 9, tree).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(RangeHash(1, UINT64_MAX, tree).status().code(), Code::kInvalidArgument);
  // The largest nodes are accepted and reach the source.
  FailingSource failing;
  EXPECT_EQ(RangeHash(0, UINT64_MAX, failing).status().code(), Code::kUnavailable);
  EXPECT_EQ(RangeHash(uint64_t{1} << 63, UINT64_MAX, failing).status().code(), Code::kUnavailable);
}

TEST(MerkleMulti, InvalidArgumentsAndSourceFailures) {
  LeafHashes tree = ReferenceTree();
  for (const Indices& bad :
       std::vector<Indices>{{8}, {0, 8}, {2, 2}, {3, 2}, {0, 1, 1, 2}, {UINT64_MAX}, {5, 4, 6}}) {
    EXPECT_EQ(MultiInclusionProof(bad, 8, tree).status().code(), Code::kInvalidArgument);
  }
  EXPECT_EQ(MultiInclusionProof({0}, 0, tree).status().code(), Code::kInvalidArgument);
  // Sizes beyond what the source holds.
  EXPECT_EQ(MultiInclusionProof({0}, 9, tree).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(MultiInclusionProof({}, 9, tree).status().code(), Code::kInvalidArgument);
  FailingSource failing;
  EXPECT_EQ(MultiInclusionProof({2}, 5, failing).status().code(), Code::kUnavailable);
  EXPECT_EQ(MultiInclusionProof({}, 5, failing).status().code(), Code::kUnavailable);
  // Nothing to look up.
  EXPECT_TRUE(MultiInclusionProof({}, 0, failing).ok());
  EXPECT_TRUE(MultiInclusionProof({0, 1, 2, 3, 4}, 5, failing).ok());
  EXPECT_TRUE(MultiInclusionProof({0}, 1, failing).ok());
}

// A source over a tree whose leaves all have the same hash: every complete subtree of a size
// has one hash, so trees of any size cost O(log n) to build. Counts its calls.
class UniformSource final : public SubtreeSource {
 public:
  explicit UniformSource(uint64_t size) : size_(size) {
    levels_[0] = LeafHash("same");
    for (size_t i = 1; i < levels_.size(); ++i) {
      levels_[i] = NodeHash(levels_[i - 1], levels_[i - 1]);
    }
  }
  Result<Hash> Subtree(uint64_t start, uint64_t size) override {
    ++calls;
    if (!IsAlignedSubtree(start, size) || start > size_ || size > size_ - start) {
      return Status::InvalidArgument("no such subtree");
    }
    return levels_[std::countr_zero(size)];
  }
  const Hash& leaf() const { return levels_[0]; }
  uint64_t calls = 0;

 private:
  uint64_t size_;
  std::array<Hash, 64> levels_;
};

TEST(MerkleMulti, LargeExportsCostOnlyTheirProof) {
  // An export of 1,000,000 of 10,000,000 leaves.
  const uint64_t n = 10'000'000;
  std::mt19937_64 rng(20261201);
  Indices set;
  for (uint64_t i = 0; i < n; ++i) {
    if (rng() % 10 == 0) set.push_back(i);
  }
  UniformSource source(n);
  auto root = RootOf(n, source);
  ASSERT_TRUE(root.ok());
  source.calls = 0;
  auto proof = MultiInclusionProof(set, n, source);
  ASSERT_TRUE(proof.ok());
  EXPECT_LE(source.calls, proof->size() + 63);
  EXPECT_LE(proof->size(), set.size() * std::bit_width(n - 1));
  const std::vector<Hash> leaves(set.size(), source.leaf());
  EXPECT_TRUE(VerifyMultiInclusion(set, leaves, n, *proof, *root));
  std::vector<Hash> shorter(proof->begin(), proof->end() - 1);
  EXPECT_FALSE(VerifyMultiInclusion(set, leaves, n, shorter, *root));

  // The largest tree: the work depends on the indices, not on the size.
  for (const Indices& few : std::vector<Indices>{
           {}, {0}, {UINT64_MAX - 1}, {0, uint64_t{1} << 63, UINT64_MAX - 1}, {12345, 12346}}) {
    UniformSource huge(UINT64_MAX);
    auto huge_root = RootOf(UINT64_MAX, huge);
    ASSERT_TRUE(huge_root.ok());
    huge.calls = 0;
    auto huge_proof = MultiInclusionProof(few, UINT64_MAX, huge);
    ASSERT_TRUE(huge_proof.ok());
    EXPECT_LE(huge_proof->size(), few.empty() ? 1 : few.size() * 64);
    EXPECT_LE(huge.calls, huge_proof->size() + 63);
    const std::vector<Hash> few_leaves(few.size(), huge.leaf());
    EXPECT_TRUE(VerifyMultiInclusion(few, few_leaves, UINT64_MAX, *huge_proof, *huge_root));
  }
}

TEST(MerkleMulti, SubtreeCallsAreBoundedByTheProof) {
  const uint64_t kMax = 300;
  LeafHashes tree(TestLeaves(kMax));
  std::mt19937_64 rng(77);
  for (uint64_t n = 1; n <= kMax; ++n) {
    for (int round = 0; round < 8; ++round) {
      Indices set;
      for (uint64_t i = 0; i < n; ++i) {
        if (rng() % 16 < static_cast<uint64_t>(round)) set.push_back(i);
      }
      CountingSource counting(tree);
      auto proof = MultiInclusionProof(set, n, counting);
      ASSERT_TRUE(proof.ok());
      // One call per hash, plus popcount - 1 for the one right-edge node that may be in it.
      EXPECT_LE(counting.calls, proof->size() + std::popcount(n) - 1) << n;
    }
  }
}

// The negative corpus of multi-leaf proofs.

struct MultiCase {
  Indices indices;
  std::vector<Hash> leaves;
  uint64_t size;
  std::vector<Hash> proof;
  Hash root;
  std::string what;
};

std::vector<MultiCase> CorruptMulti(const Leaves& all, const Indices& set, uint64_t n,
                                    const std::vector<Hash>& proof, const Hash& root) {
  const std::vector<Hash> leaves = LeavesAt(all, set);
  std::vector<MultiCase> out;
  auto add = [&](Indices i, std::vector<Hash> l, std::vector<Hash> p, std::string what) {
    out.push_back({std::move(i), std::move(l), n, std::move(p), root, std::move(what)});
  };
  for (size_t p = 0; p < proof.size(); ++p) {
    for (auto [byte, bit] : {std::pair<size_t, int>{0, 0}, {13, 2}, {31, 7}}) {
      std::vector<Hash> flipped = proof;
      flipped[p] = Flip(flipped[p], byte, bit);
      add(set, leaves, flipped, "proof[" + std::to_string(p) + "] bit flipped");
    }
    std::vector<Hash> removed = proof;
    removed.erase(removed.begin() + static_cast<std::ptrdiff_t>(p));
    add(set, leaves, removed, "proof[" + std::to_string(p) + "] removed");
    if (p + 1 < proof.size()) {
      std::vector<Hash> swapped = proof;
      std::swap(swapped[p], swapped[p + 1]);
      add(set, leaves, swapped, "proof[" + std::to_string(p) + "] swapped with the next");
    }
  }
  for (const Hash& extra : {kSome, kZero, root, all[0], proof.empty() ? kSome : proof[0]}) {
    std::vector<Hash> after = proof;
    after.push_back(extra);
    add(set, leaves, after, "hash added after");
    std::vector<Hash> before = proof;
    before.insert(before.begin(), extra);
    add(set, leaves, before, "hash added before");
  }
  if (!proof.empty()) add(set, leaves, {}, "empty proof");
  for (size_t j = 0; j < set.size(); ++j) {
    const std::string at = "[" + std::to_string(j) + "]";
    for (auto [byte, bit] : {std::pair<size_t, int>{0, 0}, {31, 7}}) {
      std::vector<Hash> flipped = leaves;
      flipped[j] = Flip(flipped[j], byte, bit);
      add(set, flipped, proof, "leaf" + at + " bit flipped");
    }
    // The index changed, keeping its leaf hash or taking the hash of its new leaf.
    for (uint64_t to : {set[j] - 1, set[j] + 1, set[j] ^ 4, n, n + 1, UINT64_MAX}) {
      if (to == set[j]) continue;
      Indices changed = set;
      changed[j] = to;
      add(changed, leaves, proof, "index" + at + " changed to " + std::to_string(to));
      if (to < all.size()) {
        std::vector<Hash> retaken = leaves;
        retaken[j] = all[to];
        add(changed, retaken, proof, "index" + at + " and leaf changed to " + std::to_string(to));
      }
    }
    // The index moved elsewhere in order, with its leaf hash.
    for (uint64_t to : {uint64_t{0}, n / 2, n - 1}) {
      if (AnyIn(set, to, to + 1)) continue;
      Indices moved = set;
      std::vector<Hash> moved_leaves = leaves;
      moved.erase(moved.begin() + static_cast<std::ptrdiff_t>(j));
      moved_leaves.erase(moved_leaves.begin() + static_cast<std::ptrdiff_t>(j));
      const auto pos = std::lower_bound(moved.begin(), moved.end(), to) - moved.begin();
      moved.insert(moved.begin() + pos, to);
      moved_leaves.insert(moved_leaves.begin() + pos, leaves[j]);
      add(moved, moved_leaves, proof, "index" + at + " moved to " + std::to_string(to));
    }
    Indices duplicated = set;
    std::vector<Hash> duplicated_leaves = leaves;
    duplicated.insert(duplicated.begin() + static_cast<std::ptrdiff_t>(j), set[j]);
    duplicated_leaves.insert(duplicated_leaves.begin() + static_cast<std::ptrdiff_t>(j), leaves[j]);
    add(duplicated, duplicated_leaves, proof, "index" + at + " duplicated");
    if (j + 1 < set.size()) {
      Indices swapped = set;
      std::swap(swapped[j], swapped[j + 1]);
      std::vector<Hash> swapped_leaves = leaves;
      std::swap(swapped_leaves[j], swapped_leaves[j + 1]);
      add(swapped, leaves, proof, "indices" + at + " out of order");
      add(swapped, swapped_leaves, proof, "indices" + at + " out of order with their leaves");
      add(set, swapped_leaves, proof, "leaves" + at + " swapped");
    }
    Indices dropped = set;
    std::vector<Hash> dropped_leaves = leaves;
    dropped.erase(dropped.begin() + static_cast<std::ptrdiff_t>(j));
    dropped_leaves.erase(dropped_leaves.begin() + static_cast<std::ptrdiff_t>(j));
    add(dropped, dropped_leaves, proof, "leaf" + at + " dropped");
    add(dropped, leaves, proof, "index" + at + " dropped, its leaf hash kept");
    add(set, dropped_leaves, proof, "leaf hash" + at + " dropped, its index kept");
  }
  // A leaf added: each position not in the set, with its hash.
  for (uint64_t i = 0; i < n; ++i) {
    if (AnyIn(set, i, i + 1)) continue;
    Indices added = set;
    std::vector<Hash> added_leaves = leaves;
    const auto pos = std::lower_bound(added.begin(), added.end(), i) - added.begin();
    added.insert(added.begin() + pos, i);
    added_leaves.insert(added_leaves.begin() + pos, all[i]);
    add(added, added_leaves, proof, "leaf " + std::to_string(i) + " added");
  }
  {
    Indices beyond = set;
    std::vector<Hash> beyond_leaves = leaves;
    beyond.push_back(n);
    beyond_leaves.push_back(all[n % all.size()]);
    add(beyond, beyond_leaves, proof, "index = tree size added");
  }
  std::vector<Hash> extra_leaf = leaves;
  extra_leaf.push_back(all[0]);
  add(set, extra_leaf, proof, "leaf hash without an index");
  for (const Hash& bad_root : {EmptyRoot(), kZero, kSome, Flip(root, 0, 0), Flip(root, 31, 7)}) {
    out.push_back({set, leaves, n, proof, bad_root, "wrong root"});
  }
  return out;
}

TEST(MerkleMulti, MutationsAreRejected) {
  const uint64_t kLeaves = 2 * kMaxPropertySize;
  const Leaves all = TestLeaves(kLeaves);
  LeafHashes tree(all);
  std::vector<Hash> roots;
  for (uint64_t n = 0; n <= kLeaves; ++n) roots.push_back(Mth(Slice(all, 0, n)));
  std::mt19937_64 rng(5);
  size_t checked = 0;
  size_t same_shape = 0;
  for (uint64_t n = 1; n <= kMaxPropertySize; ++n) {
    std::vector<Indices> sets = {{}, {0}, {n - 1}, {n / 2}};
    Indices full;
    for (uint64_t i = 0; i < n; ++i) full.push_back(i);
    sets.push_back(full);
    for (int round = 0; round < 8; ++round) {
      Indices set;
      for (uint64_t i = 0; i < n; ++i) {
        if (rng() % 4 == 0) set.push_back(i);
      }
      sets.push_back(set);
    }
    for (const Indices& set : sets) {
      auto proof = MultiInclusionProof(set, n, tree);
      ASSERT_TRUE(proof.ok());
      const std::vector<Hash> leaves = LeavesAt(all, set);
      ASSERT_TRUE(VerifyMultiInclusion(set, leaves, n, *proof, roots[n]));
      for (const auto& c : CorruptMulti(all, set, n, *proof, roots[n])) {
        EXPECT_FALSE(VerifyMultiInclusion(c.indices, c.leaves, c.size, c.proof, c.root))
            << c.what << " for " << set.size() << " of " << n << " leaves";
        ++checked;
      }
      // Another tree size. Against the root of that size (a tree head the log really had),
      // the claim is false and always rejected. Against the original root it is rejected
      // unless the walk has the same shape in both trees, as a single audit path can (see
      // SizeIsBoundToTheRootOnlyByTheHead): then it recomputes the same root from the same
      // hashes, which is why the size must come with its root from one signed head.
      for (uint64_t other : {n - 1, n + 1, 2 * n, n / 2, uint64_t{0}}) {
        if (other == n) continue;
        EXPECT_FALSE(VerifyMultiInclusion(set, leaves, other, *proof, roots[other]))
            << "size " << other << " with its root, for " << set.size() << " of " << n;
        const bool fits = set.empty() || set.back() < other;
        const bool same = fits && other > 0 && MultiShape(set, 0, other) == MultiShape(set, 0, n);
        EXPECT_EQ(VerifyMultiInclusion(set, leaves, other, *proof, roots[n]), same)
            << "size " << other << " with the root of " << n << ", " << set.size() << " indices";
        same_shape += same ? 1 : 0;
        checked += 2;
      }
    }
  }
  EXPECT_GT(checked, 100000u);
  EXPECT_GT(same_shape, 0u);  // The exception above does occur.
}

TEST(MerkleMulti, RandomClaimsForHugeTreesAreRejected) {
  std::mt19937_64 rng(4242);
  auto random_hash = [&] {
    Hash h;
    for (auto& b : h) b = static_cast<uint8_t>(rng());
    return h;
  };
  for (int round = 0; round < 2000; ++round) {
    const uint64_t size = rng() >> (rng() % 64);
    Indices set;
    uint64_t next = size == 0 ? 0 : rng() % size;
    for (size_t count = rng() % 6; count > 0 && next < size; --count) {
      set.push_back(next);
      const uint64_t gap = 1 + (rng() >> (rng() % 64));
      if (gap > size - next) break;
      next += gap;
    }
    std::vector<Hash> leaves(set.size());
    for (auto& h : leaves) h = random_hash();
    std::vector<Hash> proof(rng() % 200);
    for (auto& h : proof) h = random_hash();
    EXPECT_FALSE(VerifyMultiInclusion(set, leaves, size, proof, random_hash()));
  }
}

}  // namespace
}  // namespace annals::merkle
