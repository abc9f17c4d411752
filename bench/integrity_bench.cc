// integrity_bench: tamper evidence over a stored dataset (docs/benchmarks.md "Tamper
// evidence").
//
//   build/bench/integrity_bench --data DIR --mode prepare
//       Opens the store (a dataset from before the Merkle log gets it built: reported as
//       catch-up events/s) and signs a head for every organization with DIR's key, so that
//       `annals verify --data DIR` has heads to check.
//   build/bench/integrity_bench --data DIR --mode proofs [--samples 20000] [--org ORG]
//       Inclusion proofs of random seqs of the largest organization (or ORG) against its full
//       tree, and consistency proofs from random sizes, as the API computes them (a fresh
//       tile source per proof): latency percentiles in process; each proof is verified.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <random>

#include "annals/clock.h"
#include "common.h"
#include "domain/merkle.h"
#include "integrity/head_publisher.h"
#include "integrity/signing_keys.h"
#include "storage/rocksdb/rocks_store.h"
#include "storage/tree_source.h"

namespace annals::bench {
namespace {

int Main(int argc, char** argv) {
  Flags flags("integrity_bench", "Merkle log catch-up, head signing and proof latency");
  flags.Describe("data", "", "data directory of a dataset (DIR/store)");
  flags.Describe("mode", "proofs", "prepare | proofs");
  flags.Describe("samples", "20000", "proofs to time");
  flags.Describe("org", "", "organization (default: the one with the most events)");
  flags.Parse(argc, argv);
  const std::string data = flags.Get("data");
  if (data.empty()) {
    std::cerr << "--data is required\n";
    return 2;
  }
  RocksStoreOptions o;
  o.path = data + "/store";
  o.create_if_missing = false;
  const double open_start = NowSeconds();
  auto store = RocksStore::Open(o);
  if (!store.ok()) {
    std::cerr << "open: " << store.status().message() << "\n";
    return 1;
  }
  const double open_seconds = NowSeconds() - open_start;
  auto orgs = (*store)->OrganizationsWithEvents().value();
  uint64_t total = 0;
  std::string org = flags.Get("org");
  uint64_t largest = 0;
  for (const std::string& o2 : orgs) {
    const uint64_t n = (*store)->LastSeq(o2).value();
    total += n;
    if (flags.Get("org").empty() && n > largest) {
      largest = n;
      org = o2;
    }
  }
  if (!flags.Get("org").empty()) largest = (*store)->LastSeq(org).value();
  std::printf("store: %s events in %zu organizations; open (with any Merkle catch-up) %.1f s\n",
              FormatCount(static_cast<double>(total)).c_str(), orgs.size(), open_seconds);

  if (flags.Get("mode") == "prepare") {
    SystemClock clock;
    integrity::SigningKeyOptions ko;
    ko.data_dir = data;
    auto keys = integrity::SigningKeys::Open(ko, store->get(), &clock);
    if (!keys.ok()) {
      std::cerr << "keys: " << keys.status().message() << "\n";
      return 1;
    }
    integrity::HeadPublisher heads(integrity::HeadPublisherOptions{}, store->get(), keys->get(),
                                   &clock);
    const double start = NowSeconds();
    Result<size_t> signed_heads = heads.PublishDue();
    if (!signed_heads.ok()) {
      std::cerr << "heads: " << signed_heads.status().message() << "\n";
      return 1;
    }
    std::printf("signed %zu heads in %.3f s\n", *signed_heads, NowSeconds() - start);
    return 0;
  }

  const TreeState tree = (*store)->CurrentTree(org).value();
  std::printf("organization %s: %s events\n", org.c_str(),
              FormatCount(static_cast<double>(tree.tree_size)).c_str());
  std::mt19937_64 rng(42);
  const int64_t samples = flags.GetInt("samples");
  Latencies inclusion, consistency;
  uint64_t path_hashes = 0;
  for (int64_t i = 0; i < samples; ++i) {
    const uint64_t leaf = rng() % tree.tree_size;
    const double t0 = NowSeconds();
    StoreTreeSource source(store->get(), org);
    auto proof = merkle::InclusionProof(leaf, tree.tree_size, source);
    auto leaf_hash = source.Leaf(leaf);
    const double t1 = NowSeconds();
    if (!proof.ok() || !leaf_hash.ok() ||
        !merkle::VerifyInclusion(leaf, tree.tree_size, leaf_hash->first, *proof, tree.root)) {
      std::cerr << "inclusion proof of leaf " << leaf << " does not verify\n";
      return 1;
    }
    path_hashes += proof->size();
    inclusion.Add((t1 - t0) * 1e6);
  }
  for (int64_t i = 0; i < samples / 4; ++i) {
    const uint64_t first = 1 + rng() % tree.tree_size;
    const double t0 = NowSeconds();
    StoreTreeSource source(store->get(), org);
    auto proof = merkle::ConsistencyProof(first, tree.tree_size, source);
    auto first_root = merkle::RootOf(first, source);
    const double t1 = NowSeconds();
    if (!proof.ok() || !first_root.ok() ||
        !merkle::VerifyConsistency(first, tree.tree_size, *proof, *first_root, tree.root)) {
      std::cerr << "consistency proof from " << first << " does not verify\n";
      return 1;
    }
    consistency.Add((t1 - t0) * 1e6);
  }
  std::printf("inclusion proofs: %s, audit path %.1f hashes; p50 %.0f µs, p99 %.0f µs, max %.0f µs\n",
              FormatCount(static_cast<double>(inclusion.count())).c_str(),
              static_cast<double>(path_hashes) / static_cast<double>(inclusion.count()),
              inclusion.Percentile(0.5), inclusion.Percentile(0.99), inclusion.Max());
  std::printf("consistency proofs (plus the old root): %s; p50 %.0f µs, p99 %.0f µs, max %.0f µs\n",
              FormatCount(static_cast<double>(consistency.count())).c_str(),
              consistency.Percentile(0.5), consistency.Percentile(0.99), consistency.Max());
  return 0;
}

}  // namespace
}  // namespace annals::bench

int main(int argc, char** argv) { return annals::bench::Main(argc, argv); }
