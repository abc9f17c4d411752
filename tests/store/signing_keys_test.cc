// The tree signing key (integrity/signing_keys.h) on a real RocksDB and a real directory:
// generated and configured key files, their permissions, records and rotation, and
// interoperability with the openssl command.
#include "integrity/signing_keys.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/sha256.h"
#include "store_test_dir.h"

namespace annals::integrity {
namespace {

namespace fs = std::filesystem;

// Not a whole millisecond: records and heads are floored to one.
constexpr TimestampUs kT0 = 1764381784123456;
constexpr TimestampUs kT0Millis = 1764381784123000;

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const fs::path& p, const std::string& content, fs::perms mode) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
  fs::permissions(p, mode, fs::perm_options::replace);
}

// Runs a shell command quietly; returns its exit status.
int Shell(const std::string& command) {
  const int rc = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string Quote(const fs::path& p) { return "'" + p.string() + "'"; }

// The raw Ed25519 public key in a PEM public key file.
std::string RawPublicKeyFromPem(const fs::path& p) {
  const std::string pem = ReadAll(p);
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (pkey == nullptr) return "";
  std::string raw(32, '\0');
  size_t len = raw.size();
  const bool ok = EVP_PKEY_get_raw_public_key(pkey, reinterpret_cast<unsigned char*>(raw.data()),
                                              &len) == 1;
  EVP_PKEY_free(pkey);
  return ok ? raw : "";
}

TreeHead Head(TimestampUs timestamp, uint64_t size = 3) {
  TreeHead h;
  h.organization_id = "org_keys";
  h.tree_size = size;
  h.root_hash = merkle::LeafHash("leaf");
  h.timestamp = timestamp;
  return h;
}

class SigningKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<RocksStore>> s = dir_.OpenStore();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    data_ = dir_.path() / "data";
    fs::create_directories(data_);
  }
  void TearDown() override { store_.reset(); }

  Result<std::unique_ptr<SigningKeys>> Open(const std::string& key_file = "") {
    SigningKeyOptions o;
    o.data_dir = data_.string();
    o.key_file = key_file;
    return SigningKeys::Open(o, store_.get(), &clock_);
  }
  std::unique_ptr<SigningKeys> MustOpen(const std::string& key_file = "") {
    Result<std::unique_ptr<SigningKeys>> keys = Open(key_file);
    EXPECT_TRUE(keys.ok()) << keys.status().ToString();
    return keys.ok() ? std::move(keys).value() : nullptr;
  }
  // Expects Open to refuse `key_file` with a sentence naming it and containing `words`.
  void ExpectRefused(const fs::path& key_file, const std::string& words) {
    Result<std::unique_ptr<SigningKeys>> keys = Open(key_file.string());
    ASSERT_FALSE(keys.ok()) << key_file;
    EXPECT_EQ(keys.status().code(), Code::kFailedPrecondition);
    EXPECT_NE(keys.status().message().find(key_file.string()), std::string::npos)
        << keys.status().message();
    EXPECT_NE(keys.status().message().find(words), std::string::npos) << keys.status().message();
  }
  fs::path GeneratedKeyPath() const { return data_ / "integrity" / "tree-signing.key"; }

  ::annals::testing::StoreTestDir dir_{"annals-signing-keys-test"};
  ManualClock clock_{kT0};
  std::unique_ptr<RocksStore> store_;
  fs::path data_;
};

