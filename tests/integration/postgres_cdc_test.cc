// The PostgreSQL change-capture source against a real PostgreSQL 15 (wal_level=logical),
// in process with a real RocksDB store and ingestor: the event mapping, snapshots, TOAST,
// schema changes, actors, masks, truncates, refusals with clear errors, lost slots, cut
// connections and database restarts. Tests wait for outcomes; they never assert durations.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "access/organizations.h"
#include "domain/canonical_json.h"
#include "ingest/ingestor.h"
#include "harness.h"
#include "pg_server.h"
#include "server/logging.h"
#include "sources/postgres_cdc/postgres_source.h"
#include "storage/rocksdb/rocks_store.h"

namespace annals::testing {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

// An event as stored, parsed.
struct Stored {
  EventRecord record;
  json::object json;
  const json::value& at(const char* k) const { return json.at(k); }
  std::string action() const { return record.fields.action; }
  std::string org() const { return record.fields.organization_id; }
  std::string target_id() const { return record.fields.targets.at(0).id; }
  const json::object& changes() const { return json.at("changes").as_object(); }
  const json::object& after() const { return changes().at("after").as_object(); }
  const json::object& before() const { return changes().at("before").as_object(); }
};

// annals' parts in process: a RocksDB store, the ingestor and the organization registry.
class Annals {
 public:
  explicit Annals(const std::filesystem::path& dir) : dir_(dir) { Open(); }
  ~Annals() { Close(); }

  void Open() {
    RocksStoreOptions o;
    o.path = (dir_ / "store").string();
    auto s = RocksStore::Open(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    auto i = Ingestor::Start(store_.get(), &clock_, IngestOptions{});
    ASSERT_TRUE(i.ok()) << i.status().ToString();
    ingestor_ = std::move(i).value();
    auto r = OrgRegistry::Load(store_.get(), &clock_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    orgs_ = std::move(r).value();
  }

  void Close() {
    if (ingestor_) ingestor_->Stop();
    ingestor_.reset();
    orgs_.reset();
    store_.reset();
  }

  void CreateOrg(const std::string& id) {
    OrganizationCreate c;
    c.id = id;
    ASSERT_TRUE(orgs_->Create(c).ok());
  }

  PostgresSourceDeps Deps(bool auto_create = false) {
    PostgresSourceDeps d;
    d.store = store_.get();
    d.ingestor = ingestor_.get();
    d.orgs = orgs_.get();
    d.clock = &clock_;
    d.logger = logger_;
    d.auto_create_orgs = auto_create;
    return d;
  }

  std::vector<Stored> Events() {
    std::vector<Stored> out;
    Result<std::vector<EventRecord>> all = store_->ReadFrom(0, 1 << 20);
    EXPECT_TRUE(all.ok());
    if (!all.ok()) return out;
    for (EventRecord& r : *all) {
      Stored s;
      s.json = json::parse(r.json).as_object();
      s.record = std::move(r);
      out.push_back(std::move(s));
    }
    return out;
  }

  // Events whose action starts with `prefix` ("" for all but annals' own), in source order:
  // snapshots, then by transaction, then by position. (A group commit lays its events out by organization,
  // so positions alone follow the source within each organization only.)
  std::vector<Stored> Events(const std::string& prefix) {
    std::vector<Stored> out;
    for (Stored& s : Events()) {
      if (prefix.empty() ? s.org() != "annals" : s.action().rfind(prefix, 0) == 0) {
        out.push_back(std::move(s));
      }
    }
    auto xid = [](const Stored& s) -> uint64_t {
      const json::object* source = s.json.if_contains("source") != nullptr
                                       ? s.json.at("source").if_object()
                                       : nullptr;
      const json::value* x = source != nullptr ? source->if_contains("xid") : nullptr;
      // Snapshot events (no transaction) come before the stream.
      return x != nullptr && x->is_number() ? x->to_number<uint64_t>() : 0;
    };
    std::stable_sort(out.begin(), out.end(),
                     [&](const Stored& a, const Stored& b) { return xid(a) < xid(b); });
    return out;
  }

  Store* store() { return store_.get(); }

 private:
  std::filesystem::path dir_;
  SystemClock clock_;
  std::shared_ptr<Logger> logger_ = std::make_shared<Logger>("warn", "text");
  std::unique_ptr<RocksStore> store_;
  std::unique_ptr<Ingestor> ingestor_;
  std::unique_ptr<OrgRegistry> orgs_;
};

class PostgresCdcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    server_ = PgServer::Get(&why);
    if (server_ == nullptr) GTEST_SKIP() << why;
    database_ = server_->CreateDatabase();
    db_ = std::make_unique<PgClient>(server_->Dsn(database_));
    annals_ = std::make_unique<Annals>(dir_.path());
    for (const char* org : {"org_a", "org_b", "org_c"}) annals_->CreateOrg(org);
    slot_ = "slot_" + database_;
  }

