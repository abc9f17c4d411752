// The administrative CLI against a real server: annals orgs, keys, backup and tail.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "harness.h"

extern char** environ;

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
           {"tail", "--bogus"},
           {"backup"},
           {"backup", "--to", "relative/dir"},
           {"backup", "--data", "/tmp/x", "--to", "/tmp/y", "--server", "http://127.0.0.1:1"},
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
           {"orgs", "--help"}, {"orgs", "update", "--help"}, {"keys", "create", "--help"},
           {"tail", "--help"}, {"backup", "--help"}}) {
    auto r = Annals(args);
    EXPECT_EQ(r.exit_code, 0) << args[0];
    EXPECT_NE(r.out.find("--server"), std::string::npos) << r.out;
  }
  EXPECT_NE(Annals({"keys", "create", "--help"}).out.find("--expires-at"), std::string::npos);
  EXPECT_NE(Annals({"backup", "--help"}).out.find("--data"), std::string::npos);
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

// ---------------------------------------------------------------------------------------
// annals backup

// Every event of an organization, oldest first, from a server.
std::vector<json::value> AllEvents(const std::string& url, const std::string& org) {
  std::vector<json::value> out;
  HttpClient c(url, kAdminKey);
  std::string after;
  for (;;) {
    auto r = c.Send("GET", "/v1/events?order=asc&limit=1000&organization_id=" + org +
                               (after.empty() ? "" : "&after=" + c.Escape(after)));
    EXPECT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : r.status().ToString());
    if (!r.ok() || r->status != 200) return out;
    const json::value page = Parse(r->body);
    for (const auto& e : page.at("data").as_array()) out.push_back(e);
    const auto& next = page.at("list_metadata").at("after");
    if (!next.is_string()) return out;
    after = std::string(next.as_string());
  }
}

