#include "domain/merkle.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <random>
#include <string>
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

}  // namespace
}  // namespace annals::merkle