  void TearDown() override {
    for (auto& s : sources_) s->Stop();
    sources_.clear();
    if (annals_) annals_->Close();
    if (db_) {
      db_->TryQuery("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                    "WHERE database = current_database() AND NOT active");
    }
  }

  // The items table most tests use, in publication "pub", with REPLICA IDENTITY FULL.
  void CreateItems() {
    db_->Query(
        "CREATE TABLE items (id int PRIMARY KEY, org text, name text, price numeric(10,2), "
        "tags jsonb, active boolean, big bigint);"
        "ALTER TABLE items REPLICA IDENTITY FULL;"
        "CREATE PUBLICATION pub FOR TABLE items;");
  }

  PostgresSourceConfig Config(std::vector<PostgresTableConfig> tables = {{"items", "", {}, {}}},
                              const std::string& snapshot = "never") {
    PostgresSourceConfig c;
    c.name = "pg";
    c.dsn = server_->Dsn(database_);
    c.publication = "pub";
    c.slot = slot_;
    c.organization_column = "org";
    c.snapshot = snapshot;
    c.tables = std::move(tables);
    return c;
  }

  static PostgresSourceOptions FastOptions() {
    PostgresSourceOptions o;
    o.feedback_interval = milliseconds(100);
    o.backoff_initial = milliseconds(100);
    o.backoff_max = milliseconds(1000);
    return o;
  }

  std::shared_ptr<PostgresSource> StartSource(const PostgresSourceConfig& config,
                                              PostgresSourceOptions options = FastOptions(),
                                              bool auto_create = false) {
    auto s = PostgresSource::Create(config, annals_->Deps(auto_create), options);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (!s.ok()) return nullptr;
    (*s)->Start();
    sources_.push_back(*s);
    return *s;
  }

  // Waits (generously: shared CI machines are slow) until `done` holds.
  bool WaitFor(const std::function<bool()>& done, const std::string& what,
               PostgresSource* source = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    std::string state;
    if (source != nullptr) {
      SourceStatus s = source->Status();
      state = " (source state " + s.state + ", last error: " + s.last_error + ")";
    }
    ADD_FAILURE() << "timed out waiting for " << what << state;
    return false;
  }

  bool WaitForState(PostgresSource* source, const std::string& state) {
    return WaitFor([&] { return source->Status().state == state; }, "state " + state, source);
  }

  bool WaitForEvents(size_t n, PostgresSource* source, const std::string& prefix = "") {
    return WaitFor([&] { return annals_->Events(prefix).size() >= n; },
                   std::to_string(n) + " events", source);
  }

  std::string SlotValue(const std::string& column) {
    Rows r = db_->Query("SELECT " + column + " FROM pg_replication_slots WHERE slot_name = '" +
                        slot_ + "'");
    return r.empty() ? "" : r[0][0];
  }

  TempDir dir_;
  PgServer* server_ = nullptr;
  std::string database_;
  std::string slot_;
  std::unique_ptr<PgClient> db_;
  std::unique_ptr<Annals> annals_;
  std::vector<std::shared_ptr<PostgresSource>> sources_;
};

TEST_F(PostgresCdcTest, InsertsUpdatesAndDeletesBecomeEvents) {
  CreateItems();
  db_->Query("CREATE TABLE other (id int PRIMARY KEY, org text);"
             "ALTER TABLE other REPLICA IDENTITY FULL; ALTER PUBLICATION pub ADD TABLE other;");
  auto source = StartSource(Config());
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  // The slot was created with the source.
  EXPECT_EQ(SlotValue("plugin"), "pgoutput");

  db_->Query("INSERT INTO items VALUES (1, 'org_a', 'widget', 9.99, '{\"color\": \"blue\"}', true, "
             "9007199254740993), (2, 'org_b', 'gadget', 1.50, NULL, false, 1)");
  db_->Query("INSERT INTO other VALUES (1, 'org_a')");  // published but not configured
  db_->Query("UPDATE items SET price = 12.50 WHERE id = 1");
  db_->Query("DELETE FROM items WHERE id = 2");
  ASSERT_TRUE(WaitForEvents(4, source.get()));

  std::vector<Stored> e = annals_->Events("");
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].action(), "items.created");
  EXPECT_EQ(e[0].org(), "org_a");
  EXPECT_EQ(Canonical(e[0].at("targets")), R"([{"id":"1","type":"items"}])");
  EXPECT_EQ(Canonical(e[0].at("actor")), R"({"id":"pg","type":"database"})");
  EXPECT_EQ(e[0].changes().at("op"), "create");
  EXPECT_FALSE(e[0].changes().contains("before"));
  EXPECT_EQ(Canonical(e[0].after()),
            R"({"active":true,"big":"9007199254740993","id":1,"name":"widget","org":"org_a","price":9.99,"tags":{"color":"blue"}})");
  const json::object& source_json = e[0].at("source").as_object();
  EXPECT_EQ(source_json.at("kind"), "postgres");
  EXPECT_EQ(source_json.at("name"), "pg");
  EXPECT_TRUE(source_json.at("lsn").as_string().find('/') != json::string::npos);
  EXPECT_TRUE(source_json.at("xid").is_number());
  EXPECT_EQ(e[1].org(), "org_b");
  EXPECT_EQ(e[1].target_id(), "2");
  EXPECT_TRUE(e[1].after().at("tags").is_null());

