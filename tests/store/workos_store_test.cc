// The WorkOS-compatible API's durable parts on a real RocksDB with a manual clock: the
// action-schema registry (numbering, persistence, concurrent creates, damaged entries) and
// portal links (signing key kept in the store, expiry, intents, tampering).
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <thread>

#include "common/signed_token.h"
#include "storage/rocksdb/rocks_store.h"
#include "store_test_dir.h"
#include "workos/portal.h"
#include "workos/schema_registry.h"

namespace annals::workos {
namespace {

namespace fs = std::filesystem;
constexpr TimestampUs kT0 = 1764381784123000;

class WorkosStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Open();
  }
  void TearDown() override {
    registry_.reset();
    store_.reset();
  }
  void Open() {
    registry_.reset();
    store_.reset();
    auto s = dir_.OpenStore();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    auto r = SchemaRegistry::Load(store_.get(), &clock_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    registry_ = std::move(r).value();
  }
  static ActionSchema Schema(const std::string& target_type) {
    Result<ActionSchema> s = ParseActionSchema(
        R"({"targets":[{"type":")" + target_type +
        R"(","metadata":{"type":"object","properties":{"cost":{"type":"number"}}}}],)"
        R"("metadata":{"type":"object","properties":{"reason":{"type":"string"}},"required":["reason"]}})");
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : ActionSchema{};
  }

  ::annals::testing::StoreTestDir dir_{"annals-workos-test"};
  ManualClock clock_{kT0};
  std::unique_ptr<RocksStore> store_;
  std::unique_ptr<SchemaRegistry> registry_;
};

TEST_F(WorkosStoreTest, VersionsCountUpPerActionAndSurviveARestart) {
  EXPECT_TRUE(registry_->empty());
  EXPECT_EQ(registry_->Find("doc.viewed"), nullptr);
  auto v1 = registry_->Create("doc.viewed", Schema("doc"));
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  EXPECT_EQ((*v1)->version, 1);
  EXPECT_EQ((*v1)->created_at, kT0);
  clock_.Advance(1000);
  auto v2 = registry_->Create("doc.viewed", Schema("file"));
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ((*v2)->version, 2);
  auto other = registry_->Create("user.signed_in", Schema("user"));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->version, 1);
  EXPECT_FALSE(registry_->empty());

  // A reader's snapshot does not change under it.
  std::shared_ptr<const ActionSchemas> before = registry_->Find("doc.viewed");
  ASSERT_TRUE(registry_->Create("doc.viewed", Schema("page")).ok());
  EXPECT_EQ(before->versions.size(), 2u);
  EXPECT_EQ(registry_->Find("doc.viewed")->versions.size(), 3u);

  Open();
  std::shared_ptr<const ActionSchemas> doc = registry_->Find("doc.viewed");
  ASSERT_NE(doc, nullptr);
  ASSERT_EQ(doc->versions.size(), 3u);
  EXPECT_EQ(doc->latest().version, 3);
  EXPECT_EQ(doc->Find(1)->schema, Schema("doc"));
  EXPECT_EQ(doc->Find(1)->created_at, kT0);
  EXPECT_EQ(doc->Find(2)->schema, Schema("file"));
  EXPECT_EQ(doc->Find(2)->created_at, kT0 + 1000);
  EXPECT_EQ(doc->Find(3)->schema, Schema("page"));
  EXPECT_EQ(doc->Find(0), nullptr);
  EXPECT_EQ(doc->Find(4), nullptr);
  std::vector<std::string> names;
  for (const auto& a : registry_->List()) names.push_back(a->action);
  EXPECT_EQ(names, (std::vector<std::string>{"doc.viewed", "user.signed_in"}));
  // The next version continues after a restart.
  auto v4 = registry_->Create("doc.viewed", Schema("doc"));
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ((*v4)->version, 4);
}

// A key replays its version within the window, across a restart, and is forgotten after it
// (its record removed by a later create).
TEST_F(WorkosStoreTest, IdempotentCreatesReplayWithinTheWindowOnly) {
  constexpr TimestampUs kWindow = 3600LL * 1000000;
  auto first = registry_->CreateIdempotent("doc.viewed", Schema("doc"), "k1", "d1", kWindow);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->replayed);
  EXPECT_EQ(first->version->version, 1);

  clock_.Advance(kWindow - 1);
  Open();
  auto again = registry_->CreateIdempotent("doc.viewed", Schema("doc"), "k1", "d1", kWindow);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->version->version, 1);
  EXPECT_EQ(again->version->created_at, kT0);
  auto other = registry_->CreateIdempotent("doc.viewed", Schema("doc"), "k1", "d2", kWindow);
  EXPECT_EQ(other.status().code(), Code::kConflict);
  EXPECT_EQ(other.status().error_code(), "idempotency_conflict");
  EXPECT_EQ(registry_->Find("doc.viewed")->versions.size(), 1u);

  // Once the window has passed the key makes a new version, and the old record goes.
  clock_.Advance(1);
  auto after = registry_->CreateIdempotent("doc.viewed", Schema("doc"), "k2", "d1", kWindow);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->version->version, 2);
  EXPECT_EQ(store_->ListMeta("workos/schema_idempotency/", "", 0)->size(), 1u);
  auto reused = registry_->CreateIdempotent("doc.viewed", Schema("file"), "k1", "d3", kWindow);
  ASSERT_TRUE(reused.ok()) << reused.status().ToString();
  EXPECT_FALSE(reused->replayed);
  EXPECT_EQ(reused->version->version, 3);
  // Idempotency records are not schemas: the registry still loads.
  Open();
  EXPECT_EQ(registry_->Find("doc.viewed")->versions.size(), 3u);
}