TEST_F(SigningKeysTest, FirstOpenCreatesTheKeyFileAndOneRecord) {
  std::unique_ptr<SigningKeys> keys = MustOpen();
  ASSERT_TRUE(keys);
  struct stat st {};
  ASSERT_EQ(::stat(GeneratedKeyPath().c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat(GeneratedKeyPath().parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  // No temporary file is left next to it.
  EXPECT_EQ(std::distance(fs::directory_iterator(GeneratedKeyPath().parent_path()),
                          fs::directory_iterator()),
            1);

  const PublicKey current = keys->Current();
  EXPECT_EQ(current.raw.size(), 32u);
  EXPECT_EQ(current.key_id, KeyIdFor(current.raw));
  EXPECT_EQ(current.valid_from, kT0Millis);
  EXPECT_FALSE(current.valid_until);
  Result<std::vector<PublicKey>> all = keys->All();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front(), current);
  Result<std::optional<std::string>> meta = store_->GetMeta("tree/key/" + current.key_id);
  ASSERT_TRUE(meta.ok() && meta->has_value());
  EXPECT_EQ(**meta, PublicKeyToJson(current));
  EXPECT_EQ(keys->Find(current.key_id), current);
  EXPECT_FALSE(keys->Find("0000000000000000"));

  // The file is a PKCS#8 PEM that openssl reads, and it holds this key.
  EXPECT_TRUE(ReadAll(GeneratedKeyPath()).starts_with("-----BEGIN PRIVATE KEY-----"));
  const fs::path pub = dir_.path() / "pub.pem";
  ASSERT_EQ(Shell("openssl pkey -in " + Quote(GeneratedKeyPath()) + " -pubout -out " + Quote(pub)),
            0);
  EXPECT_EQ(RawPublicKeyFromPem(pub), current.raw);
}

TEST_F(SigningKeysTest, SignedHeadsVerifyAndOpensslAgrees) {
  std::unique_ptr<SigningKeys> keys = MustOpen();
  ASSERT_TRUE(keys);
  TreeHead head = Head(kT0 + 5'000'000);
  keys->Sign(&head);
  EXPECT_EQ(head.key_id, keys->Current().key_id);
  EXPECT_EQ(head.timestamp, kT0Millis + 5'000'000);  // floored to the millisecond
  EXPECT_TRUE(VerifyHeadSignature(head, keys->Current()));

  // openssl verifies the signature over the message with the public key it derives.
  const fs::path pub = dir_.path() / "pub.pem";
  const fs::path msg = dir_.path() / "msg";
  const fs::path sig = dir_.path() / "sig";
  ASSERT_EQ(Shell("openssl pkey -in " + Quote(GeneratedKeyPath()) + " -pubout -out " + Quote(pub)),
            0);
  WriteFile(msg, SignedMessage(head), fs::perms::owner_read | fs::perms::owner_write);
  WriteFile(sig, head.signature, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(Shell("openssl pkeyutl -verify -pubin -inkey " + Quote(pub) + " -rawin -in " +
                  Quote(msg) + " -sigfile " + Quote(sig)),
            0);
  head.tree_size += 1;
  WriteFile(msg, SignedMessage(head), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_NE(Shell("openssl pkeyutl -verify -pubin -inkey " + Quote(pub) + " -rawin -in " +
                  Quote(msg) + " -sigfile " + Quote(sig)),
            0);
}

TEST_F(SigningKeysTest, ReopenKeepsTheKeyAndTheRecord) {
  std::unique_ptr<SigningKeys> keys = MustOpen();
  ASSERT_TRUE(keys);
  const PublicKey first = keys->Current();
  const std::string file = ReadAll(GeneratedKeyPath());
  TreeHead head = Head(kT0);
  keys->Sign(&head);
  keys.reset();

  clock_.Advance(3'600'000'000);
  keys = MustOpen();
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->Current(), first);
  EXPECT_EQ(ReadAll(GeneratedKeyPath()), file);
  Result<std::vector<PublicKey>> all = keys->All();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
  EXPECT_TRUE(VerifyHeadSignature(head, keys->Current()));
  TreeHead again = Head(kT0);
  keys->Sign(&again);
  EXPECT_EQ(again.signature, head.signature);  // the same key
}

TEST_F(SigningKeysTest, RotateReplacesTheKeyAndKeepsTheOldRecord) {
  std::unique_ptr<SigningKeys> keys = MustOpen();
  ASSERT_TRUE(keys);
  const PublicKey old_key = keys->Current();
  TreeHead old_head = Head(kT0 + 1'000'000);
  keys->Sign(&old_head);
  const std::string old_file = ReadAll(GeneratedKeyPath());

  clock_.Advance(86'400'000'000);  // a day later
  const TimestampUs rotated_at = kT0Millis + 86'400'000'000;
  Result<PublicKey> rotated = keys->Rotate();
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  EXPECT_NE(rotated->key_id, old_key.key_id);
  EXPECT_EQ(rotated->valid_from, rotated_at);
  EXPECT_FALSE(rotated->valid_until);
  EXPECT_EQ(keys->Current(), *rotated);
  EXPECT_NE(ReadAll(GeneratedKeyPath()), old_file);
  struct stat st {};
  ASSERT_EQ(::stat(GeneratedKeyPath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  Result<std::vector<PublicKey>> all = keys->All();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].key_id, old_key.key_id);
  EXPECT_EQ((*all)[0].valid_from, old_key.valid_from);
  EXPECT_EQ((*all)[0].valid_until, rotated_at);
  EXPECT_EQ((*all)[1], *rotated);

  // Heads signed before the rotation still verify with the old record.
  std::optional<PublicKey> found = keys->Find(old_key.key_id);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->valid_until, rotated_at);
  EXPECT_TRUE(VerifyHeadSignature(old_head, *found));
  // New heads are signed by the new key, and not by the old one.
  TreeHead new_head = Head(rotated_at + 1000, 4);
  keys->Sign(&new_head);
  EXPECT_EQ(new_head.key_id, rotated->key_id);
  EXPECT_TRUE(VerifyHeadSignature(new_head, keys->Current()));
  EXPECT_FALSE(VerifyHeadSignature(new_head, *found));
  // A head dated before the rotation (its time read before it) is moved into the new key's
  // validity rather than signed outside it.
  TreeHead late = Head(rotated_at - 2000, 4);
  keys->Sign(&late);
  EXPECT_EQ(late.timestamp, rotated_at);
  EXPECT_TRUE(VerifyHeadSignature(late, keys->Current()));

  // After a restart: the new key, both records.
  keys.reset();
  clock_.Advance(1'000'000);
  keys = MustOpen();
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->Current(), *rotated);
  all = keys->All();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
  found = keys->Find(old_key.key_id);
  ASSERT_TRUE(found);
  EXPECT_TRUE(VerifyHeadSignature(old_head, *found));

  // Twice more, the last within the same millisecond: records stay ordered and closed.
  ASSERT_TRUE(keys->Rotate().ok());
  ASSERT_TRUE(keys->Rotate().ok());
  all = keys->All();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  int open = 0;
  for (const PublicKey& k : *all) open += !k.valid_until;
  EXPECT_EQ(open, 1);
  EXPECT_FALSE(all->back().valid_until);
  EXPECT_EQ(all->back().key_id, keys->Current().key_id);
}

TEST_F(SigningKeysTest, SigningDuringRotationsNeverMixesKeys) {
  std::unique_ptr<SigningKeys> keys = MustOpen();
  ASSERT_TRUE(keys);
  std::atomic<bool> stop{false};
  std::vector<TreeHead> heads[2];
  std::vector<std::thread> signers;
  for (auto& out : heads) {
    signers.emplace_back([&keys, &stop, &out, this] {
      while (!stop.load()) {
        TreeHead h = Head(clock_.NowMicros(), out.size());
        keys->Sign(&h);
        out.push_back(h);
      }
    });
  }
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(1000);
    ASSERT_TRUE(keys->Rotate().ok());
  }
  stop = true;
  for (auto& t : signers) t.join();
  for (const auto& out : heads) {
    for (const TreeHead& h : out) {
      std::optional<PublicKey> key = keys->Find(h.key_id);
      ASSERT_TRUE(key) << h.key_id;
      ASSERT_TRUE(VerifyHeadSignature(h, *key)) << h.key_id << " at " << h.timestamp;
    }
  }
}

TEST_F(SigningKeysTest, KeyFileFromConfigurationInPem) {
  const fs::path pem = dir_.path() / "configured.pem";
  ASSERT_EQ(Shell("openssl genpkey -algorithm ed25519 -out " + Quote(pem)), 0);
  fs::permissions(pem, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  const fs::path pub = dir_.path() / "configured.pub";
  ASSERT_EQ(Shell("openssl pkey -in " + Quote(pem) + " -pubout -out " + Quote(pub)), 0);

  std::unique_ptr<SigningKeys> keys = MustOpen(pem.string());
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->Current().raw, RawPublicKeyFromPem(pub));
  EXPECT_FALSE(fs::exists(GeneratedKeyPath()));  // nothing generated
  TreeHead head = Head(kT0);
  keys->Sign(&head);
  EXPECT_TRUE(VerifyHeadSignature(head, keys->Current()));

  // Rotation is the operator's, by replacing the file.
  Result<PublicKey> rotated = keys->Rotate();
  ASSERT_FALSE(rotated.ok());
  EXPECT_EQ(rotated.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(rotated.status().error_code(), "signing_key_from_configuration");
  EXPECT_EQ(keys->Current().key_id, head.key_id);

  // A symbolic link to the file (as secret mounts use) is followed.
  const fs::path link = dir_.path() / "link.pem";
  fs::create_symlink(pem, link);
  keys.reset();
  keys = MustOpen(link.string());
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->Current().key_id, head.key_id);
}

TEST_F(SigningKeysTest, KeyFileFromConfigurationInBase64) {
  ASSERT_GE(sodium_init(), 0);
  std::string seed(32, '\0');
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<char>(0x40 + i);
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, reinterpret_cast<const unsigned char*>(seed.data()));

  const fs::path file = dir_.path() / "seed.b64";
  WriteFile(file, Base64Encode(seed) + "\n", fs::perms::owner_read);
  std::unique_ptr<SigningKeys> keys = MustOpen(file.string());
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->Current().raw, std::string(reinterpret_cast<const char*>(pk), sizeof pk));

  // Replacing the configured key closes the previous key's record at the restart.
  const PublicKey previous = keys->Current();
  keys.reset();
  clock_.Advance(60'000'000);
  seed[0] ^= 1;
  WriteFile(file, Base64Encode(seed), fs::perms::owner_read | fs::perms::owner_write);
  keys = MustOpen(file.string());
  ASSERT_TRUE(keys);
  EXPECT_NE(keys->Current().key_id, previous.key_id);
  EXPECT_EQ(keys->Current().valid_from, kT0Millis + 60'000'000);
  std::optional<PublicKey> closed = keys->Find(previous.key_id);
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->valid_until, kT0Millis + 60'000'000);

  // Putting the retired key back is refused.
  keys.reset();
  seed[0] ^= 1;
  WriteFile(file, Base64Encode(seed), fs::perms::owner_read | fs::perms::owner_write);
  Result<std::unique_ptr<SigningKeys>> retired = Open(file.string());
  ASSERT_FALSE(retired.ok());
  EXPECT_EQ(retired.status().error_code(), "signing_key_retired");
  EXPECT_NE(retired.status().message().find(previous.key_id), std::string::npos);
}