  EXPECT_EQ(e[2].action(), "items.updated");
  EXPECT_EQ(e[2].changes().at("op"), "update");
  EXPECT_EQ(Canonical(e[2].before().at("price")), "9.99");
  EXPECT_EQ(Canonical(e[2].after().at("price")), "12.5");
  EXPECT_EQ(e[2].before().at("name"), "widget");

  EXPECT_EQ(e[3].action(), "items.deleted");
  EXPECT_EQ(e[3].org(), "org_b");
  EXPECT_EQ(e[3].changes().at("op"), "delete");
  EXPECT_FALSE(e[3].changes().contains("after"));
  EXPECT_EQ(e[3].before().at("name"), "gadget");
  // occurred_at is the commit time: the two inserts of one statement share it.
  EXPECT_EQ(e[0].record.fields.occurred_at, e[1].record.fields.occurred_at);
  EXPECT_LT(e[0].record.fields.occurred_at, e[3].record.fields.occurred_at);

  Result<std::optional<ItemRecord>> deleted = annals_->store()->GetItem("org_b", "items", "2");
  ASSERT_TRUE(deleted.ok() && deleted->has_value());
  EXPECT_NE((*deleted)->deleted_at, 0);
  // The idempotency key names the commit LSN and the change's index in its transaction.
  const std::string key = "postgres pg " + std::string(source_json.at("lsn").as_string()) + ":0";
  Result<std::optional<IdempotencyRecord>> idem = annals_->store()->GetIdempotency("org_a", key);
  ASSERT_TRUE(idem.ok());
  EXPECT_TRUE(idem->has_value()) << key;

  SourceStatus st = source->Status();
  EXPECT_EQ(st.kind, "postgres");
  EXPECT_EQ(st.state, "streaming");
  EXPECT_EQ(st.events_stored, 4u);
  EXPECT_EQ(st.last_event_at, e[3].record.fields.occurred_at);
  EXPECT_TRUE(st.lag_seconds.has_value());
  EXPECT_TRUE(st.lag_bytes.has_value());
  EXPECT_EQ(st.last_error, "");
  // The position confirmed to the server reaches the last stored commit.
  const std::string last_lsn(e[3].at("source").at("lsn").as_string());
  EXPECT_TRUE(WaitFor(
      [&] {
        return SlotValue("confirmed_flush_lsn > '" + last_lsn + "'::pg_lsn") == "t" &&
               !source->Status().position.empty();
      },
      "the slot to confirm " + last_lsn, source.get()));
}

TEST_F(PostgresCdcTest, TruncateDeletesEveryLiveItemInChunksPerOrganization) {
  CreateItems();
  auto source = StartSource(Config());
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("INSERT INTO items (id, org) SELECT g, 'org_a' FROM generate_series(1, 40) g");
  db_->Query("INSERT INTO items (id, org) SELECT g, 'org_b' FROM generate_series(41, 43) g");
  db_->Query("DELETE FROM items WHERE id = 5");
  db_->Query("TRUNCATE items");
  // A truncate in the middle of a transaction sees the rows inserted before it.
  db_->Query("BEGIN; INSERT INTO items (id, org) VALUES (100, 'org_c'); TRUNCATE items; "
             "INSERT INTO items (id, org) VALUES (101, 'org_c'); COMMIT;");
  ASSERT_TRUE(WaitForEvents(44 + 3 + 3, source.get()));
  std::vector<Stored> t = annals_->Events("items.truncated");
  ASSERT_EQ(t.size(), 4u);
  std::map<std::string, std::vector<size_t>> sizes;
  std::set<std::string> ended;
  for (const Stored& s : t) {
    sizes[s.org()].push_back(s.record.fields.targets.size());
    EXPECT_EQ(s.changes().at("op"), "delete");
    for (const TargetRef& ref : s.record.fields.targets) {
      EXPECT_EQ(ref.type, "items");
      EXPECT_TRUE(ended.insert(s.org() + "/" + ref.id).second) << ref.id;
    }
  }
  // 39 live items of org_a in events of at most 32 targets; org_b's 3; org_c's 1.
  EXPECT_EQ(sizes["org_a"], (std::vector<size_t>{32, 7}));
  EXPECT_EQ(sizes["org_b"], (std::vector<size_t>{3}));
  EXPECT_EQ(sizes["org_c"], (std::vector<size_t>{1}));
  EXPECT_EQ(ended.count("org_a/5"), 0u);  // already deleted: not truncated again
  for (int id : {1, 40, 41, 100}) {
    const std::string org = id <= 40 ? "org_a" : id <= 43 ? "org_b" : "org_c";
    auto item = annals_->store()->GetItem(org, "items", std::to_string(id));
    ASSERT_TRUE(item.ok() && item->has_value()) << id;
    EXPECT_NE((*item)->deleted_at, 0) << id;
  }
  auto alive = annals_->store()->GetItem("org_c", "items", "101");
  ASSERT_TRUE(alive.ok() && alive->has_value());
  EXPECT_EQ((*alive)->deleted_at, 0);
}

