// Organization and API key registries and the rate limiter on a real RocksDB, with a
// manual clock.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "access/api_keys.h"
#include "access/organizations.h"
#include "access/rate_limiter.h"
#include "common/sha256.h"
#include "domain/event_decoder.h"
#include "ingest/ingestor.h"
#include "storage/rocksdb/rocks_store.h"
#include "store_test_dir.h"

namespace annals {
namespace {

namespace fs = std::filesystem;
constexpr TimestampUs kT0 = 1764381784123000;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Open();
  }
  void TearDown() override {
    orgs_.reset();
    keys_.reset();
    store_.reset();
  }
  void Open() {
    keys_.reset();
    orgs_.reset();
    store_.reset();
    auto s = dir_.OpenStore();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    auto orgs = OrgRegistry::Load(store_.get(), &clock_);
    ASSERT_TRUE(orgs.ok()) << orgs.status().ToString();
    orgs_ = std::move(orgs).value();
    auto keys = KeyRegistry::Load(store_.get(), &clock_, {Sha256("bootstrap-admin-key-0123456789abcdef")});
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    keys_ = std::move(keys).value();
  }

  ::annals::testing::StoreTestDir dir_{"annals-access-test"};
  ManualClock clock_{kT0};
  std::unique_ptr<RocksStore> store_;
  std::unique_ptr<OrgRegistry> orgs_;
  std::unique_ptr<KeyRegistry> keys_;
};

TEST_F(RegistryTest, PlatformOrganizationExistsFromTheStart) {
  EXPECT_TRUE(orgs_->Exists("annals"));
  EXPECT_EQ(orgs_->size(), 1u);
  Open();
  EXPECT_EQ(orgs_->size(), 1u);  // not created twice
}

TEST_F(RegistryTest, OrganizationsWithEventsButNoRecordGetOne) {
  {
    auto ingestor = Ingestor::Start(store_.get(), &clock_, IngestOptions{});
    ASSERT_TRUE(ingestor.ok());
    DecodeContext ctx;
    ctx.now = kT0;
    auto batch = DecodeEventsBody(
        R"([{"organization_id":"org_legacy","action":"a.b","occurred_at":"2025-11-29T00:00:00Z",)"
        R"("actor":{"id":"u","type":"user"},"targets":[{"id":"t","type":"doc"}]}])",
        BodyFormat::kJson, EventLimits{}, RequestLimits{}, ctx);
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    ASSERT_TRUE((*ingestor)->SubmitAndWait(std::move(batch->drafts)).ok());
  }
  EXPECT_FALSE(orgs_->Exists("org_legacy"));
  Open();
  EXPECT_TRUE(orgs_->Exists("org_legacy"));
  EXPECT_EQ(orgs_->Get("org_legacy")->name, "org_legacy");
}

