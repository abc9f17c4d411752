// The administrative CLI against a real server: annals orgs and keys.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "harness.h"

namespace annals::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

json::value Parse(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << text;
  return ec ? json::value() : v;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string Str(const json::value& v, const char* key) {
  const auto* x = v.is_object() ? v.as_object().if_contains(key) : nullptr;
  return x != nullptr && x->is_string() ? std::string(x->as_string()) : "";
}

// An error is one line on stderr, starting with "annals: ".
void ExpectOneLineError(const CommandResult& r, const std::string& contains) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("annals: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(contains), std::string::npos) << r.err;
}

class CliAdminTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start(dir_.path())) << server_.StderrText(); }

  std::map<std::string, std::string> Env(const std::string& key = kAdminKey) const {
    return {{"ANNALS_SERVER", server_.url()}, {"ANNALS_KEY", key}};
  }

  CommandResult Annals(std::vector<std::string> args, const std::string& key = kAdminKey) {
    args.insert(args.begin(), "annals");
    return RunCommand(args, Env(key));
  }

  ClientResponse Call(const std::string& method, const std::string& path,
                      const std::string& body = "", const std::string& key = kAdminKey) {
    HttpClient c(server_.url(), key);
    auto r = c.Send(method, path, body, body.empty() ? "" : "application/json");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ClientResponse{};
  }

  // Creates a key over HTTP and returns its secret.
  std::string MakeKey(const std::string& body) {
    auto r = Call("POST", "/v1/api-keys", body);
    EXPECT_EQ(r.status, 201) << r.body;
    return Str(Parse(r.body), "key");
  }

  TempDir dir_;
  ServerProcess server_;
};

// ---------------------------------------------------------------------------------------
// annals orgs