TEST_F(PostgresCdcTest, UnchangedToastedColumnIsTakenFromTheOldRow) {
  db_->Query("CREATE TABLE docs (id int PRIMARY KEY, org text, title text, body text);"
             "ALTER TABLE docs REPLICA IDENTITY FULL; CREATE PUBLICATION pub FOR TABLE docs;");
  auto source = StartSource(Config({{"docs", "doc", {}, {}}}));
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  // Random text does not compress, so it is stored out of line (TOASTed).
  db_->Query("INSERT INTO docs SELECT 1, 'org_a', 'v1', string_agg(md5(g::text || random()::text), '') "
             "FROM generate_series(1, 400) g");
  Rows toasted = db_->Query("SELECT pg_column_size(body) < length(body) * 0.9 OR "
                            "pg_relation_size(reltoastrelid) > 0 FROM docs, pg_class "
                            "WHERE relname = 'docs'");
  ASSERT_EQ(toasted[0][0], "t");
  const std::string body = db_->Query("SELECT body FROM docs")[0][0];
  ASSERT_EQ(body.size(), 400u * 32);
  db_->Query("UPDATE docs SET title = 'v2' WHERE id = 1");
  ASSERT_TRUE(WaitForEvents(2, source.get()));
  std::vector<Stored> e = annals_->Events("doc.");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[1].action(), "doc.updated");
  EXPECT_EQ(e[1].after().at("title"), "v2");
  EXPECT_EQ(e[1].after().at("body").as_string(), body);
  EXPECT_EQ(e[1].before().at("body").as_string(), body);
}

TEST_F(PostgresCdcTest, SchemaChangesBetweenChangesAreFollowed) {
  CreateItems();
  auto source = StartSource(Config());
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("INSERT INTO items (id, org, name) VALUES (1, 'org_a', 'one')");
  db_->Query("ALTER TABLE items ADD COLUMN status text DEFAULT 'new'");
  db_->Query("INSERT INTO items (id, org, name) VALUES (2, 'org_a', 'two')");
  db_->Query("UPDATE items SET status = 'done' WHERE id = 1");
  db_->Query("ALTER TABLE items DROP COLUMN name");
  db_->Query("INSERT INTO items (id, org) VALUES (3, 'org_a')");
  ASSERT_TRUE(WaitForEvents(4, source.get()));
  std::vector<Stored> e = annals_->Events("");
  ASSERT_EQ(e.size(), 4u);
  EXPECT_FALSE(e[0].after().contains("status"));
  EXPECT_EQ(e[1].after().at("status"), "new");
  EXPECT_EQ(e[2].before().at("status"), "new");  // the old row in the new shape
  EXPECT_EQ(e[2].after().at("status"), "done");
  EXPECT_EQ(e[2].after().at("name"), "one");
  EXPECT_FALSE(e[3].after().contains("name"));
  EXPECT_EQ(e[3].after().at("status"), "new");
}

TEST_F(PostgresCdcTest, ActorMessageAttributesTheRestOfItsTransaction) {
  CreateItems();
  auto source = StartSource(Config());
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query(
      "BEGIN;"
      "INSERT INTO items (id, org) VALUES (1, 'org_a');"
      "SELECT pg_logical_emit_message(true, 'annals', '{\"actor\": {\"id\": \"user_7\", \"type\": "
      "\"user\", \"name\": \"Ada\"}, \"context\": {\"location\": \"203.0.113.7\"}}');"
      "INSERT INTO items (id, org) VALUES (2, 'org_a');"
      "UPDATE items SET name = 'renamed' WHERE id = 1;"
      "COMMIT;");
  // Another transaction: the database actor again. A message with another prefix, or
  // outside a transaction, changes nothing.
  db_->Query("BEGIN; SELECT pg_logical_emit_message(true, 'other', '{\"actor\": {\"id\": \"x\", "
             "\"type\": \"user\"}}'); INSERT INTO items (id, org) VALUES (3, 'org_a'); COMMIT;");
  db_->Query("SELECT pg_logical_emit_message(false, 'annals', 'not json')");
  // An invalid actor message is ignored (and reported); its changes keep the database actor.
  db_->Query("BEGIN; SELECT pg_logical_emit_message(true, 'annals', '{\"actor\": {\"id\": \"\"}}');"
             "INSERT INTO items (id, org) VALUES (4, 'org_a'); COMMIT;");
  ASSERT_TRUE(WaitForEvents(5, source.get()));
  std::vector<Stored> e = annals_->Events("");
  ASSERT_EQ(e.size(), 5u);
  EXPECT_EQ(Canonical(e[0].at("actor")), R"({"id":"pg","type":"database"})");
  EXPECT_FALSE(e[0].json.contains("context"));
  for (int i : {1, 2}) {
    EXPECT_EQ(Canonical(e[i].at("actor")), R"({"id":"user_7","name":"Ada","type":"user"})");
    EXPECT_EQ(Canonical(e[i].at("context")), R"({"location":"203.0.113.7"})");
  }
  // One transaction: one commit LSN, one xid, one commit time.
  EXPECT_EQ(e[0].at("source"), e[2].at("source"));
  EXPECT_EQ(e[0].record.fields.occurred_at, e[2].record.fields.occurred_at);
  EXPECT_EQ(Canonical(e[3].at("actor")), R"({"id":"pg","type":"database"})");
  EXPECT_EQ(Canonical(e[4].at("actor")), R"({"id":"pg","type":"database"})");
  EXPECT_NE(source->Status().last_error.find("actor message"), std::string::npos);
}