TEST_F(RegistryTest, OrganizationsPersistAndValidate) {
  OrganizationCreate c;
  c.id = "org_acme";
  c.name = "Acme";
  c.external_id = "crm-1";
  c.settings_json = "{\"tier\":\"gold\"}";
  ASSERT_TRUE(orgs_->Create(c).ok());
  EXPECT_EQ(orgs_->Create(c).status().code(), Code::kConflict);
  for (const char* bad : {"", "-x", "a/b", "a b", "../x", "x\n"}) {
    OrganizationCreate b;
    b.id = bad;
    EXPECT_EQ(orgs_->Create(b).status().code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(ValidOrganizationId(std::string(129, 'a')));
  EXPECT_TRUE(ValidOrganizationId(std::string(128, 'a')));
  clock_.Advance(1000);
  OrganizationPatch p;
  p.clear_external_id = true;
  p.name = "Acme Corp";
  ASSERT_TRUE(orgs_->Update("org_acme", p).ok());
  EXPECT_EQ(orgs_->Update("org_none", p).status().code(), Code::kNotFound);
  Open();
  std::optional<Organization> o = orgs_->Get("org_acme");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->name, "Acme Corp");
  EXPECT_FALSE(o->external_id.has_value());
  EXPECT_EQ(o->settings_json, "{\"tier\":\"gold\"}");
  EXPECT_EQ(o->created_at, kT0);
  EXPECT_EQ(o->updated_at, kT0 + 1000);
}

TEST_F(RegistryTest, EnsureCreatesOnceUnderConcurrency) {
  std::atomic<int> created{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto r = orgs_->Ensure("org_race");
      ASSERT_TRUE(r.ok());
      if (r->second) created.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 1);
}

TEST_F(RegistryTest, OrganizationPaging) {
  for (int i = 0; i < 10; ++i) {
    OrganizationCreate c;
    c.id = "org_" + std::to_string(i);
    ASSERT_TRUE(orgs_->Create(c).ok());
  }
  auto page = orgs_->List("", "", 4);  // "annals" sorts before "org_0"
  ASSERT_EQ(page.data.size(), 4u);
  EXPECT_EQ(page.data[0].id, "annals");
  EXPECT_FALSE(page.more_before);
  EXPECT_TRUE(page.more_after);
  page = orgs_->List("org_6", "", 4);
  ASSERT_EQ(page.data.size(), 3u);
  EXPECT_EQ(page.data[0].id, "org_7");
  EXPECT_TRUE(page.more_before);
  EXPECT_FALSE(page.more_after);
  page = orgs_->List("", "org_2", 4);
  ASSERT_EQ(page.data.size(), 3u);
  EXPECT_EQ(page.data[0].id, "annals");
  EXPECT_EQ(page.data[2].id, "org_1");
  EXPECT_FALSE(page.more_before);
  EXPECT_TRUE(page.more_after);
}

TEST_F(RegistryTest, KeysAuthenticateExpireAndRevoke) {
  ApiKeyCreate c;
  c.name = "writer";
  c.organization_id = "org_acme";
  c.scopes = kScopeEventsWrite;
  c.expires_at = kT0 + 60'000'000;
  c.created_by = "admin";
  auto made = keys_->Create(c);
  ASSERT_TRUE(made.ok());
  const std::string token = made->second;
  auto who = keys_->Authenticate(token);
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  EXPECT_EQ(who->key_id, made->first.id);
  EXPECT_EQ(who->organization_id, "org_acme");
  EXPECT_TRUE(who->Has(kScopeEventsWrite));
  EXPECT_FALSE(who->Has(kScopeEventsRead));

  // The bootstrap key is a platform key with every scope.
  auto admin = keys_->Authenticate("bootstrap-admin-key-0123456789abcdef");
  ASSERT_TRUE(admin.ok());
  EXPECT_TRUE(admin->platform());
  EXPECT_EQ(admin->scopes, kAllScopes);

  // A changed secret, a foreign prefix, junk.
  std::string tampered = token;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  for (const std::string& bad : {tampered, std::string("annals_key_"), std::string(""),
                                 std::string("Bearer x"), token.substr(0, token.size() - 1)}) {
    EXPECT_EQ(keys_->Authenticate(bad).status().code(), Code::kUnauthenticated) << bad;
  }

  // Expiry is exact.
  clock_.Set(kT0 + 60'000'000 - 1);
  EXPECT_TRUE(keys_->Authenticate(token).ok());
  clock_.Set(kT0 + 60'000'000);
  EXPECT_EQ(keys_->Authenticate(token).status().code(), Code::kUnauthenticated);
  clock_.Set(kT0 + 1);

  // Last use is visible at once and durable after a flush.
  EXPECT_EQ(keys_->Get(made->first.id)->last_used_at, kT0 + 60'000'000 - 1);
  ASSERT_TRUE(keys_->FlushLastUsed().ok());
  ASSERT_TRUE(keys_->Revoke(made->first.id).ok());
  EXPECT_EQ(keys_->Authenticate(token).status().code(), Code::kUnauthenticated);
  Open();
  std::optional<ApiKey> k = keys_->Get(made->first.id);
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->last_used_at, kT0 + 60'000'000 - 1);
  EXPECT_EQ(k->revoked_at, kT0 + 1);
  EXPECT_EQ(k->secret_sha256.size(), 32u);
  EXPECT_EQ(keys_->Authenticate(token).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(keys_->Revoke("key_nope").status().code(), Code::kNotFound);
}

TEST_F(RegistryTest, KeyListsFilterByOrganizationAndPage) {
  std::vector<std::string> a_ids;
  for (int i = 0; i < 6; ++i) {
    ApiKeyCreate c;
    c.name = "k" + std::to_string(i);
    c.organization_id = i % 2 == 0 ? "org_a" : "org_b";
    c.scopes = kScopeEventsRead;
    clock_.Advance(1000);  // ids sort by creation time
    auto made = keys_->Create(c);
    ASSERT_TRUE(made.ok());
    if (i % 2 == 0) a_ids.push_back(made->first.id);
  }
  auto page = keys_->List("org_a", "", "", 2);
  ASSERT_EQ(page.data.size(), 2u);
  EXPECT_EQ(page.data[0].id, a_ids[0]);
  EXPECT_TRUE(page.more_after);
  page = keys_->List("org_a", a_ids[1], "", 2);
  ASSERT_EQ(page.data.size(), 1u);
  EXPECT_EQ(page.data[0].id, a_ids[2]);
  EXPECT_FALSE(page.more_after);
  EXPECT_TRUE(page.more_before);
  page = keys_->List("org_a", "", a_ids[2], 5);
  ASSERT_EQ(page.data.size(), 2u);
  EXPECT_TRUE(page.more_after);
  EXPECT_FALSE(page.more_before);
  EXPECT_EQ(keys_->List("", "", "", 100).data.size(), 6u);
}

TEST(RateLimiterTest, TokenBucketPerKey) {
  ManualClock clock(kT0);
  RateLimiter limiter(RateLimitOptions{2.0, 3.0}, &clock);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Acquire("a").ok());
  Status s = limiter.Acquire("a");
  EXPECT_EQ(s.code(), Code::kRateLimited);
  EXPECT_EQ(s.retry_after_seconds(), 1);
  EXPECT_TRUE(limiter.Acquire("b").ok());  // its own bucket
  clock.Advance(499'000);
  EXPECT_FALSE(limiter.Acquire("a").ok());
  clock.Advance(2'000);  // 0.501 s: one token
  EXPECT_TRUE(limiter.Acquire("a").ok());
  EXPECT_FALSE(limiter.Acquire("a").ok());
  clock.Advance(3'600'000'000);  // refills to the burst, not beyond
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Acquire("a").ok());
  EXPECT_FALSE(limiter.Acquire("a").ok());
  RateLimiter unlimited(RateLimitOptions{0, 0}, &clock);
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(unlimited.Acquire("a").ok());
}

}  // namespace
}  // namespace annals
