// [sources] and [retention] configuration: arrays of tables, defaults and every refusal.
#include <gtest/gtest.h>

#include <fstream>

#include "harness.h"
#include "server/config.h"

namespace annals {
namespace {

Result<Config> LoadText(const std::string& text) {
  static int n = 0;
  testing::TempDir dir;
  auto file = dir.path() / ("c" + std::to_string(n++) + ".toml");
  std::ofstream(file) << text;
  ConfigOverrides o;
  o.config_file = file.string();
  return LoadConfig(o, nullptr);
}

const char* kFull = R"(
[sources]
idempotency_window = "21d"

[[sources.postgres]]
name = "platform"
dsn = "host=127.0.0.1 port=5432 dbname=app user=annals"
publication = "annals"
slot = "annals_platform"
organization_column = "organization_id"
snapshot = "never"

[[sources.postgres.tables]]
name = "public.findings"
target_type = "finding"
exclude_columns = ["search_vector"]
mask_columns = ["token"]

[[sources.postgres.tables]]
name = "crm.Projects"

[[sources.dynamodb]]
name = "items"
organization_attribute = "orgId"
actor_attribute = "updatedBy"
type_from_key = "pk"
id_from_keys = ["pk", "sk"]

[[sources.sqs]]
name = "backend"
organization = "org_default"

[[sources.sqs]]
name = "jobs"

[retention]
purge_interval = "15m"
deleted_items_keep_for = "90d"
)";

TEST(ConfigSourcesTest, ParsesEverySourceKind) {
  auto c = LoadText(kFull);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->sources.idempotency_window_us, 21LL * 86400 * 1000000);
  ASSERT_EQ(c->sources.postgres.size(), 1u);
  const PostgresSourceConfig& pg = c->sources.postgres[0];
  EXPECT_EQ(pg.name, "platform");
  EXPECT_EQ(pg.publication, "annals");
  EXPECT_EQ(pg.slot, "annals_platform");
  EXPECT_EQ(pg.organization_column, "organization_id");
  EXPECT_EQ(pg.snapshot, "never");
  ASSERT_EQ(pg.tables.size(), 2u);
  EXPECT_EQ(pg.tables[0].target_type, "finding");
  EXPECT_EQ(pg.tables[0].exclude_columns, std::vector<std::string>{"search_vector"});
  EXPECT_EQ(pg.tables[0].mask_columns, std::vector<std::string>{"token"});
  EXPECT_EQ(pg.tables[1].target_type, "projects");  // default: the table name, lower-cased
  ASSERT_EQ(c->sources.dynamodb.size(), 1u);
  EXPECT_EQ(c->sources.dynamodb[0].type_from_key, "pk");
  EXPECT_EQ(c->sources.dynamodb[0].id_from_keys, (std::vector<std::string>{"pk", "sk"}));
  ASSERT_EQ(c->sources.sqs.size(), 2u);
  EXPECT_EQ(c->sources.sqs[0].organization, "org_default");
  EXPECT_EQ(c->retention.purge_interval_us, 15LL * 60 * 1000000);
  EXPECT_EQ(c->retention.deleted_items_keep_for_us, 90LL * 86400 * 1000000);
}

TEST(ConfigSourcesTest, Defaults) {
  auto c = LoadConfig({}, nullptr);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->sources.postgres.empty());
  EXPECT_EQ(c->sources.idempotency_window_us, 14LL * 86400 * 1000000);
  EXPECT_EQ(c->retention.purge_interval_us, 3600LL * 1000000);
  EXPECT_EQ(c->retention.deleted_items_keep_for_us, 180LL * 86400 * 1000000);
  auto p = LoadText(R"(
[[sources.postgres]]
name = "p"
dsn = "dbname=app"
publication = "pub"
slot = "s"
organization = "org_a"
[[sources.postgres.tables]]
name = "t"
)");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->sources.postgres[0].snapshot, "initial");
}