TEST_F(PostgresCdcTest, InitialSnapshotRecordsExistingRowsOnce) {
  CreateItems();
  db_->Query("INSERT INTO items (id, org, name) VALUES (1, 'org_a', 'a'), (2, 'org_a', 'b'), "
             "(3, 'org_b', 'c')");
  auto source = StartSource(Config({{"items", "", {}, {}}}, "initial"));
  ASSERT_TRUE(WaitForEvents(3, source.get()));
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("UPDATE items SET name = 'b2' WHERE id = 2");
  ASSERT_TRUE(WaitForEvents(4, source.get()));
  std::vector<Stored> e = annals_->Events("");
  ASSERT_EQ(e.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(e[i].action(), "items.snapshotted");
    EXPECT_EQ(e[i].changes().at("op"), "snapshot");
    EXPECT_FALSE(e[i].changes().contains("before"));
    EXPECT_LT(e[i].record.fields.occurred_at, e[3].record.fields.occurred_at);
    EXPECT_FALSE(e[i].at("source").as_object().contains("xid"));
  }
  EXPECT_EQ(e[3].action(), "items.updated");
  EXPECT_EQ(e[3].before().at("name"), "b");

  // A restart resumes the stream; the snapshot is never taken again.
  source->Stop();
  db_->Query("INSERT INTO items (id, org) VALUES (4, 'org_a')");
  auto again = StartSource(Config({{"items", "", {}, {}}}, "initial"));
  ASSERT_TRUE(WaitForEvents(5, again.get()));
  ASSERT_TRUE(WaitForState(again.get(), "streaming"));
  std::vector<Stored> all = annals_->Events("");
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[4].action(), "items.created");
  EXPECT_EQ(annals_->Events("items.snapshotted").size(), 3u);
}

TEST_F(PostgresCdcTest, ExcludedColumnsAreAbsentAndMaskedOnesAreKeyedHashes) {
  db_->Query("CREATE TABLE users (id int PRIMARY KEY, org text, email text, password text, "
             "name text); ALTER TABLE users REPLICA IDENTITY FULL;"
             "CREATE PUBLICATION pub FOR TABLE users;");
  const PostgresSourceConfig config = Config({{"users", "user", {"password"}, {"email"}}});
  auto source = StartSource(config);
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("INSERT INTO users VALUES (1, 'org_a', 'ada@example.com', 's3cret', 'Ada'), "
             "(2, 'org_a', 'ada@example.com', 'x', 'Ada again'), (3, 'org_a', NULL, NULL, 'Nobody')");
  db_->Query("UPDATE users SET name = 'Ada L.' WHERE id = 1");
  ASSERT_TRUE(WaitForEvents(4, source.get()));
  std::vector<Stored> e = annals_->Events("");
  ASSERT_EQ(e.size(), 4u);
  const std::string hash(e[0].after().at("email").as_string());
  EXPECT_EQ(hash.rfind("hmac-sha256:", 0), 0u);
  EXPECT_EQ(hash.size(), 12u + 64);
  EXPECT_EQ(e[1].after().at("email").as_string(), hash);  // equal values, equal hashes
  EXPECT_TRUE(e[2].after().at("email").is_null());
  for (const Stored& s : e) {
    EXPECT_FALSE(s.after().contains("password"));
    EXPECT_EQ(s.json.at("changes").as_object().contains("before") ? 1 : 0,
              s.action() == "user.updated" ? 1 : 0);
  }
  EXPECT_EQ(e[3].before().at("email").as_string(), hash);
  EXPECT_EQ(e[3].after().at("email").as_string(), hash);
  EXPECT_EQ(Canonical(e[0].json).find("ada@example.com"), std::string::npos);
  EXPECT_EQ(Canonical(e[0].json).find("s3cret"), std::string::npos);

  // The key lives in the store, not in the configuration, and survives a restart.
  auto key = annals_->store()->GetMeta(kMaskKeyMeta);
  ASSERT_TRUE(key.ok() && key->has_value());
  EXPECT_EQ((*key)->size(), 32u);
  source->Stop();
  sources_.clear();
  annals_->Close();
  annals_->Open();
  auto again = StartSource(config);
  db_->Query("INSERT INTO users VALUES (4, 'org_a', 'ada@example.com', 'p', 'Ada 4')");
  ASSERT_TRUE(WaitForEvents(5, again.get()));
  EXPECT_EQ(annals_->Events("")[4].after().at("email").as_string(), hash);
}

