// Tamper evidence end to end, against the real server and CLI: signed tree heads and their
// chain, inclusion and consistency proofs checked with the public key alone, receipts, key
// rotation, verifiable exports checked by `annals verify-export`, `annals verify-proof` on the
// API's own answers, and `annals verify` on the stopped server's data directory.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <thread>

#include "common/sha256.h"
#include "domain/merkle.h"
#include "harness.h"
#include "integrity/tree_head.h"

namespace annals::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::map<std::string, std::string> ServerEnv() {
  return {{"ANNALS_ADMIN_KEY", kAdminKey},
          {"ANNALS_ORGS_AUTO_CREATE", "true"},
          {"ANNALS_INTEGRITY_HEAD_INTERVAL", "100ms"}};
}

merkle::Hash Hex(const json::value& v) {
  std::optional<merkle::Hash> h = merkle::HashFromHex(std::string_view(v.as_string()));
  EXPECT_TRUE(h.has_value()) << v;
  return h.value_or(merkle::Hash{});
}

std::vector<merkle::Hash> HexArray(const json::value& v) {
  std::vector<merkle::Hash> out;
  for (const json::value& h : v.as_array()) out.push_back(Hex(h));
  return out;
}

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

class IntegrityTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }

  void StartServer() {
    ASSERT_TRUE(server_.Start(dir_.path(), {}, ServerEnv())) << server_.StderrText();
  }

  ClientResponse Call(const std::string& method, const std::string& path,
                      const std::string& body = "", const std::string& key = kAdminKey) {
    annals::HttpClient c(server_.url(), key);
    auto r = c.Send(method, path, body, body.empty() ? "" : "application/json");
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : ClientResponse{};
  }

  // Ingests n events for org; returns the acks' data array.
  json::array Ingest(const std::string& org, int n, const std::string& query = "") {
    std::string batch = "{\"events\":[";
    for (int i = 0; i < n; ++i) {
      if (i) batch += ',';
      batch += EventJson(org, "doc.updated", "2026-03-01T00:00:00Z", "user_1",
                         {{"doc", "d" + std::to_string(i % 17)}},
                         "\"metadata\":{\"i\":" + std::to_string(i) + "}");
    }
    batch += "]}";
    auto r = Call("POST", "/v1/events" + query, batch);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? json::parse(r.body).at("data").as_array() : json::array();
  }

  // Waits for the newest head to cover `size` events.
  json::object HeadCovering(const std::string& org, uint64_t size) {
    for (int i = 0; i < 200; ++i) {
      auto r = Call("GET", "/v1/tree/head?organization_id=" + org);
      if (r.status == 200) {
        json::object head = json::parse(r.body).as_object();
        if (head.at("tree_size").to_number<uint64_t>() >= size) return head;
      }
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "no head covers " << size << " events of " << org;
    return {};
  }

  integrity::PublicKey Key() {
    auto r = Call("GET", "/v1/tree/key");
    EXPECT_EQ(r.status, 200) << r.body;
    Result<integrity::PublicKey> key = integrity::PublicKeyFromJson(r.body);
    EXPECT_TRUE(key.ok()) << key.status().message();
    return key.ok() ? *key : integrity::PublicKey{};
  }

  // The commitment of an event: SHA-256 of exactly the JSON GET /v1/events/{id} returns.
  std::string Commitment(const std::string& id) {
    auto r = Call("GET", "/v1/events/" + id);
    EXPECT_EQ(r.status, 200) << r.body;
    return Sha256(r.body);
  }

  TempDir dir_;
  ServerProcess server_;
};