TEST_F(CliAdminTest, OnlineBackupWhileIngestingServesEveryAcknowledgedEvent) {
  // Another client ingests batches all along; each acknowledged batch is recorded.
  constexpr int kBatch = 25;
  std::mutex mu;
  std::vector<std::vector<std::string>> acked;  // ids of each acknowledged batch
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread ingester([&] {
    HttpClient c(server_.url(), kAdminKey);
    for (int b = 0; !stop.load(); ++b) {
      std::string body;
      for (int i = 0; i < kBatch; ++i) {
        body += EventJson("org_b", "doc.updated", "2026-03-01T00:00:00Z", "u" + std::to_string(i),
                          {{"doc", std::to_string(b)}}) +
                "\n";
      }
      auto r = c.Send("POST", "/v1/events", body, "application/x-ndjson");
      if (!r.ok() || r->status != 201) {
        ++failures;
        continue;
      }
      std::vector<std::string> ids;
      const json::value answer = Parse(r->body);
      for (const auto& e : answer.at("data").as_array()) ids.push_back(Str(e, "id"));
      std::lock_guard lock(mu);
      acked.push_back(std::move(ids));
    }
  });
  auto acked_batches = [&] {
    std::lock_guard lock(mu);
    return acked.size();
  };
  while (acked_batches() < 20) std::this_thread::sleep_for(std::chrono::milliseconds(10));

  const fs::path to = dir_.path() / "backup";
  std::set<std::string> before;  // acknowledged before the backup started
  {
    std::lock_guard lock(mu);
    for (const auto& batch : acked) before.insert(batch.begin(), batch.end());
  }
  auto backup = Annals({"backup", "--to", to.string(), "--json"});
  const size_t batches_at_end = acked_batches();
  while (acked_batches() < batches_at_end + 5) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  ingester.join();
  ASSERT_EQ(backup.exit_code, 0) << backup.err;
  EXPECT_EQ(failures.load(), 0);

  const json::value result = Parse(backup.out);
  EXPECT_EQ(Str(result, "path"), to.string());
  EXPECT_GT(result.at("bytes").to_number<uint64_t>(), 10000u);
  EXPECT_TRUE(std::regex_match(Str(result, "created_at"),
                               std::regex("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z")));
  const uint64_t last_position = result.at("last_position").to_number<uint64_t>();
  EXPECT_GE(last_position, before.size());
  // Only the owner may read the backup; it holds the store and nothing else.
  struct stat st = {};
  ASSERT_EQ(::stat(to.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(to)) entries.push_back(e.path().filename());
  EXPECT_EQ(entries, std::vector<std::string>{"store"});

  // The backup is meta-audited in the reserved organization.
  bool audited = false;
  for (const auto& e : AllEvents(server_.url(), "annals")) {
    if (Str(e, "action") == "annals.backup.created") {
      audited = true;
      EXPECT_EQ(e.at("targets").at(0).at("type").as_string(), "backup");
      EXPECT_EQ(e.at("targets").at(0).at("id").as_string(), to.string());
      EXPECT_EQ(e.at("metadata").at("last_position").to_number<uint64_t>(), last_position);
    }
  }
  EXPECT_TRUE(audited);

  // A second server starts from the copy, with the same admin key (its digest is in the
  // store), and serves every event acknowledged before the backup, and whole batches only.
  ServerProcess copy;
  ASSERT_TRUE(copy.Start(to, {}, {})) << copy.StderrText();
  EXPECT_FALSE(fs::exists(to / "admin.key"));  // no new admin key was made
  const std::vector<json::value> served = AllEvents(copy.url(), "org_b");
  std::set<std::string> served_ids;
  for (size_t i = 0; i < served.size(); ++i) {
    served_ids.insert(Str(served[i], "id"));
    EXPECT_EQ(served[i].at("seq").to_number<uint64_t>(), i + 1) << "seqs are gap-free";
  }
  for (const auto& id : before) EXPECT_TRUE(served_ids.count(id)) << id;
  size_t whole = 0;
  for (const auto& batch : acked) {
    const size_t present = std::count_if(batch.begin(), batch.end(),
                                         [&](const std::string& id) { return served_ids.count(id); });
    EXPECT_TRUE(present == 0 || present == batch.size()) << "a torn batch: " << present;
    whole += present == batch.size();
  }
  EXPECT_EQ(whole * kBatch, served.size());  // nothing but acknowledged batches
  EXPECT_LT(served.size(), acked.size() * kBatch);  // the ingest went on after the copy
  EXPECT_EQ(copy.Stop(), 0);
}

TEST_F(CliAdminTest, BackupIsRefusedForOrganizationKeysAndExistingDirectories) {
  ASSERT_EQ(Annals({"orgs", "create", "--id", "org_a"}).exit_code, 0);
  const std::string org_admin =
      MakeKey(R"({"name":"a","organization_id":"org_a","scopes":["admin","events:read"]})");
  const std::string platform_reader =
      MakeKey(R"({"name":"p","kind":"platform","scopes":["events:read"]})");
  const fs::path to = dir_.path() / "refused";
  ExpectOneLineError(Annals({"backup", "--to", to.string()}, org_admin), "HTTP 403");
  ExpectOneLineError(Annals({"backup", "--to", to.string()}, platform_reader), "HTTP 403");
  EXPECT_FALSE(fs::exists(to));

  fs::create_directories(dir_.path() / "existing");
  auto existing = Annals({"backup", "--to", (dir_.path() / "existing").string()});
  ExpectOneLineError(existing, "already exists");
  EXPECT_NE(existing.err.find("HTTP 400"), std::string::npos) << existing.err;
  EXPECT_TRUE(fs::is_empty(dir_.path() / "existing"));
  ExpectOneLineError(Annals({"backup", "--to", (dir_.path() / "no" / "such").string()}),
                     "the parent directory of");

  // The API's answers name the field.
  for (const std::string& body :
       {std::string("{\"to\":\"relative/dir\"}"),
        "{\"to\":\"" + (dir_.path() / "existing").string() + "\"}", std::string("{}"),
        std::string("{\"to\":7}"), std::string("{\"to\":\"/tmp/x\",\"extra\":1}")}) {
    auto r = Call("POST", "/v1/backup", body);
    EXPECT_EQ(r.status, 400) << body << " -> " << r.body;
    const std::string want = body.find("extra") != std::string::npos ? "/extra" : "/to";
    EXPECT_NE(r.body.find("\"path\":\"" + want + "\""), std::string::npos) << r.body;
  }
}

TEST(CliBackupTest, OfflineBackupOfADataDirectoryNoServerHolds) {
  TempDir dir;
  const fs::path data = dir.path() / "data";
  ServerProcess server;
  // No ANNALS_ADMIN_KEY: the server makes one and saves it in data/admin.key.
  ASSERT_TRUE(server.Start(data, {}, {{"ANNALS_ORGS_AUTO_CREATE", "true"}})) << server.StderrText();
  std::string admin_key;
  std::getline(std::ifstream(data / "admin.key"), admin_key);
  ASSERT_FALSE(admin_key.empty());
  std::string nd;
  for (int i = 0; i < 300; ++i) {
    nd += EventJson("org_off", "doc.created", "2026-03-01T00:00:00Z", "u", {{"doc", std::to_string(i)}}) + "\n";
  }
  auto ingest = RunCommand({"annals", "ingest", "-", "--quiet"},
                           {{"ANNALS_SERVER", server.url()}, {"ANNALS_KEY", admin_key}}, nd);
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;

  // While the server holds the data directory, the offline form says where to go instead.
  const fs::path to = dir.path() / "copy";
  auto busy = RunCommand({"annals", "backup", "--data", data.string(), "--to", to.string()});
  ExpectOneLineError(busy, "the data directory is in use by a running server; run `annals "
                           "backup --to " + to.string() + "` against it instead");
  EXPECT_FALSE(fs::exists(to));
  ASSERT_EQ(server.Stop(), 0);

  auto r = RunCommand({"annals", "backup", "--data", data.string(), "--to", to.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("backup written to " + to.string()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("annals serve --data " + to.string()), std::string::npos) << r.out;
  std::string copied_key;
  std::getline(std::ifstream(to / "admin.key"), copied_key);
  EXPECT_EQ(copied_key, admin_key);
  struct stat st = {};
  ASSERT_EQ(::stat((to / "admin.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Refusals: the target exists; no store in the data directory.
  ExpectOneLineError(RunCommand({"annals", "backup", "--data", data.string(), "--to", to.string(),
                                 "--json"}),
                     "already exists");
  ExpectOneLineError(RunCommand({"annals", "backup", "--data", (dir.path() / "none").string(),
                                 "--to", (dir.path() / "copy2").string()}),
                     "no annals store");
  EXPECT_FALSE(fs::exists(dir.path() / "copy2"));

  // The copy runs as a data directory with the same admin key and every event.
  ServerProcess restored;
  ASSERT_TRUE(restored.Start(to, {}, {})) << restored.StderrText();
  HttpClient c(restored.url(), admin_key);
  auto page = c.Send("GET", "/v1/events?organization_id=org_off&limit=1000");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->status, 200) << page->body;
  EXPECT_EQ(Parse(page->body).at("data").as_array().size(), 300u);
  EXPECT_EQ(restored.Stop(), 0);
  // The original is untouched and still starts.
  ASSERT_TRUE(server.Start(data, {}, {})) << server.StderrText();
  EXPECT_EQ(server.Stop(), 0);
}

// ---------------------------------------------------------------------------------------
// annals tail
//
// End to end against the real server below; reconnecting and resuming in detail against a
// scripted SSE endpoint further down.

TEST_F(CliAdminTest, TailAgainstAServerWithoutTheStreamSaysSoAndExitsOne) {
  ExpectOneLineError(Annals({"tail", "--org", "org_unknown_t"}), "no organization with id");
  ExpectOneLineError(RunCommand({"annals", "tail", "--server", "http://127.0.0.1:1"}, Env()),
                     "cannot reach http://127.0.0.1:1");
}

// An HTTP endpoint that answers each connection with the next scripted reply, and records
// every request head it gets.
class ScriptedServer {
 public:
  struct Reply {
    std::string bytes;
    bool hold_open = false;  // keep the connection open after the reply
  };

  explicit ScriptedServer(std::vector<Reply> replies) : replies_(std::move(replies)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen";
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
    for (int fd : held_) ::close(fd);
    ::close(listen_fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    size_t next = 0;
    while (!stop_) {
      pollfd p = {listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        pollfd q = {fd, POLLIN, 0};
        if (::poll(&q, 1, 5000) != 1) break;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard lock(mu_);
        requests_.push_back(head);
      }
      const Reply& reply = replies_[std::min(next++, replies_.size() - 1)];
      (void)!::send(fd, reply.bytes.data(), reply.bytes.size(), MSG_NOSIGNAL);
      if (reply.hold_open) {
        held_.push_back(fd);
      } else {
        ::shutdown(fd, SHUT_RDWR);
        ::close(fd);
      }
    }
  }

  std::vector<Reply> replies_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<int> held_;  // used by the serving thread only, until it is joined
  std::mutex mu_;
  std::vector<std::string> requests_;
};

// A client command that runs while the test reads its output, and is then signalled.
class RunningCommand {
 public:
  RunningCommand(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
    int out[2], err[2];
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    std::vector<std::string> envs;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string(*e).rfind("ANNALS_", 0) != 0) envs.emplace_back(*e);
    }
    for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
    std::vector<std::string> argv = args;
    argv.insert(argv.begin(), ANNALS_BINARY);
    std::vector<char*> cargv, cenv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    for (auto& e : envs) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    EXPECT_EQ(::posix_spawn(&pid_, ANNALS_BINARY, &actions, nullptr, cargv.data(), cenv.data()), 0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
  }
  ~RunningCommand() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_fd_);
    ::close(err_fd_);
  }

  // Reads until stdout holds `lines` lines (or 60 s pass); returns stdout so far.
  std::string WaitForLines(size_t lines) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (static_cast<size_t>(std::count(out_.begin(), out_.end(), '\n')) < lines &&
           std::chrono::steady_clock::now() < deadline) {
      if (!ReadSome(200)) break;
    }
    return out_;
  }

  // Sends `sig`, waits for the exit and returns its code.
  int Signal(int sig) {
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    while (ReadSome(0)) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  // Reads what is there within `ms`; false once both pipes are closed.
  bool ReadSome(int ms) {
    pollfd p[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    if (::poll(p, 2, ms) <= 0) return ms > 0;
    bool open = false;
    char buf[4096];
    for (int i = 0; i < 2; ++i) {
      if (p[i].revents == 0) {
        open = true;
        continue;
      }
      const ssize_t n = ::read(p[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? out_ : err_).append(buf, static_cast<size_t>(n));
        open = true;
      }
    }
    return open;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  std::string out_, err_;
};

std::string SseEvent(const std::string& id, const std::string& json) {
  return "id: " + id + "\nevent: event\ndata: " + json + "\n\n";
}

const char kStreamHead[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    "Connection: close\r\n\r\n";

std::string ErrorReply(int status, const std::string& reason, const std::string& code,
                       const std::string& message) {
  const std::string body =
      "{\"error\":{\"code\":\"" + code + "\",\"message\":\"" + message + "\"}}";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

std::string LastEventId(const std::string& head) {
  std::smatch m;
  return std::regex_search(head, m, std::regex("\\r\\nLast-Event-ID: ([^\\r]*)\\r\\n"))
             ? m[1].str()
             : "";
}

TEST(CliTailTest, ReconnectsAfterDropsAndServerErrorsResumingAfterTheLastEvent) {
  const std::string e1 = EventJson("org_t", "doc.created", "2026-03-01T00:00:01.000000Z", "u1", {{"doc", "1"}});
  const std::string e2 = EventJson("org_t", "doc.updated", "2026-03-01T00:00:02.000000Z", "u2", {{"doc", "1"}});
  const std::string e3 = EventJson("org_t", "doc.deleted", "2026-03-01T00:00:03.000000Z", "u3", {{"doc", "1"}});
  ScriptedServer sse({
      // Two events, then the connection drops in the middle of a third.
      {std::string(kStreamHead) + ": keepalive\n\n" + SseEvent("c1", e1) + SseEvent("c2", e2) +
       "id: c3\nevent: event\ndata: {\"partial\""},
      // The server is briefly overloaded.
      {ErrorReply(503, "Service Unavailable", "overloaded", "try again")},
      // The stream resumes after c2.
      {std::string(kStreamHead) + SseEvent("c3", e3) + ": keepalive\n\n", true},
  });
  RunningCommand tail({"tail", "--org", "org t", "--action", "doc.*", "--actor", "u1",
                       "--target-type", "doc", "--target-id", "1", "--json"},
                      {{"ANNALS_SERVER", sse.url()}, {"ANNALS_KEY", "annals_test"}});
  const std::string out = tail.WaitForLines(3);
  EXPECT_EQ(tail.Signal(SIGINT), 0) << tail.err();
  EXPECT_EQ(Lines(out), (std::vector<std::string>{e1, e2, e3})) << tail.err();

  const std::vector<std::string> requests = sse.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].rfind("GET /v1/events/stream?organization_id=org%20t&action=doc.%2A&"
                              "actor_id=u1&target_type=doc&target_id=1 HTTP/1.1\r\n",
                              0),
            0u)
      << requests[0];
  EXPECT_NE(requests[0].find("Authorization: Bearer annals_test\r\n"), std::string::npos);
  EXPECT_NE(requests[0].find("Accept: text/event-stream\r\n"), std::string::npos);
  EXPECT_EQ(LastEventId(requests[0]), "");
  EXPECT_EQ(LastEventId(requests[1]), "c2");  // not c3: that event never completed
  EXPECT_EQ(LastEventId(requests[2]), "c2");
  // Each reconnection is one line on stderr, the 503 with its reason.
  const std::vector<std::string> notes = Lines(tail.err());
  ASSERT_EQ(notes.size(), 2u) << tail.err();
  EXPECT_NE(notes[0].find("the server ended the stream; reconnecting in 0.5 s"), std::string::npos);
  EXPECT_NE(notes[1].find("HTTP 503: try again; reconnecting in 1.0 s"), std::string::npos);
}

TEST(CliTailTest, PrintsOneReadableLinePerEventAndEndsOnSigterm) {
  const std::string e1 = EventJson("org_t", "doc.created", "2026-03-01T00:00:01.000000Z", "u1",
                                   {{"doc", "1"}, {"folder", "f\\u001b[31m"}});
  ScriptedServer sse({{std::string(kStreamHead) + SseEvent("c1", e1) +
                           "event: other\ndata: not an event of ours\n\n" +
                           SseEvent("c2", "{\"action\":\"x.y\"}"),
                       true}});
  RunningCommand tail({"tail", "--org", "org_t"},
                      {{"ANNALS_SERVER", sse.url()}, {"ANNALS_KEY", "annals_test"}});
  const std::string out = tail.WaitForLines(2);
  EXPECT_EQ(tail.Signal(SIGTERM), 0) << tail.err();
  EXPECT_EQ(Lines(out),
            (std::vector<std::string>{
                "2026-03-01T00:00:01.000000Z  doc.created  user:u1  doc:1,folder:f?[31m",
                "-  x.y  -  -"}));
  EXPECT_EQ(tail.err(), "");
}

TEST(CliTailTest, RefusalsAreFinal) {
  struct Case {
    std::string reply;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {ErrorReply(401, "Unauthorized", "unauthorized", "the API key is revoked"),
            "HTTP 401: the API key is revoked"},
           {ErrorReply(403, "Forbidden", "insufficient_scope", "this API key lacks events:read"),
            "HTTP 403: this API key lacks events:read"},
           {ErrorReply(400, "Bad Request", "invalid_request", "action is malformed"),
            "HTTP 400: action is malformed"},
           {ErrorReply(404, "Not Found", "organization_not_found", "no organization with id 'o'"),
            "HTTP 404: no organization with id 'o'"},
           {"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            "Connection: close\r\n\r\n{}",
            "did not answer /v1/events/stream with an event stream"},
       }) {
    ScriptedServer sse({{c.reply}});
    auto r = RunCommand({"annals", "tail", "--org", "o"},
                        {{"ANNALS_SERVER", sse.url()}, {"ANNALS_KEY", "annals_test"}});
    ExpectOneLineError(r, c.message);
    EXPECT_EQ(sse.requests().size(), 1u) << c.message;
  }
}

TEST(CliTailTest, FollowsTheRealServer) {
  TempDir dir;
  ServerProcess server;
  ASSERT_TRUE(server.Start(dir.path())) << server.StderrText();
  auto post = [&](int from, int to) {
    std::string body = "[";
    for (int i = from; i < to; ++i) {
      if (i > from) body += ",";
      body += EventJson("org_tail", i % 2 ? "doc.updated" : "user.login", "2026-03-01T00:00:01Z",
                        "u" + std::to_string(i), {{"doc", std::to_string(i)}});
    }
    body += "]";
    auto r = server.Client().Send("POST", "/v1/events", body, "application/json");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 201) << r->body;
  };
  post(0, 1);  // creates the organization
  RunningCommand tail({"tail", "--org", "org_tail", "--action", "doc.*", "--json"},
                      {{"ANNALS_SERVER", server.url()}, {"ANNALS_KEY", kAdminKey}});
  // The stream starts at "now": wait until it is open before producing.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    auto m = server.Client().Send("GET", "/metrics");
    if (m.ok() && m->body.find("annals_tail_subscribers 1") != std::string::npos) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the tail never subscribed";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  post(1, 41);  // 20 matching events (odd i)
  const std::string out = tail.WaitForLines(20);
  EXPECT_EQ(tail.Signal(SIGTERM), 0) << tail.err();
  const std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 20u) << tail.err();
  int64_t previous = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    json::value e = Parse(lines[i]);
    EXPECT_EQ(e.at("action").as_string(), "doc.updated");
    EXPECT_EQ(e.at("actor").at("id").as_string(), "u" + std::to_string(2 * i + 1));
    EXPECT_GT(e.at("seq").as_int64(), previous);
    previous = e.at("seq").as_int64();
  }
}

}  // namespace
}  // namespace annals::testing