TEST_F(WorkosStoreTest, ConcurrentCreatesNeverRepeatOrSkipAVersion) {
  constexpr int kThreads = 8;
  constexpr int kEach = 10;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<int> versions;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        auto v = registry_->Create("doc.viewed", Schema("doc"));
        ASSERT_TRUE(v.ok());
        std::lock_guard lock(mu);
        EXPECT_TRUE(versions.insert((*v)->version).second) << (*v)->version;
        // Readers meanwhile always see versions 1..N without gaps.
        auto seen = registry_->Find("doc.viewed");
        for (size_t k = 0; k < seen->versions.size(); ++k) {
          EXPECT_EQ(seen->versions[k]->version, static_cast<int>(k + 1));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(versions.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(*versions.begin(), 1);
  EXPECT_EQ(*versions.rbegin(), kThreads * kEach);
  Open();
  EXPECT_EQ(registry_->Find("doc.viewed")->versions.size(), static_cast<size_t>(kThreads * kEach));
}

TEST_F(WorkosStoreTest, DamagedEntriesRefuseToLoad) {
  ASSERT_TRUE(registry_->Create("doc.viewed", Schema("doc")).ok());
  EXPECT_EQ(SchemaMetaName("doc.viewed", 1), "workos/schemas/doc.viewed/0000000001");
  registry_.reset();
  // A gap in the versions.
  ASSERT_TRUE(store_->PutMeta(SchemaMetaName("doc.viewed", 3), "{}").ok());
  auto gap = SchemaRegistry::Load(store_.get(), &clock_);
  ASSERT_FALSE(gap.ok());
  EXPECT_EQ(gap.status().error_code(), "corrupt_schema");
  // A value that is not a stored schema.
  ASSERT_TRUE(store_->PutMeta(SchemaMetaName("doc.viewed", 2), R"({"created_at":"x","schema":{}})").ok());
  auto bad = SchemaRegistry::Load(store_.get(), &clock_);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInternal);
  EXPECT_EQ(bad.status().error_code(), "corrupt_schema");
}

TEST_F(WorkosStoreTest, PortalLinksAreSignedPerIntentAndExpire) {
  PortalLinks portal(store_.get(), &clock_, PortalOptions{"https://audit.example.com", 300 * 1000000LL});
  EXPECT_TRUE(PortalLinks::SupportedIntent("audit_logs"));
  EXPECT_TRUE(PortalLinks::SupportedIntent("log_streams"));
  EXPECT_FALSE(PortalLinks::SupportedIntent("sso"));
  EXPECT_TRUE(PortalLinks::KnownWorkosIntent("sso"));
  EXPECT_FALSE(PortalLinks::KnownWorkosIntent("nope"));

  // No key until the first link.
  EXPECT_FALSE(store_->GetMeta(kPortalKeyMeta)->has_value());
  Result<PortalLink> link = portal.Generate("org_1", "audit_logs");
  ASSERT_TRUE(link.ok()) << link.status().ToString();
  EXPECT_EQ(link->link, "https://audit.example.com/portal/audit_logs?token=" + link->token);
  EXPECT_EQ(link->expires_at, kT0 + 300 * 1000000LL);
  std::optional<std::string> key = *store_->GetMeta(kPortalKeyMeta);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->size(), kTokenKeyBytes);

  Result<PortalGrant> grant = portal.Verify("audit_logs", link->token);
  ASSERT_TRUE(grant.ok()) << grant.status().ToString();
  EXPECT_EQ(grant->organization_id, "org_1");
  EXPECT_EQ(grant->intent, "audit_logs");
  EXPECT_EQ(grant->expires_at, link->expires_at);

  Result<PortalGrant> wrong = portal.Verify("log_streams", link->token);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(wrong.status().error_code(), "wrong_intent");

  std::string tampered = link->token;
  tampered[3] = tampered[3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(portal.Verify("audit_logs", tampered).status().error_code(), "invalid_token");
  EXPECT_EQ(portal.Verify("audit_logs", "").status().error_code(), "invalid_token");

  // Unsupported intents get no link.
  Result<PortalLink> sso = portal.Generate("org_1", "sso");
  ASSERT_FALSE(sso.ok());
  EXPECT_EQ(sso.status().code(), Code::kInvalidArgument);

  // Expiry, by the injected clock.
  clock_.Advance(300 * 1000000LL - 1);
  EXPECT_TRUE(portal.Verify("audit_logs", link->token).ok());
  clock_.Advance(1);
  EXPECT_EQ(portal.Verify("audit_logs", link->token).status().error_code(), "token_expired");

  // The key is the store's: another instance (a restart) accepts the same links, and the
  // base URL can be changed once the listener is known.
  clock_.Set(kT0);
  PortalLinks again(store_.get(), &clock_, PortalOptions{"", 60 * 1000000LL});
  EXPECT_TRUE(again.Verify("audit_logs", link->token).ok());
  again.SetPublicUrl("http://127.0.0.1:4242");
  Result<PortalLink> second = again.Generate("org_2", "log_streams");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->link.rfind("http://127.0.0.1:4242/portal/log_streams?token=", 0), 0u);
  EXPECT_EQ(portal.Verify("log_streams", second->token)->organization_id, "org_2");
}

}  // namespace
}  // namespace annals::workos
