// `annals verify-proof` end to end: the real binary checks heads signed by SigningKeys and
// proofs computed over an in-memory Merkle tree, written to files as a client would save them.
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <boost/json.hpp>
#include <fstream>

#include "common/sha256.h"
#include "domain/canonical_json.h"
#include "domain/merkle.h"
#include "harness.h"
#include "integrity/signing_keys.h"
#include "integrity/tree_head.h"
#include "storage/rocksdb/rocks_store.h"

namespace annals::testing {
namespace {

namespace fs = std::filesystem;
using integrity::PublicKey;
using integrity::TreeHead;

constexpr TimestampUs kT0 = 1764381784123000;

std::string HexList(const std::vector<merkle::Hash>& hashes) {
  std::string s = "[";
  for (size_t i = 0; i < hashes.size(); ++i) {
    if (i) s += ",";
    s += "\"" + merkle::HashToHex(hashes[i]) + "\"";
  }
  return s + "]";
}

// The event of seq `seq`, written with whitespace and members out of order: the verifier
// canonicalizes it before hashing.
std::string EventText(int seq, const std::string& action = "document.edited") {
  return "{\n  \"seq\": " + std::to_string(seq) + ",\n  \"organization_id\": \"org_verify\",\n" +
         "  \"action\": \"" + action + "\",\n  \"id\": \"evt_" + std::to_string(seq) +
         "\",\n  \"metadata\": {\"size\": 1.50, \"b\": true, \"a\": null}\n}\n";
}

std::string CommitmentOf(const std::string& event_text) {
  return Sha256(Canonical(boost::json::parse(event_text)));
}

class VerifyProofTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RocksStoreOptions o;
    o.path = (dir_.path() / "store").string();
    o.sync = false;
    o.block_cache_bytes = 8 << 20;
    o.write_buffer_bytes = 4 << 20;
    Result<std::unique_ptr<RocksStore>> store = RocksStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    integrity::SigningKeyOptions ko;
    ko.data_dir = (dir_.path() / "data").string();
    Result<std::unique_ptr<integrity::SigningKeys>> keys =
        integrity::SigningKeys::Open(ko, store_.get(), &clock_);
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    keys_ = std::move(keys).value();

    for (int seq = 1; seq <= 7; ++seq) tree_.Append(merkle::LeafHash(CommitmentOf(EventText(seq))));
    old_head_ = SignedHead(4, std::nullopt);
    clock_.Advance(1'000'000);
    head_ = SignedHead(7, integrity::HeadHash(old_head_));

    Write("key.json", integrity::PublicKeyToJson(keys_->Current()));
    Write("head.json", integrity::TreeHeadToJson(head_));
    Write("old.json", integrity::TreeHeadToJson(old_head_));
    Write("event3.json", EventText(3));
    Write("inclusion.json", InclusionJson(2, 7));
    Write("consistency.json", ConsistencyJson(4, 7));
  }

  TreeHead SignedHead(uint64_t size, std::optional<merkle::Hash> previous) {
    TreeHead h;
    h.organization_id = "org_verify";
    h.tree_size = size;
    h.root_hash = *merkle::RootOf(size, tree_);
    h.timestamp = clock_.NowMicros();
    h.previous_head_hash = previous;
    keys_->Sign(&h);
    return h;
  }

  std::string InclusionJson(uint64_t leaf_index, uint64_t tree_size) {
    Result<std::vector<merkle::Hash>> path = merkle::InclusionProof(leaf_index, tree_size, tree_);
    EXPECT_TRUE(path.ok());
    return "{\"leaf_index\":" + std::to_string(leaf_index) +
           ",\"tree_size\":" + std::to_string(tree_size) + ",\"leaf_hash\":\"" +
           merkle::HashToHex(tree_.leaves()[leaf_index]) + "\",\"audit_path\":" +
           HexList(*path) + "}";
  }

  std::string ConsistencyJson(uint64_t first, uint64_t second) {
    Result<std::vector<merkle::Hash>> proof = merkle::ConsistencyProof(first, second, tree_);
    EXPECT_TRUE(proof.ok());
    return "{\"first\":" + std::to_string(first) + ",\"second\":" + std::to_string(second) +
           ",\"proof\":" + HexList(*proof) + "}";
  }

