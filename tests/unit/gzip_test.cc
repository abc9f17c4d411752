#include "common/gzip.h"

#include <gtest/gtest.h>

#include <string>

namespace annals {
namespace {

TEST(Gzip, RoundTripsAndWritesTheGzipHeader) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data += std::to_string(i * 7919 % 1000) + ",";
  for (const std::string& input : {std::string(), std::string("x"), data}) {
    Result<std::string> packed = GzipCompress(input);
    ASSERT_TRUE(packed.ok()) << packed.status().ToString();
    ASSERT_GE(packed->size(), 18u);
    EXPECT_EQ(static_cast<unsigned char>((*packed)[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>((*packed)[1]), 0x8b);
    Result<std::string> unpacked = GzipDecompress(*packed, input.size() + 1);
    ASSERT_TRUE(unpacked.ok()) << unpacked.status().ToString();
    EXPECT_EQ(*unpacked, input);
  }
  EXPECT_LT(GzipCompress(data)->size(), data.size() / 2);
}

TEST(Gzip, DecompressRefusesBadInputAndTooMuchOutput) {
  EXPECT_EQ(GzipDecompress("", 100).status().error_code(), "invalid_gzip");
  EXPECT_EQ(GzipDecompress("not gzip at all", 100).status().error_code(), "invalid_gzip");
  Result<std::string> packed = GzipCompress(std::string(10000, 'a'));
  ASSERT_TRUE(packed.ok());
  EXPECT_EQ(GzipDecompress(packed->substr(0, packed->size() / 2), 1 << 20).status().error_code(),
            "invalid_gzip");
  EXPECT_EQ(GzipDecompress(*packed, 9999).status().code(), Code::kTooLarge);
  // Two members one after the other decompress to both contents.
  Result<std::string> b = GzipCompress("tail");
  ASSERT_TRUE(b.ok());
  Result<std::string> both = GzipDecompress(*packed + *b, 1 << 20);
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  EXPECT_EQ(*both, std::string(10000, 'a') + "tail");
}

}  // namespace
}  // namespace annals