TEST_F(IntegrityTest, HeadsProofsAndReceiptsVerifyWithThePublicKeyAlone) {
  json::array acks = Ingest("org_acme", 300, "?receipt=true");
  ASSERT_EQ(acks.size(), 300u);
  // Receipts: the commitment of each event, as a client can recompute it.
  const std::string id123(acks[122].at("id").as_string());
  EXPECT_EQ(std::string(acks[122].at("commitment").as_string()), HexEncode(Commitment(id123)));
  EXPECT_EQ(acks[122].at("seq").to_number<uint64_t>(), 123u);

  json::object head = HeadCovering("org_acme", 300);
  ASSERT_FALSE(head.empty());
  const integrity::PublicKey key = Key();
  Result<integrity::TreeHead> parsed = integrity::TreeHeadFromJson(json::serialize(head));
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_TRUE(integrity::VerifyHeadSignature(*parsed, key));
  EXPECT_EQ(parsed->tree_size, 300u);
  EXPECT_EQ(parsed->organization_id, "org_acme");

  // Inclusion of seq 123 in the head's tree, by seq and by event id.
  for (const std::string& query : std::vector<std::string>{"seq=123", "event_id=" + id123}) {
    auto r = Call("GET", "/v1/tree/proof/inclusion?organization_id=org_acme&" + query);
    ASSERT_EQ(r.status, 200) << r.body;
    json::object proof = json::parse(r.body).as_object();
    EXPECT_EQ(proof.at("leaf_index").to_number<uint64_t>(), 122u);
    EXPECT_EQ(proof.at("tree_size").to_number<uint64_t>(), 300u);
    const merkle::Hash leaf = merkle::LeafHash(Commitment(id123));
    EXPECT_EQ(Hex(proof.at("leaf_hash")), leaf);
    EXPECT_TRUE(merkle::VerifyInclusion(122, 300, leaf, HexArray(proof.at("audit_path")),
                                        parsed->root_hash));
    // Another event's content does not verify at this place.
    const merkle::Hash other = merkle::LeafHash(Commitment(std::string(acks[0].at("id").as_string())));
    EXPECT_FALSE(merkle::VerifyInclusion(122, 300, other, HexArray(proof.at("audit_path")),
                                         parsed->root_hash));
  }

  // The tree grows; the new head extends the old one (consistency) and chains to it.
  Ingest("org_acme", 50);
  json::object later = HeadCovering("org_acme", 350);
  Result<integrity::TreeHead> later_head = integrity::TreeHeadFromJson(json::serialize(later));
  ASSERT_TRUE(later_head.ok());
  auto r = Call("GET", "/v1/tree/proof/consistency?organization_id=org_acme&first=300&second=350");
  ASSERT_EQ(r.status, 200) << r.body;
  json::object consistency = json::parse(r.body).as_object();
  EXPECT_TRUE(merkle::VerifyConsistency(300, 350, HexArray(consistency.at("proof")),
                                        parsed->root_hash, later_head->root_hash));
  EXPECT_FALSE(merkle::VerifyConsistency(300, 350, HexArray(consistency.at("proof")),
                                         later_head->root_hash, parsed->root_hash));

  // The head history, newest first, is one chain; pages follow the cursors.
  r = Call("GET", "/v1/tree/heads?organization_id=org_acme&limit=1000");
  ASSERT_EQ(r.status, 200) << r.body;
  json::array heads = json::parse(r.body).at("data").as_array();
  ASSERT_GE(heads.size(), 2u);
  for (size_t i = 0; i + 1 < heads.size(); ++i) {
    auto newer = integrity::TreeHeadFromJson(json::serialize(heads[i])).value();
    auto older = integrity::TreeHeadFromJson(json::serialize(heads[i + 1])).value();
    EXPECT_TRUE(integrity::CheckChain(older, newer).ok()) << i;
    EXPECT_TRUE(integrity::VerifyHeadSignature(older, key));
  }
  EXPECT_FALSE(json::parse(json::serialize(heads.back())).at("previous_head_hash").as_string().size());
  r = Call("GET", "/v1/tree/heads?organization_id=org_acme&limit=1");
  json::object page = json::parse(r.body).as_object();
  ASSERT_EQ(page.at("data").as_array().size(), 1u);
  ASSERT_TRUE(page.at("list_metadata").at("after").is_string());
  r = Call("GET", "/v1/tree/heads?organization_id=org_acme&limit=1&after=" +
                      std::string(page.at("list_metadata").at("after").as_string()));
  json::object page2 = json::parse(r.body).as_object();
  ASSERT_EQ(page2.at("data").as_array().size(), 1u);
  EXPECT_EQ(page2.at("data").as_array()[0], heads[1]);
  r = Call("GET", "/v1/tree/heads?organization_id=org_acme&limit=1&before=" +
                      std::string(page2.at("list_metadata").at("before").as_string()));
  EXPECT_EQ(json::parse(r.body).at("data").as_array()[0], heads[0]);
}

