#include "domain/json_patch.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <random>

namespace annals {
namespace {

namespace json = boost::json;

std::string Patch(const char* from, const char* to) {
  return json::serialize(JsonPatch(json::parse(from), json::parse(to)));
}

TEST(JsonPatchTest, MembersAddedRemovedAndReplacedInKeyOrder) {
  EXPECT_EQ(Patch(R"({"state":"open","owner":"ada","n":1})", R"({"state":"closed","n":1,"tags":["x"]})"),
            R"([{"op":"remove","path":"/owner"},{"op":"replace","path":"/state","value":"closed"},)"
            R"({"op":"add","path":"/tags","value":["x"]}])");
  EXPECT_EQ(Patch(R"({"a":{"b":1,"c":2}})", R"({"a":{"b":1,"c":3}})"),
            R"([{"op":"replace","path":"/a/c","value":3}])");
  EXPECT_EQ(Patch(R"({"a":1})", R"({"a":1.0})"), "[]");  // numbers by value
  EXPECT_EQ(Patch(R"({"a":1})", R"({"a":"1"})"), R"([{"op":"replace","path":"/a","value":"1"}])");
  EXPECT_EQ(Patch(R"({"a/b":1,"m~n":2})", R"({"a/b":2})"),
            R"([{"op":"replace","path":"/a~1b","value":2},{"op":"remove","path":"/m~0n"}])");
  EXPECT_EQ(Patch("{}", "{}"), "[]");
  EXPECT_EQ(Patch("{}", R"({"x":null})"), R"([{"op":"add","path":"/x","value":null}])");
}

TEST(JsonPatchTest, Arrays) {
  EXPECT_EQ(Patch(R"({"l":[1,2,3]})", R"({"l":[1,5,3]})"), R"([{"op":"replace","path":"/l/1","value":5}])");
  EXPECT_EQ(Patch(R"({"l":[1,2]})", R"({"l":[1,2,3]})"), R"([{"op":"replace","path":"/l","value":[1,2,3]}])");
  EXPECT_EQ(Patch("[1]", R"({"a":1})"), R"([{"op":"replace","path":"","value":{"a":1}}])");
}

// Applying the patch always yields the target, for random documents.
TEST(JsonPatchTest, ApplyingThePatchYieldsTheTarget) {
  std::mt19937 rng(42);
  std::function<json::value(int)> gen = [&](int depth) -> json::value {
    switch (rng() % (depth > 2 ? 4 : 6)) {
      case 0: return json::value(static_cast<int64_t>(rng() % 5));
      case 1: return json::value(std::string(1, static_cast<char>('a' + rng() % 3)));
      case 2: return json::value(rng() % 2 == 0);
      case 3: return json::value(nullptr);
      case 4: {
        json::array a;
        for (size_t i = rng() % 4; i > 0; --i) a.push_back(gen(depth + 1));
        return a;
      }
      default: {
        json::object o;
        for (size_t i = rng() % 5; i > 0; --i) o[std::string(1, static_cast<char>('k' + rng() % 5))] = gen(depth + 1);
        return o;
      }
    }
  };
  for (int i = 0; i < 2000; ++i) {
    json::value from = gen(0), to = gen(0);
    json::array patch = JsonPatch(from, to);
    json::value doc = from;
    ASSERT_TRUE(ApplyJsonPatch(patch, &doc)) << json::serialize(patch);
    EXPECT_EQ(doc, to) << json::serialize(from) << " -> " << json::serialize(to) << " via "
                       << json::serialize(patch);
    EXPECT_TRUE(JsonPatch(to, to).empty());
  }
}

}  // namespace
}  // namespace annals
