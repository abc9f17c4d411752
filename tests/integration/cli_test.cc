// The annals CLI against a real server.
#include <gtest/gtest.h>

#include <fstream>

#include "harness.h"

namespace annals::testing {
namespace {

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start(dir_.path())) << server_.StderrText(); }
  std::map<std::string, std::string> Env() const {
    return {{"ANNALS_SERVER", server_.url()}, {"ANNALS_KEY", kAdminKey}};
  }
  TempDir dir_;
  ServerProcess server_;
};

TEST_F(CliTest, IngestThenEvents) {
  std::string nd;
  for (int i = 0; i < 2500; ++i) {
    // Some lines without an organization mention "organization_id" inside a value; --org
    // must still be applied to them.
    const std::string extra = i % 10 == 0 ? R"("metadata":{"note":"no \"organization_id\" here"})" : "";
    nd += EventJson(i % 2 ? "org_cli" : "", i % 3 ? "doc.edited" : "doc.created",
                    "2026-02-01T00:00:00Z", "u" + std::to_string(i % 4), {{"doc", std::to_string(i)}},
                    extra) +
          "\n";
    if (i == 10) nd += "\n";  // blank lines are skipped
  }
  auto file = dir_.path() / "events.ndjson";
  std::ofstream(file) << nd;
  auto r = RunCommand({"annals", "ingest", file.string(), "--org", "org_cli"}, Env());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("ingested 2500 events"), std::string::npos) << r.err;

  auto table = RunCommand({"annals", "events", "--org", "org_cli", "--action", "doc.created",
                           "--limit", "5"}, Env());
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("OCCURRED_AT"), std::string::npos);
  EXPECT_NE(table.out.find("doc.created"), std::string::npos);
  EXPECT_EQ(table.out.find("doc.edited"), std::string::npos);
  EXPECT_NE(table.err.find("more: --after"), std::string::npos);

  auto all = RunCommand({"annals", "events", "--org", "org_cli", "--json", "--all",
                         "--limit", "1000"}, Env());
  EXPECT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(std::count(all.out.begin(), all.out.end(), '\n'), 2500);

  // From stdin, with a bad line: that batch is refused, the line is named, exit 1.
  std::string bad = EventJson("org_cli", "x.y", "2026-02-01T00:00:00Z", "u", {{"d", "1"}}) + "\n" +
                    EventJson("org_cli", "BAD", "2026-02-01T00:00:00Z", "u", {{"d", "2"}}) + "\n";
  auto refused = RunCommand({"annals", "ingest", "-"}, Env(), bad);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("line 2"), std::string::npos) << refused.err;
}

TEST_F(CliTest, UsageErrorsAndHelp) {
  auto help = RunCommand({"annals", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("serve"), std::string::npos);
  auto sub_help = RunCommand({"annals", "events", "--help"});
  EXPECT_EQ(sub_help.exit_code, 0);
  EXPECT_NE(sub_help.out.find("--target-type"), std::string::npos);
  EXPECT_EQ(RunCommand({"annals", "frobnicate"}).exit_code, 2);
  EXPECT_EQ(RunCommand({"annals", "events", "--limit", "0"}, Env()).exit_code, 2);
  auto no_key = RunCommand({"annals", "events", "--org", "o"}, {{"ANNALS_SERVER", server_.url()}});
  EXPECT_EQ(no_key.exit_code, 1);
  EXPECT_NE(no_key.err.find("401"), std::string::npos) << no_key.err;
  auto down = RunCommand({"annals", "events", "--org", "o", "--server", "http://127.0.0.1:1"},
                         Env());
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_NE(down.err.find("cannot reach"), std::string::npos) << down.err;
}

TEST(ServeTest, BadConfigurationIsAUsageError) {
  TempDir dir;
  auto bad_listen = RunCommand({"annals", "serve", "--data", dir.path().string(), "--listen",
                                "nonsense"});
  EXPECT_EQ(bad_listen.exit_code, 2);
  EXPECT_NE(bad_listen.err.find("server.listen"), std::string::npos) << bad_listen.err;
  auto cfg = dir.path() / "annals.toml";
  std::ofstream(cfg) << "[server]\nlisten = \"127.0.0.1:0\"\ncolour = \"red\"\n";
  auto unknown = RunCommand({"annals", "serve", "--config", cfg.string()});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("server.colour"), std::string::npos) << unknown.err;
  auto short_key = RunCommand({"annals", "serve", "--data", dir.path().string(), "--listen",
                               "127.0.0.1:0"},
                              {{"ANNALS_ADMIN_KEY", "short"}});
  EXPECT_EQ(short_key.exit_code, 1);
  EXPECT_NE(short_key.err.find("32 characters"), std::string::npos) << short_key.err;
}

TEST(ServeTest, SecondServerOnTheSameDataDirIsRefused) {
  TempDir dir;
  ServerProcess first;
  ASSERT_TRUE(first.Start(dir.path())) << first.StderrText();
  auto second = RunCommand({"annals", "serve", "--data", dir.path().string(), "--listen",
                            "127.0.0.1:0"},
                           {{"ANNALS_ADMIN_KEY", kAdminKey}});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("another"), std::string::npos) << second.err;
  EXPECT_EQ(first.Stop(), 0);
}

}  // namespace
}  // namespace annals::testing