TEST_F(SigningKeysTest, GeneratedKeyReplacedByAConfiguredOne) {
  std::unique_ptr<SigningKeys> keys = MustOpen();
  ASSERT_TRUE(keys);
  const PublicKey generated = keys->Current();
  keys.reset();
  clock_.Advance(1'000'000);
  const fs::path pem = dir_.path() / "configured.pem";
  ASSERT_EQ(Shell("openssl genpkey -algorithm ed25519 -out " + Quote(pem)), 0);
  fs::permissions(pem, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  keys = MustOpen(pem.string());
  ASSERT_TRUE(keys);
  Result<std::vector<PublicKey>> all = keys->All();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].key_id, generated.key_id);
  EXPECT_EQ((*all)[0].valid_until, kT0Millis + 1'000'000);
  EXPECT_EQ((*all)[1].key_id, keys->Current().key_id);
}

TEST_F(SigningKeysTest, RefusesUnsafeOrWrongKeyFiles) {
  const fs::path pem = dir_.path() / "open.pem";
  ASSERT_EQ(Shell("openssl genpkey -algorithm ed25519 -out " + Quote(pem)), 0);
  fs::permissions(pem,
                  fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                      fs::perms::others_read,
                  fs::perm_options::replace);
  ExpectRefused(pem, "group or others (mode 0644)");
  fs::permissions(pem, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_write,
                  fs::perm_options::replace);
  ExpectRefused(pem, "group or others");
  // The generated file is held to the same rule.
  ASSERT_TRUE(MustOpen());
  fs::permissions(GeneratedKeyPath(),
                  fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read,
                  fs::perm_options::replace);
  Result<std::unique_ptr<SigningKeys>> loose = Open();
  ASSERT_FALSE(loose.ok());
  EXPECT_EQ(loose.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(loose.status().message().find(GeneratedKeyPath().string()), std::string::npos);

  const auto owner_only = fs::perms::owner_read | fs::perms::owner_write;
  const fs::path garbage = dir_.path() / "garbage.key";
  WriteFile(garbage, "this is not a key\n", owner_only);
  ExpectRefused(garbage, "neither a PEM Ed25519 private key");
  const fs::path empty = dir_.path() / "empty.key";
  WriteFile(empty, "", owner_only);
  ExpectRefused(empty, "is empty");
  const fs::path short_seed = dir_.path() / "short.key";
  WriteFile(short_seed, Base64Encode(std::string(31, 'k')), owner_only);
  ExpectRefused(short_seed, "32-byte");
  const fs::path bad_pem = dir_.path() / "bad.pem";
  WriteFile(bad_pem, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", owner_only);
  ExpectRefused(bad_pem, "no readable PEM private key");

  const fs::path rsa = dir_.path() / "rsa.pem";
  ASSERT_EQ(Shell("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out " +
                  Quote(rsa)),
            0);
  fs::permissions(rsa, owner_only, fs::perm_options::replace);
  ExpectRefused(rsa, "not an Ed25519 key");
  const fs::path ec = dir_.path() / "ec.pem";
  ASSERT_EQ(Shell("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " +
                  Quote(ec)),
            0);
  fs::permissions(ec, owner_only, fs::perm_options::replace);
  ExpectRefused(ec, "not an Ed25519 key");
  // The same EC key in the traditional "EC PRIVATE KEY" form.
  const fs::path ec_traditional = dir_.path() / "ec-traditional.pem";
  ASSERT_EQ(Shell("openssl ec -in " + Quote(ec) + " -out " + Quote(ec_traditional)), 0);
  fs::permissions(ec_traditional, owner_only, fs::perm_options::replace);
  ExpectRefused(ec_traditional, "not an Ed25519 key");
  // A public key is no private key.
  const fs::path pub = dir_.path() / "pub.pem";
  ASSERT_EQ(Shell("openssl pkey -in " + Quote(pem) + " -pubout -out " + Quote(pub)), 0);
  fs::permissions(pub, owner_only, fs::perm_options::replace);
  ExpectRefused(pub, "no readable PEM private key");
  // An encrypted key is refused without asking for a passphrase.
  const fs::path encrypted = dir_.path() / "encrypted.pem";
  ASSERT_EQ(Shell("openssl genpkey -algorithm ed25519 -aes-128-cbc -pass pass:secret -out " +
                  Quote(encrypted)),
            0);
  fs::permissions(encrypted, owner_only, fs::perm_options::replace);
  ExpectRefused(encrypted, "encrypted");

  ExpectRefused(dir_.path(), "not a regular file");
  ExpectRefused(dir_.path() / "missing.key", "No such file");

  // Nothing was registered by the refusals: only the generated key's record.
  Result<std::vector<std::pair<std::string, std::string>>> records =
      store_->ListMeta("tree/key/", "", 0);
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(records->size(), 1u);
}

TEST_F(SigningKeysTest, NeedsADataDirectoryOrAKeyFile) {
  Result<std::unique_ptr<SigningKeys>> keys =
      SigningKeys::Open(SigningKeyOptions{}, store_.get(), &clock_);
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace annals::integrity