  std::string Write(const std::string& name, const std::string& content) {
    const fs::path p = dir_.path() / name;
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
    return p.string();
  }
  std::string P(const std::string& name) const { return (dir_.path() / name).string(); }

  CommandResult Verify(std::vector<std::string> args) {
    args.insert(args.begin(), {"annals", "verify-proof"});
    return RunCommand(args);
  }
  // The full check: head, inclusion of seq 3, consistency from the old head.
  std::vector<std::string> AllChecks(const std::string& key = "") {
    return {"--public-key", key.empty() ? P("key.json") : key, "--head", P("head.json"),
            "--inclusion", P("inclusion.json"), "--event", P("event3.json"),
            "--consistency", P("consistency.json"), "--old-head", P("old.json")};
  }

  static void ExpectFailure(const CommandResult& r, const std::string& words) {
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find(words), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }

  TempDir dir_;
  ManualClock clock_{kT0};
  std::unique_ptr<RocksStore> store_;
  std::unique_ptr<integrity::SigningKeys> keys_;
  merkle::LeafHashes tree_;
  TreeHead old_head_, head_;
};

TEST_F(VerifyProofTest, GoodInclusionAndConsistency) {
  const CommandResult r = Verify(AllChecks());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string id = keys_->Current().key_id;
  EXPECT_EQ(r.out, "head: signed by key " + id + ", organization org_verify, tree_size 7\n" +
                       "inclusion: seq 3 is in the tree of 7 events\n" +
                       "old head: signed by key " + id + ", organization org_verify, tree_size 4\n" +
                       "consistency: the tree of 7 events extends the tree of 4 events\n");
  EXPECT_EQ(r.err, "");

  // The head alone; every leaf by its event; the commitment instead of the event.
  EXPECT_EQ(Verify({"--public-key", P("key.json"), "--head", P("head.json")}).exit_code, 0);
  for (int seq = 1; seq <= 7; ++seq) {
    Write("proof.json", InclusionJson(seq - 1, 7));
    Write("event.json", EventText(seq));
    const CommandResult one = Verify({"--public-key", P("key.json"), "--head", P("head.json"),
                                      "--inclusion", P("proof.json"), "--event", P("event.json")});
    EXPECT_EQ(one.exit_code, 0) << one.err;
    EXPECT_NE(one.out.find("seq " + std::to_string(seq) + " is in"), std::string::npos);
  }
  const CommandResult by_commitment =
      Verify({"--public-key", P("key.json"), "--head", P("head.json"), "--inclusion",
              P("inclusion.json"), "--commitment", HexEncode(CommitmentOf(EventText(3)))});
  EXPECT_EQ(by_commitment.exit_code, 0) << by_commitment.err;
}

TEST_F(VerifyProofTest, EveryFormOfPublicKey) {
  const PublicKey key = keys_->Current();
  // Raw base64 on the command line and in a file.
  EXPECT_EQ(Verify(AllChecks(Base64Encode(key.raw))).exit_code, 0);
  EXPECT_EQ(Verify(AllChecks(Write("key.b64", Base64Encode(key.raw) + "\n"))).exit_code, 0);
  // GET /v1/tree/key's short form.
  const std::string short_form = R"({"algorithm":"ed25519","key_id":")" + key.key_id +
                                 R"(","public_key":")" + Base64Encode(key.raw) + R"("})";
  EXPECT_EQ(Verify(AllChecks(Write("short.json", short_form))).exit_code, 0);
  // GET /v1/tree/keys.
  const std::string list = "{\"data\":[" + integrity::PublicKeyToJson(key) + "]}";
  EXPECT_EQ(Verify(AllChecks(Write("keys.json", list))).exit_code, 0);
  // A PEM public key.
  EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(key.raw.data()),
      key.raw.size());
  ASSERT_NE(pkey, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio, pkey), 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  const std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  const CommandResult r = Verify(AllChecks(Write("key.pem", pem)));
  EXPECT_EQ(r.exit_code, 0) << r.err;

  ExpectFailure(Verify(AllChecks(Write("junk.key", "not a key"))), "holds neither");
}