TEST_F(PostgresCdcTest, TableWithoutReplicaIdentityFullIsRefusedUntilFixed) {
  db_->Query("CREATE TABLE items (id int PRIMARY KEY, org text); CREATE PUBLICATION pub FOR TABLE items;");
  auto source = StartSource(Config());
  ASSERT_TRUE(WaitForState(source.get(), "error"));
  const std::string error = source->Status().last_error;
  EXPECT_NE(error.find("public.items"), std::string::npos) << error;
  EXPECT_NE(error.find("REPLICA IDENTITY FULL"), std::string::npos) << error;
  // Fixing the table is enough: the source checks again on its own.
  db_->Query("ALTER TABLE items REPLICA IDENTITY FULL");
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("INSERT INTO items VALUES (1, 'org_a')");
  ASSERT_TRUE(WaitForEvents(1, source.get()));
}

TEST_F(PostgresCdcTest, ReplicaIdentityChangedMidStreamStopsAtThatChange) {
  CreateItems();
  auto source = StartSource(Config());
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("INSERT INTO items (id, org) VALUES (1, 'org_a')");
  ASSERT_TRUE(WaitForEvents(1, source.get()));
  db_->Query("ALTER TABLE items REPLICA IDENTITY DEFAULT");
  db_->Query("UPDATE items SET name = 'x' WHERE id = 1");
  ASSERT_TRUE(WaitForState(source.get(), "error"));
  EXPECT_NE(source->Status().last_error.find("REPLICA IDENTITY FULL"), std::string::npos)
      << source->Status().last_error;
  EXPECT_EQ(annals_->Events("").size(), 1u);  // nothing recorded without its old row
}

TEST_F(PostgresCdcTest, TableWithoutPrimaryKeyIsRefused) {
  db_->Query("CREATE TABLE nopk (a int, org text); ALTER TABLE nopk REPLICA IDENTITY FULL;"
             "CREATE PUBLICATION pub FOR TABLE nopk;");
  auto source = StartSource(Config({{"nopk", "", {}, {}}}));
  ASSERT_TRUE(WaitForState(source.get(), "error"));
  EXPECT_NE(source->Status().last_error.find("public.nopk has no primary key"), std::string::npos)
      << source->Status().last_error;
}

TEST_F(PostgresCdcTest, MissingPublicationIsAClearError) {
  db_->Query("CREATE TABLE items (id int PRIMARY KEY, org text); ALTER TABLE items REPLICA IDENTITY FULL;");
  PostgresSourceConfig config = Config();
  config.publication = "nope";
  auto source = StartSource(config);
  ASSERT_TRUE(WaitForState(source.get(), "error"));
  EXPECT_NE(source->Status().last_error.find("publication nope does not exist"), std::string::npos)
      << source->Status().last_error;
  EXPECT_EQ(SlotValue("slot_name"), "");  // nothing was created
}

TEST_F(PostgresCdcTest, RowsWithoutAValidOrganizationAreRecordedAsRejectedAndSkipped) {
  CreateItems();
  auto source = StartSource(Config());
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("INSERT INTO items (id, org) VALUES (1, NULL), (2, 'org_unknown'), (3, 'org_a'), "
             "(4, '')");
  db_->Query("INSERT INTO items (id, org) VALUES (5, 'org_b')");
  ASSERT_TRUE(WaitForEvents(2, source.get()));
  ASSERT_TRUE(WaitForEvents(3, source.get(), "annals.source.change_rejected"));
  std::vector<Stored> ok = annals_->Events("");
  ASSERT_EQ(ok.size(), 2u);
  EXPECT_EQ(ok[0].target_id(), "3");
  EXPECT_EQ(ok[1].target_id(), "5");
  std::vector<Stored> rejected = annals_->Events("annals.source.change_rejected");
  ASSERT_EQ(rejected.size(), 3u);
  const json::object& md = rejected[1].at("metadata").as_object();
  EXPECT_EQ(rejected[1].org(), "annals");
  EXPECT_EQ(md.at("table"), "public.items");
  EXPECT_EQ(md.at("item_id"), "2");
  EXPECT_EQ(md.at("operation"), "insert");
  EXPECT_NE(std::string(md.at("error").as_string()).find("org_unknown"), std::string::npos);
  EXPECT_NE(std::string(rejected[0].at("metadata").at("error").as_string()).find("NULL"),
            std::string::npos);
  SourceStatus st = source->Status();
  EXPECT_EQ(st.records_failed, 3u);
  EXPECT_EQ(st.events_stored, 2u);
  EXPECT_NE(st.last_error.find("was not recorded"), std::string::npos) << st.last_error;
  EXPECT_EQ(st.state, "streaming");
}

