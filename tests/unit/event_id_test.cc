#include "domain/event_id.h"

#include <gtest/gtest.h>

#include "domain/ids.h"

namespace annals {
namespace {

TEST(EventIdTest, EncodesPositionAndSortsByTimeThenPosition) {
  const TimestampUs t = 1764381784123456;
  std::string prev;
  for (uint64_t pos : {1ULL, 2ULL, 255ULL, 256ULL, 1ULL << 40, ~0ULL}) {
    std::string id = MakeEventId(t, pos, 0xBEEF);
    EXPECT_TRUE(IsEventId(id)) << id;
    EXPECT_EQ(id.size(), 30u);
    EXPECT_EQ(EventIdPosition(id), pos);
    if (!prev.empty()) {
      EXPECT_LT(prev, id);
    }
    prev = id;
  }
  // A later millisecond sorts after any position of an earlier one.
  EXPECT_LT(MakeEventId(t, ~0ULL, 0xFFFF), MakeEventId(t + 1000, 1, 0));
  // The time prefix is the ULID's: ids made at the same millisecond share 10 characters.
  EXPECT_EQ(MakeEventId(t, 1, 1).substr(0, 14), MakeEventId(t + 999 - 456, 7, 9).substr(0, 14));
}

TEST(EventIdTest, RejectsMalformedIds) {
  for (const char* bad : {"", "evt_", "evt_0123456789ABCDEFGHJKMNPQR", "evt_0123456789ABCDEFGHJKMNPQRSU",
                          "evt_0123456789ABCDEFGHJKMNPQRI", "abc_0123456789ABCDEFGHJKMNPQRS",
                          "evt_8123456789ABCDEFGHJKMNPQRS"}) {
    EXPECT_FALSE(EventIdPosition(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace annals