TEST_F(VerifyProofTest, FlippedProofNodeFails) {
  std::string proof = InclusionJson(2, 7);
  const size_t at = proof.find("\"audit_path\":[\"") + 15;
  proof[at] = proof[at] == '0' ? '1' : '0';
  Write("inclusion.json", proof);
  const CommandResult r = Verify(AllChecks());
  ExpectFailure(r, "does not lead from seq 3 to the head's root hash");
  EXPECT_NE(r.out.find("head: signed"), std::string::npos);  // what passed is still shown

  std::string consistency = ConsistencyJson(4, 7);
  const size_t last = consistency.rfind("\"]") - 1;
  consistency[last] = consistency[last] == '0' ? '1' : '0';
  Write("inclusion.json", InclusionJson(2, 7));
  Write("consistency.json", consistency);
  ExpectFailure(Verify(AllChecks()), "to be a prefix of the tree of 7 events");

  // A proof with a node missing or one too many.
  Write("consistency.json", ConsistencyJson(4, 7));
  std::string longer = InclusionJson(2, 7);
  longer.insert(longer.rfind(']'), ",\"" + merkle::HashToHex(merkle::EmptyRoot()) + "\"");
  Write("inclusion.json", longer);
  ExpectFailure(Verify(AllChecks()), "does not lead");
}

TEST_F(VerifyProofTest, WrongEventContentFails) {
  Write("event3.json", EventText(3, "document.deleted"));
  ExpectFailure(Verify(AllChecks()), "the event differs from the one the proof is for");
  // Another event of the tree, with seq 3's proof.
  Write("event3.json", EventText(4));
  ExpectFailure(Verify(AllChecks()), "differs");
  const CommandResult by_commitment =
      Verify({"--public-key", P("key.json"), "--head", P("head.json"), "--inclusion",
              P("inclusion.json"), "--commitment", HexEncode(Sha256("something else"))});
  ExpectFailure(by_commitment, "the commitment's leaf hash");
  Write("event3.json", "{\"not\": json}");
  ExpectFailure(Verify(AllChecks()), "is not valid JSON");
}

TEST_F(VerifyProofTest, HeadWithABadSignatureFails) {
  TreeHead forged = head_;
  forged.signature[10] ^= 0x04;
  Write("head.json", integrity::TreeHeadToJson(forged));
  CommandResult r = Verify(AllChecks());
  ExpectFailure(r, "does not verify with key " + head_.key_id);
  EXPECT_EQ(r.out, "");  // nothing passed

  // The signed head with more events claimed.
  TreeHead grown = head_;
  grown.tree_size = 8;
  Write("head.json", integrity::TreeHeadToJson(grown));
  ExpectFailure(Verify({"--public-key", P("key.json"), "--head", P("head.json")}),
                "does not verify");

  // The old head is checked too.
  Write("head.json", integrity::TreeHeadToJson(head_));
  TreeHead old_forged = old_head_;
  old_forged.root_hash[0] ^= 1;
  Write("old.json", integrity::TreeHeadToJson(old_forged));
  r = Verify(AllChecks());
  ExpectFailure(r, "the head in " + P("old.json"));
}