TEST_F(PostgresCdcTest, UnknownOrganizationsAreCreatedWhenAutoCreateIsOn) {
  CreateItems();
  auto source = StartSource(Config(), FastOptions(), /*auto_create=*/true);
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("INSERT INTO items (id, org) VALUES (1, 'org_new'), (2, 'org_new')");
  ASSERT_TRUE(WaitForEvents(2, source.get()));
  std::vector<Stored> created = annals_->Events("annals.organization.created");
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0].target_id(), "org_new");
  EXPECT_EQ(annals_->Events("")[0].org(), "org_new");
}

TEST_F(PostgresCdcTest, SlotDroppedBetweenRunsFailsLoudly) {
  CreateItems();
  auto source = StartSource(Config());
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("INSERT INTO items (id, org) VALUES (1, 'org_a')");
  ASSERT_TRUE(WaitForEvents(1, source.get()));
  source->Stop();
  // The server's walsender lets go of the slot a moment after annals disconnected (longer on
  // a loaded machine): until then the slot is active and cannot be dropped.
  ASSERT_TRUE(WaitFor(
      [&] {
        db_->TryQuery("SELECT pg_drop_replication_slot('" + slot_ + "')");
        return SlotValue("slot_name").empty();
      },
      "the slot to be dropped"));
  db_->Query("INSERT INTO items (id, org) VALUES (2, 'org_a')");
  auto again = StartSource(Config());
  ASSERT_TRUE(WaitForState(again.get(), "failed"));
  EXPECT_NE(again->Status().last_error.find("no longer exists"), std::string::npos)
      << again->Status().last_error;
  EXPECT_EQ(SlotValue("slot_name"), "");  // never silently recreated
  EXPECT_EQ(annals_->Events("").size(), 1u);
}