TEST_F(CliAdminTest, OrgsCreateListGetUpdate) {
  auto created = Annals({"orgs", "create", "--id", "org_cli", "--name", "Acme Corp",
                         "--external-id", "crm-7"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_NE(created.out.find("org_cli"), std::string::npos) << created.out;
  EXPECT_NE(created.out.find("Acme Corp"), std::string::npos) << created.out;
  EXPECT_NE(created.out.find("crm-7"), std::string::npos) << created.out;

  auto generated = Annals({"orgs", "create", "--name", "Generated", "--json"});
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  ASSERT_EQ(Lines(generated.out).size(), 1u);
  const json::value gen = Parse(generated.out);
  const std::string gen_id = Str(gen, "id");
  EXPECT_TRUE(std::regex_match(gen_id, std::regex("org_[0-9A-Z]{26}"))) << gen_id;
  EXPECT_TRUE(gen.at("external_id").is_null());

  // The table: a header and one row per organization (the reserved one included).
  auto table = Annals({"orgs"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  std::vector<std::string> rows = Lines(table.out);
  ASSERT_EQ(rows.size(), 4u) << table.out;
  EXPECT_TRUE(std::regex_search(rows[0], std::regex("^ID +NAME +EXTERNAL_ID +CREATED_AT$")))
      << rows[0];
  auto row_of = [&](const std::string& id) {
    for (const auto& r : rows) {
      if (r.rfind(id + " ", 0) == 0) return r;
    }
    return std::string();
  };
  EXPECT_TRUE(std::regex_search(
      row_of("org_cli"),
      std::regex("^org_cli +Acme Corp +crm-7 +\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$")))
      << table.out;
  EXPECT_FALSE(row_of("annals").empty()) << table.out;
  EXPECT_TRUE(std::regex_search(row_of(gen_id), std::regex(" Generated +- +\\d{4}-")))
      << table.out;

  // --json: one organization per line, exactly what the API lists.
  auto listed = Annals({"orgs", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  std::set<std::string> ids;
  for (const auto& line : Lines(listed.out)) ids.insert(Str(Parse(line), "id"));
  EXPECT_EQ(ids, (std::set<std::string>{"annals", "org_cli", gen_id}));

  auto got = Annals({"orgs", "get", "org_cli", "--json"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(Str(Parse(got.out), "name"), "Acme Corp");
  EXPECT_EQ(Str(Parse(got.out), "external_id"), "crm-7");

  auto renamed = Annals({"orgs", "update", "org_cli", "--name", "Acme Inc", "--clear-external-id"});
  ASSERT_EQ(renamed.exit_code, 0) << renamed.err;
  EXPECT_TRUE(std::regex_search(renamed.out, std::regex("(^|\\n)name +Acme Inc\\n"))) << renamed.out;
  EXPECT_TRUE(std::regex_search(renamed.out, std::regex("(^|\\n)external_id +-\\n"))) << renamed.out;
  auto api = Call("GET", "/v1/orgs/org_cli");
  EXPECT_EQ(Str(Parse(api.body), "name"), "Acme Inc");
  EXPECT_TRUE(Parse(api.body).at("external_id").is_null()) << api.body;

  auto external = Annals({"orgs", "update", "org_cli", "--external-id", "crm-8", "--json"});
  ASSERT_EQ(external.exit_code, 0) << external.err;
  EXPECT_EQ(Str(Parse(external.out), "external_id"), "crm-8");
  EXPECT_EQ(Str(Parse(external.out), "name"), "Acme Inc");

  // Ids are path segments, percent-encoded: this one names no organization, no other path.
  auto odd = Annals({"orgs", "get", "a/b?c"});
  ExpectOneLineError(odd, "no organization with id 'a/b?c'");
  auto dotted = Annals({"orgs", "create", "--id", "org:a@b.c-d", "--json"});
  ASSERT_EQ(dotted.exit_code, 0) << dotted.err;
  auto dotted_get = Annals({"orgs", "get", "org:a@b.c-d", "--json"});
  ASSERT_EQ(dotted_get.exit_code, 0) << dotted_get.err;
  EXPECT_EQ(Str(Parse(dotted_get.out), "id"), "org:a@b.c-d");
}

TEST_F(CliAdminTest, OrgsListFollowsEveryPage) {
  // More organizations than one page holds (1000), created concurrently.
  constexpr int kOrgs = 1010;
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> creators;
  for (int t = 0; t < 4; ++t) {
    creators.emplace_back([&] {
      HttpClient c(server_.url(), kAdminKey);
      for (int i = next++; i < kOrgs; i = next++) {
        char id[32];
        std::snprintf(id, sizeof id, "org_p%04d", i);
        auto r = c.Send("POST", "/v1/orgs", std::string("{\"id\":\"") + id + "\"}",
                        "application/json");
        if (!r.ok() || r->status != 201) ++failed;
      }
    });
  }
  for (auto& t : creators) t.join();
  ASSERT_EQ(failed.load(), 0);
  auto listed = Annals({"orgs", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  std::vector<std::string> ids;
  for (const auto& line : Lines(listed.out)) ids.push_back(Str(Parse(line), "id"));
  ASSERT_EQ(ids.size(), kOrgs + 1u);  // and "annals"
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  auto table = Annals({"orgs"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(Lines(table.out).size(), kOrgs + 2u);  // the header too
}

// ---------------------------------------------------------------------------------------
// annals keys

TEST_F(CliAdminTest, KeysCreateShowsTheSecretOnceAndRevokeStopsIt) {
  ASSERT_EQ(Annals({"orgs", "create", "--id", "org_k"}).exit_code, 0);
  auto created = Annals({"keys", "create", "--name", "ci writer", "--org", "org_k", "--scope",
                         "events:write", "--scope", "events:read"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_NE(created.out.find("cannot be shown again"), std::string::npos) << created.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(created.out, m,
                                std::regex("\\n  (annals_(key_[0-9A-Z]{26})_[0-9a-f]{48})\\n")))
      << created.out;
  const std::string secret = m[1].str(), id = m[2].str();
  EXPECT_TRUE(std::regex_search(created.out, std::regex("(^|\\n)id +" + id + "\\n")));
  EXPECT_TRUE(std::regex_search(created.out,
                                std::regex("(^|\\n)scopes +events:write,events:read\\n")))
      << created.out;
  EXPECT_TRUE(std::regex_search(created.out, std::regex("(^|\\n)organization_id +org_k\\n")));
  const std::string secret_tail = secret.substr(secret.size() - 48);

  // The printed secret works, for the CLI and for the API.
  auto ingest = RunCommand({"annals", "ingest", "-", "--quiet"}, Env(secret),
                           EventJson("org_k", "doc.created", "2026-03-01T00:00:00Z", "u1",
                                     {{"doc", "d1"}}) + "\n");
  EXPECT_EQ(ingest.exit_code, 0) << ingest.err;
  auto events = RunCommand({"annals", "events", "--json"}, Env(secret));
  ASSERT_EQ(events.exit_code, 0) << events.err;
  EXPECT_NE(events.out.find("doc.created"), std::string::npos) << events.out;

  // It never appears again: not in the list, not when shown.
  auto table = Annals({"keys"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_TRUE(std::regex_search(
      table.out,
      std::regex("^ID +NAME +KIND +ORGANIZATION +SCOPES +CREATED +EXPIRES +LAST USED +REVOKED\\n")))
      << table.out;
  EXPECT_TRUE(std::regex_search(
      table.out, std::regex("\\n" + id + " +ci writer +organization +org_k +events:write,events:read "
                            "+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ +- +\\d{4}-[^ ]+Z +-\\n")))
      << table.out;
  auto listed = Annals({"keys", "--org", "org_k", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  ASSERT_EQ(Lines(listed.out).size(), 1u) << listed.out;
  EXPECT_EQ(Str(Parse(listed.out), "id"), id);
  EXPECT_FALSE(Parse(listed.out).as_object().contains("key"));
  auto shown = Annals({"keys", "get", id});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_TRUE(std::regex_search(shown.out, std::regex("(^|\\n)name +ci writer\\n"))) << shown.out;
  for (const auto* out : {&table.out, &listed.out, &shown.out}) {
    EXPECT_EQ(out->find(secret_tail), std::string::npos) << *out;
  }

  // --json on creation prints the whole response, secret included; platform keys too.
  auto platform = Annals({"keys", "create", "--name", "reader", "--platform", "--scope",
                          "events:read", "--expires-at", "2999-01-01T00:00:00Z", "--json"});
  ASSERT_EQ(platform.exit_code, 0) << platform.err;
  const json::value p = Parse(platform.out);
  EXPECT_EQ(Str(p, "kind"), "platform");
  EXPECT_TRUE(p.at("organization_id").is_null());
  EXPECT_EQ(Str(p, "expires_at"), "2999-01-01T00:00:00.000000Z");
  EXPECT_EQ(Call("GET", "/v1/events?organization_id=org_k", "", Str(p, "key")).status, 200);

  // Revoked, the key is refused at once.
  auto revoked = Annals({"keys", "revoke", id});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_NE(revoked.out.find("revoked API key " + id + " (ci writer) at 20"), std::string::npos)
      << revoked.out;
  EXPECT_EQ(Call("GET", "/v1/events?organization_id=org_k", "", secret).status, 401);
  ExpectOneLineError(RunCommand({"annals", "events"}, Env(secret)), "401");
  auto after = Annals({"keys", "get", id, "--json"});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_FALSE(Str(Parse(after.out), "revoked_at").empty()) << after.out;
}

// ---------------------------------------------------------------------------------------
// Usage and server errors

TEST_F(CliAdminTest, UsageErrorsExitTwo) {
  const std::string keys_before = Call("GET", "/v1/api-keys").body;
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"keys", "create", "--name", "x", "--scope", "admin"},  // neither --org nor --platform
           {"keys", "create", "--name", "x", "--org", "o", "--platform", "--scope", "admin"},
           {"keys", "create", "--name", "x", "--org", "o", "--scope", "root"},
           {"keys", "create", "--name", "x", "--org", "o"},
           {"keys", "create", "--org", "o", "--scope", "admin"},
           {"keys", "create", "--name", "x", "--org", "o", "--scope", "admin", "--expires-at",
            "soon"},
           {"keys", "get"},
           {"keys", "revoke"},
           {"keys", "frobnicate"},
           {"orgs", "get"},
           {"orgs", "update", "org_x"},
           {"orgs", "update", "org_x", "--external-id", "a", "--clear-external-id"},
           {"orgs", "create", "--colour", "red"},
       }) {
    auto r = Annals(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.exit_code, 2) << joined << ": " << r.err;
    EXPECT_EQ(Lines(r.err).size(), 1u) << joined << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << joined << ": " << r.out;
  }
  // Nothing reached the server.
  EXPECT_EQ(Parse(Call("GET", "/v1/orgs").body).at("data").as_array().size(), 1u);
  EXPECT_EQ(Call("GET", "/v1/api-keys").body, keys_before);

  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"orgs", "--help"}, {"orgs", "update", "--help"}, {"keys", "create", "--help"}}) {
    auto r = Annals(args);
    EXPECT_EQ(r.exit_code, 0) << args[0];
    EXPECT_NE(r.out.find("--server"), std::string::npos) << r.out;
  }
  EXPECT_NE(Annals({"keys", "create", "--help"}).out.find("--expires-at"), std::string::npos);
}

TEST_F(CliAdminTest, ServerErrorsExitOneWithOneLine) {
  ExpectOneLineError(Annals({"orgs", "get", "org_nope"}), "HTTP 404: no organization with id 'org_nope'");
  ASSERT_EQ(Annals({"orgs", "create", "--id", "org_dup"}).exit_code, 0);
  ExpectOneLineError(Annals({"orgs", "create", "--id", "org_dup"}), "HTTP 409");
  ExpectOneLineError(Annals({"orgs", "create", "--id", "bad/id"}), "HTTP 400");
  ExpectOneLineError(Annals({"orgs", "create", "--id", ""}), "HTTP 400");
  ExpectOneLineError(Annals({"keys", "create", "--name", "x", "--org", "org_missing", "--scope",
                             "admin"}),
                     "HTTP 404");
  ExpectOneLineError(Annals({"keys", "revoke", "key_nope"}), "no API key with id 'key_nope'");
  ExpectOneLineError(Annals({"orgs", "update", "org_nope", "--name", "n"}), "HTTP 404");
  // A key without the admin scope.
  const std::string reader =
      MakeKey(R"({"name":"r","organization_id":"org_dup","scopes":["events:read"]})");
  ExpectOneLineError(Annals({"orgs"}, reader), "HTTP 403");
  ExpectOneLineError(Annals({"keys"}, reader), "HTTP 403");
  ExpectOneLineError(Annals({"orgs"}, "annals_wrong"), "HTTP 401");
  auto down = RunCommand({"annals", "keys", "--server", "http://127.0.0.1:1"}, Env());
  ExpectOneLineError(down, "cannot reach http://127.0.0.1:1");
}

}  // namespace
}  // namespace annals::testing