TEST_F(VerifyProofTest, HeadSignedByAnotherKeyFails) {
  const PublicKey old_key = keys_->Current();
  clock_.Advance(60'000'000);
  ASSERT_TRUE(keys_->Rotate().ok());
  const PublicKey new_key = keys_->Current();
  TreeHead newer = SignedHead(7, integrity::HeadHash(head_));
  Write("head.json", integrity::TreeHeadToJson(newer));
  Write("consistency.json", ConsistencyJson(4, 7));

  // The key file names the old key only.
  ExpectFailure(Verify(AllChecks()),
                "is signed by key " + new_key.key_id + ", not by the given key " + old_key.key_id);
  // The new key does not verify the old head.
  Write("new-key.json", integrity::PublicKeyToJson(new_key));
  ExpectFailure(Verify(AllChecks(P("new-key.json"))), "is signed by key " + old_key.key_id);

  // The key list covers both: the old head with the old record, the new head with the new.
  Result<std::vector<PublicKey>> all = keys_->All();
  ASSERT_TRUE(all.ok());
  std::string list = "{\"data\":[";
  for (size_t i = 0; i < all->size(); ++i) {
    list += (i ? "," : "") + integrity::PublicKeyToJson((*all)[i]);
  }
  list += "]}";
  const CommandResult r = Verify(AllChecks(Write("keys.json", list)));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("head: signed by key " + new_key.key_id), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("old head: signed by key " + old_key.key_id), std::string::npos) << r.out;

  // A head dated after the old key's retirement is refused by the key's record, before its
  // signature is even looked at.
  TreeHead late = head_;
  late.timestamp = *all->front().valid_until + 1000;
  Write("head.json", integrity::TreeHeadToJson(late));
  ExpectFailure(Verify({"--public-key", P("keys.json"), "--head", P("head.json")}),
                "outside the time key " + old_key.key_id + " was in use");
}

TEST_F(VerifyProofTest, MismatchedTreeSizeFails) {
  // A correct proof, but for the tree of 6 events, checked against the head of 7.
  Write("inclusion.json", InclusionJson(2, 6));
  ExpectFailure(Verify(AllChecks()),
                "for a tree of 6 events but the head is for 7; the size and the root hash must "
                "come from one signed head");
  Write("inclusion.json", InclusionJson(2, 7));
  Write("consistency.json", ConsistencyJson(3, 7));
  ExpectFailure(Verify(AllChecks()), "from a tree of 3 to 7 events but the heads are for 4 and 7");
}

TEST_F(VerifyProofTest, MalformedProofFilesFail) {
  Write("inclusion.json", "{\"leaf_index\":2,\"tree_size\":7}");
  ExpectFailure(Verify(AllChecks()), "\"leaf_hash\" must be 64 lowercase hexadecimal");
  Write("inclusion.json", "not json");
  ExpectFailure(Verify(AllChecks()), "is not valid JSON");
  Write("inclusion.json", InclusionJson(2, 7));
  Write("consistency.json", "{\"first\":4,\"second\":7,\"proof\":[\"zz\"]}");
  ExpectFailure(Verify(AllChecks()), "\"proof\" must be an array of hashes");
  Write("head.json", "{}");
  ExpectFailure(Verify(AllChecks()), "is not a valid tree head");
}

TEST_F(VerifyProofTest, UsageErrors) {
  auto expect_usage = [&](std::vector<std::string> args, const std::string& words) {
    const CommandResult r = Verify(std::move(args));
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find(words), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  };
  expect_usage({"--head", P("head.json")}, "--public-key");
  expect_usage({"--public-key", P("key.json")}, "--head");
  expect_usage({"--public-key", P("key.json"), "--head", P("missing.json")},
               "cannot read --head " + P("missing.json"));
  expect_usage({"--public-key", P("missing.key"), "--head", P("head.json")},
               "is neither a file nor standard base64");
  expect_usage({"--public-key", P("key.json"), "--head", P("head.json"), "--inclusion",
                P("inclusion.json")},
               "--inclusion needs the event");
  expect_usage({"--public-key", P("key.json"), "--head", P("head.json"), "--event",
                P("event3.json")},
               "go with --inclusion");
  expect_usage({"--public-key", P("key.json"), "--head", P("head.json"), "--inclusion",
                P("inclusion.json"), "--event", P("event3.json"), "--commitment",
                std::string(64, 'a')},
               "not both");
  expect_usage({"--public-key", P("key.json"), "--head", P("head.json"), "--consistency",
                P("consistency.json")},
               "go together");
  expect_usage({"--public-key", P("key.json"), "--head", P("head.json"), "--inclusion",
                P("inclusion.json"), "--commitment", "abc"},
               "--commitment must be 64 hexadecimal characters");
  // A missing file found before anything is checked: nothing is printed as passed.
  std::vector<std::string> args = AllChecks();
  args.back() = P("missing-old.json");
  expect_usage(args, "cannot read --old-head");
}

}  // namespace
}  // namespace annals::testing
