#include "domain/ids.h"

#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

#include "common/sha256.h"

namespace annals {
namespace {

constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr int64_t kMaxMillis = (int64_t{1} << 48) - 1;

bool IsCrockfordUpper(char c) {
  if (c >= '0' && c <= '9') return true;
  if (c < 'A' || c > 'Z') return false;
  return c != 'I' && c != 'L' && c != 'O' && c != 'U';
}

}  // namespace

IdGenerator::IdGenerator() {
  std::random_device device;
  std::seed_seq seq{device(), device(), device(), device(), device(), device(), device(), device()};
  rng_.seed(seq);
}

IdGenerator::IdGenerator(uint64_t seed) : rng_(seed) {}

void IdGenerator::DrawRandom() {
  random_lo_ = rng_();
  random_hi_ = static_cast<uint16_t>(rng_() >> 48);
}

std::string IdGenerator::NextEventId(TimestampUs now) {
  int64_t ms = now < 0 ? 0 : now / 1000;
  if (ms > kMaxMillis) ms = kMaxMillis;
  if (ms > last_ms_) {
    last_ms_ = ms;
    DrawRandom();
  } else {
    // Same millisecond or the clock went back: stay on last_ms_ and count up.
    if (++random_lo_ == 0 && ++random_hi_ == 0) {
      // The 80-bit part wrapped: move to the next millisecond with fresh randomness.
      if (last_ms_ < kMaxMillis) ++last_ms_;
      DrawRandom();
    }
  }

  // 128 bits: [48-bit ms][16-bit random_hi][64-bit random_lo], as 26 5-bit digits; the
  // first digit holds only the top 3 bits (130 - 128 = 2 leading zero bits).
  const uint64_t hi = (static_cast<uint64_t>(last_ms_) << 16) | random_hi_;
  const uint64_t lo = random_lo_;
  std::string id = "evt_";
  id.resize(4 + 26);
  char* out = id.data() + 4;
  for (int i = 0; i < 26; ++i) {
    const int shift = 125 - 5 * i;  // bit offset of this digit's lowest bit
    uint64_t digit;
    if (shift >= 64) {
      digit = hi >> (shift - 64);
    } else if (shift > 59) {
      digit = (lo >> shift) | (hi << (64 - shift));
    } else {
      digit = lo >> shift;
    }
    out[i] = kCrockford[digit & 31];
  }
  return id;
}

bool IsEventId(std::string_view id) {
  if (id.size() != 30 || id.substr(0, 4) != "evt_") return false;
  if (id[4] < '0' || id[4] > '7') return false;
  for (size_t i = 4; i < id.size(); ++i) {
    if (!IsCrockfordUpper(id[i])) return false;
  }
  return true;
}

std::string RandomToken(size_t bytes) {
  std::string raw(bytes, '\0');
  if (bytes > 0 &&
      RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    std::fputs("annals: OpenSSL RAND_bytes failed; refusing to issue a predictable token\n",
               stderr);
    std::abort();
  }
  return Base64UrlEncode(raw);
}

}  // namespace annals