TEST_F(PostgresCdcTest, SlotDroppedWhileRunningFailsLoudly) {
  CreateItems();
  PostgresSourceOptions options = FastOptions();
  options.backoff_initial = milliseconds(2000);  // room to drop the slot while it is free
  auto source = StartSource(Config(), options);
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("INSERT INTO items (id, org) VALUES (1, 'org_a')");
  ASSERT_TRUE(WaitForEvents(1, source.get()));
  ASSERT_TRUE(WaitFor(
      [&] {
        db_->TryQuery("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                      "WHERE slot_name = '" + slot_ + "' AND active_pid IS NOT NULL");
        db_->TryQuery("SELECT pg_drop_replication_slot('" + slot_ + "')");
        return SlotValue("slot_name").empty();
      },
      "the slot to be dropped"));
  ASSERT_TRUE(WaitForState(source.get(), "failed"));
  EXPECT_NE(source->Status().last_error.find("no longer exists"), std::string::npos)
      << source->Status().last_error;
}

TEST_F(PostgresCdcTest, InvalidatedSlotFailsLoudly) {
  CreateItems();
  auto source = StartSource(Config());
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("INSERT INTO items (id, org) VALUES (1, 'org_a')");
  ASSERT_TRUE(WaitForEvents(1, source.get()));
  source->Stop();
  // The server removes WAL the stopped slot still needs, as max_slot_wal_keep_size allows.
  db_->Query("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
  db_->Query("SELECT pg_reload_conf()");
  bool lost = false;
  for (int i = 0; i < 10 && !lost; ++i) {
    for (int k = 0; k < 3; ++k) {
      db_->Query("INSERT INTO items (id, org) SELECT g, 'org_a' FROM generate_series(" +
                 std::to_string(1000 * (i * 3 + k) + 10) + ", " + std::to_string(1000 * (i * 3 + k) + 20) +
                 ") g; SELECT pg_switch_wal()");
    }
    db_->Query("CHECKPOINT");
    lost = SlotValue("wal_status") == "lost";
  }
  db_->Query("ALTER SYSTEM RESET max_slot_wal_keep_size");
  db_->Query("SELECT pg_reload_conf()");
  ASSERT_TRUE(lost) << "the slot was not invalidated";
  auto again = StartSource(Config());
  ASSERT_TRUE(WaitForState(again.get(), "failed"));
  EXPECT_NE(again->Status().last_error.find("invalidated"), std::string::npos)
      << again->Status().last_error;
}

TEST_F(PostgresCdcTest, ConnectionCutInTheMiddleOfATransactionLosesAndRepeatsNothing) {
  CreateItems();
  PostgresSourceOptions options = FastOptions();
  options.chunk_events = 100;
  std::atomic<int> cuts{0};
  const std::string dsn = server_->Dsn(database_);
  const std::string slot = slot_;
  // Right after the first chunk of the big transaction is handed to the ingestor, the
  // server ends the walsender (as an administrator or a failover would).
  options.after_submit = [&cuts, dsn, slot] {
    if (cuts.fetch_add(1) != 0) return;
    PgClient admin(dsn);
    admin.Query("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE "
                "slot_name = '" + slot + "'");
  };
  auto source = StartSource(Config(), options);
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("INSERT INTO items (id, org, name) SELECT g, 'org_a', 'n' || g FROM "
             "generate_series(1, 3000) g");
  ASSERT_TRUE(WaitForEvents(3000, source.get()));
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("INSERT INTO items (id, org) VALUES (3001, 'org_a')");
  ASSERT_TRUE(WaitForEvents(3001, source.get()));
  std::vector<Stored> e = annals_->Events("");
  EXPECT_EQ(e.size(), 3001u);
  std::set<std::string> ids;
  for (const Stored& s : e) EXPECT_TRUE(ids.insert(s.target_id()).second) << s.target_id();
  EXPECT_GE(cuts.load(), 2);  // the transaction was submitted again after the cut
  EXPECT_EQ(source->Status().events_stored, 3001u);  // redelivered duplicates not counted
}

TEST_F(PostgresCdcTest, LargeTransactionIsSubmittedInChunksBeforeItsCommit) {
  CreateItems();
  PostgresSourceOptions options = FastOptions();
  options.chunk_events = 500;
  options.max_inflight_events = 1000;
  std::atomic<int> submissions{0};
  options.after_submit = [&submissions] { submissions.fetch_add(1); };
  auto source = StartSource(Config(), options);
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("INSERT INTO items (id, org) SELECT g, CASE WHEN g % 2 = 0 THEN 'org_a' ELSE "
             "'org_b' END FROM generate_series(1, 20000) g");
  ASSERT_TRUE(WaitForEvents(20000, source.get()));
  EXPECT_GE(submissions.load(), 40);
  EXPECT_EQ(annals_->Events("").size(), 20000u);
}

TEST_F(PostgresCdcTest, DatabaseRestartIsAnErrorThenStreamingAgain) {
  CreateItems();
  auto source = StartSource(Config());
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("INSERT INTO items (id, org) VALUES (1, 'org_a')");
  ASSERT_TRUE(WaitForEvents(1, source.get()));
  db_.reset();
  ASSERT_TRUE(server_->Stop());
  ASSERT_TRUE(WaitForState(source.get(), "error"));
  EXPECT_FALSE(source->Status().last_error.empty());
  ASSERT_TRUE(server_->StartAgain());
  db_ = std::make_unique<PgClient>(server_->Dsn(database_));
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("INSERT INTO items (id, org) VALUES (2, 'org_a')");
  ASSERT_TRUE(WaitForEvents(2, source.get()));
  EXPECT_EQ(annals_->Events("").size(), 2u);
  EXPECT_EQ(source->Status().last_error, "");
}

TEST_F(PostgresCdcTest, SilentServerIsNoticedAndTheStreamReopened) {
  CreateItems();
  PostgresSourceOptions options = FastOptions();
  options.silence_timeout = milliseconds(1000);
  auto source = StartSource(Config(), options);
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("INSERT INTO items (id, org) VALUES (1, 'org_a')");
  ASSERT_TRUE(WaitForEvents(1, source.get()));
  // The walsender stops answering without closing its connection (as behind a network
  // partition).
  const std::string pid = SlotValue("active_pid");
  ASSERT_FALSE(pid.empty());
  ASSERT_EQ(::kill(std::stoi(pid), SIGSTOP), 0);
  const bool noticed = WaitFor(
      [&] { return source->Status().last_error.find("sent nothing") != std::string::npos; },
      "the silence to be noticed", source.get());
  ::kill(std::stoi(pid), SIGCONT);
  ASSERT_TRUE(noticed);
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  db_->Query("INSERT INTO items (id, org) VALUES (2, 'org_a')");
  ASSERT_TRUE(WaitForEvents(2, source.get()));
  EXPECT_EQ(annals_->Events("").size(), 2u);
}

TEST_F(PostgresCdcTest, IdleSourceConfirmsTheServerPosition) {
  CreateItems();
  PostgresSourceOptions options = FastOptions();
  options.keepalive_interval = milliseconds(200);
  auto source = StartSource(Config(), options);
  ASSERT_TRUE(WaitForState(source.get(), "streaming"));
  // WAL written by other databases (and other tables) moves the server ahead; the idle slot
  // follows it, so its WAL does not pile up.
  db_->Query("CREATE TABLE unrelated (x int); INSERT INTO unrelated SELECT generate_series(1, 1000)");
  const std::string target = db_->Query("SELECT pg_current_wal_lsn()")[0][0];
  ASSERT_TRUE(WaitFor(
      [&] {
        db_->Query("SELECT pg_logical_emit_message(false, 'tick', '')");
        return SlotValue("confirmed_flush_lsn >= '" + target + "'::pg_lsn") == "t";
      },
      "the idle slot to advance", source.get()));
  EXPECT_EQ(annals_->Events("").size(), 0u);
}

}  // namespace
}  // namespace annals::testing
