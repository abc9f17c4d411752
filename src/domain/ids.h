// Identifiers: ULID-style event ids and random tokens for keys and links.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "annals/event.h"

namespace annals {

// Generates event ids "evt_" + 26 Crockford base32 characters: a 48-bit big-endian
// millisecond timestamp followed by 80 random bits (the ULID layout). Ids from one generator
// are strictly increasing, both as 128-bit numbers and as strings:
//  * within one millisecond the 80-bit random part is incremented by one;
//  * if the clock goes backwards, the last timestamp is kept and the random part incremented;
//  * if the random part would overflow, the timestamp advances by one millisecond.
// Thread-compatible: the owner serializes calls (the single writer thread does).
class IdGenerator {
 public:
  // Seeds the random part from std::random_device.
  IdGenerator();
  // Deterministic generator for tests.
  explicit IdGenerator(uint64_t seed);

  // `now` is clamped to [0, 2^48) milliseconds.
  std::string NextEventId(TimestampUs now);

 private:
  void DrawRandom();

  std::mt19937_64 rng_;
  int64_t last_ms_ = -1;
  uint16_t random_hi_ = 0;  // top 16 of the 80 random bits
  uint64_t random_lo_ = 0;  // low 64 of the 80 random bits
};

// True if `id` has the exact shape NextEventId produces: "evt_" and 26 characters of the
// upper-case Crockford alphabet 0-9A-HJKMNP-TV-Z, the first at most '7' (128 bits).
bool IsEventId(std::string_view id);

// Returns `bytes` cryptographically random bytes (OpenSSL RAND_bytes) as unpadded
// base64url. Aborts the process if the random generator fails: a predictable key must
// never be issued.
std::string RandomToken(size_t bytes);

}  // namespace annals