TEST_F(IntegrityTest, BadInputAndTenancy) {
  Ingest("org_acme", 10);
  HeadCovering("org_acme", 10);
  ASSERT_EQ(Call("POST", "/v1/orgs", R"({"id":"org_other","name":"Other"})").status, 201);
  for (const std::string& path : std::vector<std::string>
       {"/v1/tree/proof/inclusion?organization_id=org_acme",
        "/v1/tree/proof/inclusion?organization_id=org_acme&seq=0",
        "/v1/tree/proof/inclusion?organization_id=org_acme&seq=abc",
        "/v1/tree/proof/inclusion?organization_id=org_acme&seq=11",
        "/v1/tree/proof/inclusion?organization_id=org_acme&seq=1&tree_size=11",
        "/v1/tree/proof/inclusion?organization_id=org_acme&seq=1&color=red",
        "/v1/tree/proof/consistency?organization_id=org_acme&first=5",
        "/v1/tree/proof/consistency?organization_id=org_acme&first=6&second=5",
        "/v1/tree/proof/consistency?organization_id=org_acme&first=1&second=11",
        "/v1/tree/heads?organization_id=org_acme&after=bogus"}) {
    auto r = Call("GET", path);
    EXPECT_EQ(r.status, 400) << path << ": " << r.body;
  }
  EXPECT_EQ(Call("GET", "/v1/tree/proof/inclusion?organization_id=org_acme&event_id=evt_nope")
                .status,
            404);
  EXPECT_EQ(Call("GET", "/v1/tree/head?organization_id=org_empty").status, 404);
  EXPECT_EQ(Call("POST", "/v1/events?receipt=maybe", "{}").status, 400);
  EXPECT_EQ(Call("POST", "/v1/events?color=red", "{}").status, 400);

  // An organization's key sees its own tree only, and cannot rotate the signing key.
  auto created = Call("POST", "/v1/api-keys",
                      R"({"name":"other","organization_id":"org_other","scopes":["events:read","admin"]})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string other_key(json::parse(created.body).at("key").as_string());
  EXPECT_NE(Call("GET", "/v1/tree/head?organization_id=org_acme", "", other_key).status, 200);
  EXPECT_NE(Call("GET", "/v1/tree/proof/inclusion?organization_id=org_acme&seq=1", "", other_key)
                .status,
            200);
  EXPECT_EQ(Call("GET", "/v1/tree/key", "", other_key).status, 200);
  EXPECT_EQ(Call("POST", "/v1/tree/keys/rotate", "", other_key).status, 403);
}

TEST_F(IntegrityTest, KeyRotationKeepsOldHeadsVerifiableAndTheStoreVerifies) {
  Ingest("org_acme", 20);
  json::object first = HeadCovering("org_acme", 20);
  const integrity::PublicKey old_key = Key();
  auto r = Call("POST", "/v1/tree/keys/rotate", "{}");
  ASSERT_EQ(r.status, 200) << r.body;
  const integrity::PublicKey new_key = Key();
  EXPECT_NE(new_key.key_id, old_key.key_id);
  r = Call("GET", "/v1/tree/keys");
  ASSERT_EQ(r.status, 200);
  json::array keys = json::parse(r.body).at("data").as_array();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_TRUE(keys[0].at("valid_until").is_string());
  EXPECT_TRUE(keys[1].at("valid_until").is_null());
  std::vector<integrity::PublicKey> records;
  for (const json::value& k : keys) records.push_back(integrity::PublicKeyFromJson(json::serialize(k)).value());

  Ingest("org_acme", 5);
  json::object second = HeadCovering("org_acme", 25);
  auto old_head = integrity::TreeHeadFromJson(json::serialize(first)).value();
  auto new_head = integrity::TreeHeadFromJson(json::serialize(second)).value();
  EXPECT_EQ(old_head.key_id, old_key.key_id);
  EXPECT_EQ(new_head.key_id, new_key.key_id);
  EXPECT_TRUE(integrity::VerifyHeadSignature(old_head, records[0]));
  EXPECT_TRUE(integrity::VerifyHeadSignature(new_head, records[1]));
  EXPECT_FALSE(integrity::VerifyHeadSignature(new_head, records[0]));

  // Offline: refused while the server holds the directory, then the whole store verifies.
  CommandResult v = RunCommand({ANNALS_BINARY, "verify", "--data", dir_.path().string()});
  EXPECT_EQ(v.exit_code, 1) << v.err;
  EXPECT_NE(v.err.find("in use by a running server"), std::string::npos) << v.err;
  v = RunCommand({ANNALS_BINARY, "compact", "--data", dir_.path().string()});
  EXPECT_EQ(v.exit_code, 1) << v.err;
  EXPECT_NE(v.err.find("in use by a running server"), std::string::npos) << v.err;
  ASSERT_EQ(server_.Stop(), 0);
  // Rewriting the store with another codec changes nothing that is verified.
  v = RunCommand({ANNALS_BINARY, "compact", "--data", dir_.path().string(),
                  "--event-compression", "brotli"});
  EXPECT_EQ(v.exit_code, 2) << v.err;
  v = RunCommand({ANNALS_BINARY, "compact", "--data", (dir_.path() / "nothing").string()});
  EXPECT_EQ(v.exit_code, 1) << v.err;
  EXPECT_NE(v.err.find("not an annals data directory"), std::string::npos) << v.err;
  v = RunCommand({ANNALS_BINARY, "compact", "--data", dir_.path().string(),
                  "--event-compression", "zstd"});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_NE(v.out.find("events stored with zstd"), std::string::npos) << v.out;
  v = RunCommand({ANNALS_BINARY, "verify", "--data", dir_.path().string()});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  // 25 events of org_acme, and the platform's own trail (the organization auto-created).
  EXPECT_NE(v.out.find("verified 26 events"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("2 signing keys"), std::string::npos) << v.out;
  v = RunCommand({ANNALS_BINARY, "verify", "--data", dir_.path().string(), "--org", "org_acme"});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  v = RunCommand({ANNALS_BINARY, "verify", "--data", dir_.path().string(), "--org", "org_none"});
  EXPECT_EQ(v.exit_code, 1) << v.out;
  v = RunCommand({ANNALS_BINARY, "verify"});
  EXPECT_EQ(v.exit_code, 2) << v.err;
}

TEST_F(IntegrityTest, VerifyProofChecksTheApisAnswersOffline) {
  json::array acks = Ingest("org_acme", 40);
  json::object head = HeadCovering("org_acme", 40);
  const uint64_t size = head.at("tree_size").to_number<uint64_t>();
  const std::string id(acks[6].at("id").as_string());
  const std::filesystem::path d = dir_.path();
  WriteFile(d / "key.json", Call("GET", "/v1/tree/key").body);
  WriteFile(d / "head.json", json::serialize(head));
  WriteFile(d / "event.json", Call("GET", "/v1/events/" + id).body);
  auto proof = Call("GET", "/v1/tree/proof/inclusion?organization_id=org_acme&seq=7&tree_size=" +
                               std::to_string(size));
  ASSERT_EQ(proof.status, 200) << proof.body;
  WriteFile(d / "proof.json", proof.body);
  CommandResult v = RunCommand({ANNALS_BINARY, "verify-proof", "--public-key",
                                (d / "key.json").string(), "--head", (d / "head.json").string(),
                                "--inclusion", (d / "proof.json").string(), "--event",
                                (d / "event.json").string()});
  EXPECT_EQ(v.exit_code, 0) << v.err << v.out;
  // Another event at that place fails.
  WriteFile(d / "event.json", Call("GET", "/v1/events/" + std::string(acks[7].at("id").as_string())).body);
  v = RunCommand({ANNALS_BINARY, "verify-proof", "--public-key", (d / "key.json").string(),
                  "--head", (d / "head.json").string(), "--inclusion",
                  (d / "proof.json").string(), "--event", (d / "event.json").string()});
  EXPECT_EQ(v.exit_code, 1) << v.out;
}

TEST_F(IntegrityTest, VerifiableExportsCheckOffline) {
  Ingest("org_acme", 120);
  Ingest("org_other", 30);
  // Only some of the events: a filtered export proves them among all the others.
  auto r = Call("POST", "/v1/exports",
                R"({"organization_id":"org_acme","format":"ndjson","verifiable":true,"target_id":["d3","d5"]})");
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_TRUE(json::parse(r.body).as_object().contains("verifiable")) << r.body;
  const std::string id(json::parse(r.body).at("id").as_string());
  EXPECT_TRUE(json::parse(r.body).at("verifiable").as_bool());
  json::object done;
  for (int i = 0; i < 200; ++i) {
    done = json::parse(Call("GET", "/v1/exports/" + id + "?organization_id=org_acme").body).as_object();
    if (done.at("state").as_string() != "pending" && done.at("state").as_string() != "running") break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(done.at("state").as_string(), "ready") << json::serialize(done);
  const std::string url(done.at("url").as_string());
  HttpClient anonymous(server_.url(), "");
  auto file = anonymous.Send("GET", url.substr(server_.url().size()), "", "");
  ASSERT_TRUE(file.ok());
  ASSERT_EQ(file->status, 200);
  const std::filesystem::path d = dir_.path();
  WriteFile(d / "export.ndjson", file->body);
  WriteFile(d / "keys.json", Call("GET", "/v1/tree/keys").body);
  size_t lines = 0;
  for (char ch : file->body) lines += ch == '\n';
  EXPECT_EQ(lines, 15u);  // 14 events name d3 or d5, then the verification line

  CommandResult v = RunCommand({ANNALS_BINARY, "verify-export", (d / "export.ndjson").string(),
                                "--public-key", (d / "keys.json").string()});
  EXPECT_EQ(v.exit_code, 0) << v.err << v.out;
  EXPECT_NE(v.out.find("14 events"), std::string::npos) << v.out;

  // One changed byte, a dropped line or a duplicated line fails.
  std::string changed = file->body;
  changed[changed.find("\"i\":")+4] = changed[changed.find("\"i\":") + 4] == '9' ? '8' : '9';
  WriteFile(d / "changed.ndjson", changed);
  v = RunCommand({ANNALS_BINARY, "verify-export", (d / "changed.ndjson").string(),
                  "--public-key", (d / "keys.json").string()});
  EXPECT_EQ(v.exit_code, 1) << v.out;
  std::string dropped = file->body.substr(file->body.find('\n') + 1);
  WriteFile(d / "dropped.ndjson", dropped);
  v = RunCommand({ANNALS_BINARY, "verify-export", (d / "dropped.ndjson").string(),
                  "--public-key", (d / "keys.json").string()});
  EXPECT_EQ(v.exit_code, 1) << v.out;

  r = Call("POST", "/v1/exports",
           R"({"organization_id":"org_acme","format":"csv","verifiable":true})");
  EXPECT_EQ(r.status, 400) << r.body;
}

// A signing key supplied by configuration: the server signs with it, says so in
// GET /v1/tree/key, and refuses to rotate it; a key file others can read is refused at start.
TEST(IntegrityKeyFileTest, AConfiguredKeySignsAndCannotBeRotatedByTheApi) {
  TempDir dir;
  const std::string key_file = (dir.path() / "tree.pem").string();
  CommandResult gen =
      RunCommand({"/usr/bin/openssl", "genpkey", "-algorithm", "ed25519", "-out", key_file});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  CommandResult pub = RunCommand({"/usr/bin/openssl", "pkey", "-in", key_file, "-pubout"});
  ASSERT_EQ(pub.exit_code, 0) << pub.err;
  std::filesystem::permissions(key_file, std::filesystem::perms::owner_read |
                                             std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::replace);
  std::map<std::string, std::string> env = ServerEnv();
  env["ANNALS_INTEGRITY_SIGNING_KEY_FILE"] = key_file;
  ServerProcess server;
  ASSERT_TRUE(server.Start(dir.path() / "data", {}, env)) << server.StderrText();
  HttpClient c(server.url(), kAdminKey);
  auto key = c.Send("GET", "/v1/tree/key", "", "");
  ASSERT_TRUE(key.ok());
  ASSERT_EQ(key->status, 200);
  // The same public key as openssl derives from the file.
  WriteFile(dir.path() / "pub.pem", pub.out);
  WriteFile(dir.path() / "key.json", key->body);
  auto head_ok = [&]() -> std::string {
    for (int i = 0; i < 200; ++i) {
      auto h = c.Send("GET", "/v1/tree/head?organization_id=org_acme", "", "");
      if (h.ok() && h->status == 200) return h->body;
      std::this_thread::sleep_for(50ms);
    }
    return "";
  };
  auto ingest = c.Send("POST", "/v1/events",
                       EventJson("org_acme", "doc.updated", "2026-03-01T00:00:00Z", "user_1",
                                 {{"doc", "d1"}}),
                       "application/json");
  ASSERT_TRUE(ingest.ok());
  ASSERT_EQ(ingest->status, 201) << ingest->body;
  const std::string head = head_ok();
  ASSERT_FALSE(head.empty());
  WriteFile(dir.path() / "head.json", head);
  CommandResult v = RunCommand({ANNALS_BINARY, "verify-proof", "--public-key",
                                (dir.path() / "pub.pem").string(), "--head",
                                (dir.path() / "head.json").string()});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  auto rotate = c.Send("POST", "/v1/tree/keys/rotate", "{}", "application/json");
  ASSERT_TRUE(rotate.ok());
  EXPECT_EQ(rotate->status, 409) << rotate->body;
  EXPECT_NE(rotate->body.find("signing_key_from_configuration"), std::string::npos);
  ASSERT_EQ(server.Stop(), 0);

  // A key file that others may read: refused at start, with the path in the message.
  std::filesystem::permissions(key_file, std::filesystem::perms::group_read |
                                             std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  ServerProcess refused;
  EXPECT_FALSE(refused.Start(dir.path() / "data", {}, env));
  EXPECT_NE(refused.StderrText().find(key_file), std::string::npos) << refused.StderrText();
}

}  // namespace
}  // namespace annals::testing