TEST(ConfigSourcesTest, RefusesBadSources) {
  const std::string pg_head =
      "[[sources.postgres]]\nname = \"p\"\ndsn = \"dbname=app\"\npublication = \"pub\"\n"
      "slot = \"s\"\n";
  const std::string table = "[[sources.postgres.tables]]\nname = \"t\"\n";
  struct Case {
    std::string text;
    std::string expect;
  };
  std::vector<Case> cases = {
      {"[sources]\nkafka = 1\n", "sources.kafka: unknown key"},
      {"[sources]\npostgres = \"x\"\n", "must be an array of tables"},
      {pg_head + table, "set exactly one of organization_column and organization"},
      {pg_head + "organization = \"o\"\norganization_column = \"c\"\n" + table,
       "set exactly one of"},
      {pg_head + "organization = \"o\"\n", "at least one [[sources.postgres.tables]]"},
      {pg_head + "organization = \"o\"\nsnapshot = \"sometimes\"\n" + table,
       "sources.postgres[0].snapshot"},
      {pg_head + "organization = \"o\"\ncolour = \"red\"\n" + table,
       "sources.postgres[0].colour: unknown key"},
      {pg_head + "organization = \"o\"\n" + table + "mask_columns = [\"a\"]\n"
                                                    "exclude_columns = [\"a\"]\n",
       "both excluded and masked"},
      {pg_head + "organization = \"o\"\n" + table + table, "listed twice"},
      {pg_head + "organization = \"o\"\n[[sources.postgres.tables]]\ntarget_type = \"x\"\n",
       "sources.postgres[0].tables[0].name: required"},
      {"[[sources.postgres]]\nname = \"p\"\ndsn = \"d\"\npublication = \"pub\"\n"
       "slot = \"Bad-Slot\"\norganization = \"o\"\n" + table,
       "replication slot names"},
      {"[[sources.postgres]]\ndsn = \"d\"\npublication = \"pub\"\nslot = \"s\"\n"
       "organization = \"o\"\n" + table,
       "sources.postgres[0].name: required"},
      {"[[sources.sqs]]\nname = \"a\"\n[[sources.sqs]]\nname = \"a\"\n", "'a' is used twice"},
      {"[[sources.sqs]]\nname = \"a b\"\n", "sources.sqs[0].name"},
      {"[[sources.dynamodb]]\nname = \"d\"\norganization = \"o\"\n",
       "set exactly one of target_type and type_from_key"},
      {"[[sources.dynamodb]]\nname = \"d\"\ntarget_type = \"t\"\n",
       "set exactly one of organization_attribute and organization"},
      {"[[sources.dynamodb]]\nname = \"d\"\ntarget_type = \"t\"\norganization = \"o\"\n"
       "id_from_keys = \"pk\"\n",
       "must be an array of strings"},
      {"[sources]\nidempotency_window = \"10m\"\n", "at least 1h"},
      {pg_head + "organization = \"o\"\n" + table + "target_type = \"Finding\"\n",
       "sources.postgres[0].tables[0].target_type: 'Finding' cannot begin an action"},
      {"[[sources.dynamodb]]\nname = \"d\"\norganization = \"o\"\ntarget_type = \"a b\"\n",
       "sources.dynamodb[0].target_type"},
      {"[retention]\npurge_interval = \"0s\"\n", "retention.purge_interval"},
  };
  for (const Case& c : cases) {
    auto r = LoadText(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().error_code(), "invalid_config");
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos)
        << c.text << "\n=> " << r.status().message();
  }
}

TEST(ConfigSourcesTest, RetentionFromEnvironment) {
  std::vector<std::string> env_s = {"ANNALS_RETENTION_PURGE_INTERVAL=2m"};
  std::vector<char*> env;
  for (auto& s : env_s) env.push_back(s.data());
  env.push_back(nullptr);
  auto c = LoadConfig({}, env.data());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->retention.purge_interval_us, 120LL * 1000000);
}

}  // namespace
}  // namespace annals
