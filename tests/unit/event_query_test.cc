// Query parameter parsing and cursor encoding.
#include "query/event_query.h"

#include <gtest/gtest.h>

namespace annals {
namespace {

TEST(CursorTest, RoundTripsAndIsUrlSafe) {
  for (ListKey k : {ListKey{0, 1}, ListKey{-62135596800000000, 7}, ListKey{1764381784123456, ~0ULL},
                    ListKey{253402300799999999, 42}}) {
    std::string c = EncodeCursor(k);
    EXPECT_EQ(c.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
    auto d = DecodeCursor(c);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, k);
  }
}

TEST(CursorTest, MalformedCursorsAreRejected) {
  for (const char* bad : {"", "AAAA", "!!!!", "AQAAAAAAAAAAAAAAAAAAAAAA", "not a cursor at all"}) {
    auto d = DecodeCursor(bad);
    EXPECT_FALSE(d.ok()) << bad;
    EXPECT_EQ(d.status().error_code(), "invalid_cursor");
  }
  // Right length, wrong version byte.
  std::string c = EncodeCursor({5, 5});
  c[0] = c[0] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(DecodeCursor(c).ok());
}

TEST(ParseListQueryTest, ParsesTheWholeVocabulary) {
  QueryParams p = {{"organization_id", "org_1"}, {"action", "finding.*"},
                   {"action", "user.login"},     {"actor_id", "u1"},
                   {"target_type", "finding"},   {"target_id", "F-1"},
                   {"from", "2026-01-01T00:00:00Z"}, {"to", "2026-01-02T00:00:00.5+01:00"},
                   {"order", "asc"},             {"limit", "1000"}};
  auto r = ParseListQuery(p, "");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->filter.organization_id, "org_1");
  EXPECT_EQ(r->filter.action_prefixes, std::vector<std::string>{"finding."});
  EXPECT_EQ(r->filter.actions, std::vector<std::string>{"user.login"});
  EXPECT_EQ(r->filter.actor_ids, std::vector<std::string>{"u1"});
  EXPECT_EQ(*r->filter.from, 1767225600000000);
  EXPECT_EQ(*r->filter.to, 1767225600000000 + 23LL * 3600 * 1000000 + 500000);
  EXPECT_FALSE(r->descending);
  EXPECT_EQ(r->limit, 1000u);
}

TEST(ParseListQueryTest, RejectsBadParametersWithTheirPaths) {
  struct Case {
    QueryParams params;
    std::string path;
  };
  std::vector<Case> cases = {
      {{{"organization_id", "o"}, {"limit", "0"}}, "/query/limit"},
      {{{"organization_id", "o"}, {"limit", "1001"}}, "/query/limit"},
      {{{"organization_id", "o"}, {"limit", "ten"}}, "/query/limit"},
      {{{"organization_id", "o"}, {"order", "sideways"}}, "/query/order"},
      {{{"organization_id", "o"}, {"from", "yesterday"}}, "/query/from"},
      {{{"organization_id", "o"}, {"action", "Bad Action"}}, "/query/action"},
      {{{"organization_id", "o"}, {"action", ".*"}}, "/query/action"},
      {{{"organization_id", "o"}, {"colour", "red"}}, "/query/colour"},
      {{{"organization_id", "o"}, {"actor_id", ""}}, "/query/actor_id"},
      {{}, "/query/organization_id"},
      {{{"organization_id", "o"}, {"from", "2026-01-02T00:00:00Z"}, {"to", "2026-01-01T00:00:00Z"}},
       "/query/to"},
      {{{"organization_id", "o"}, {"after", EncodeCursor({1, 1})}, {"before", EncodeCursor({1, 1})}},
       "/query/before"},
  };
  for (const Case& c : cases) {
    auto r = ParseListQuery(c.params, "");
    ASSERT_FALSE(r.ok()) << c.path;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    ASSERT_FALSE(r.status().details().empty()) << c.path;
    EXPECT_EQ(r.status().details()[0].path, c.path);
  }
  auto bad_cursor = ParseListQuery({{"organization_id", "o"}, {"after", "zzz"}}, "");
  EXPECT_EQ(bad_cursor.status().error_code(), "invalid_cursor");
}

TEST(ParseListQueryTest, OrganizationKeyImpliesItsOrganization) {
  auto r = ParseListQuery({}, "org_mine");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->filter.organization_id, "org_mine");
  auto other = ParseListQuery({{"organization_id", "org_theirs"}}, "org_mine");
  EXPECT_EQ(other.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace annals
