#include "domain/event_id.h"

#include <algorithm>

namespace annals {

namespace {

constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr size_t kChars = 26;

int CrockfordValue(char c) {
  const char* p = std::find(kCrockford, kCrockford + 32, c);
  return p == kCrockford + 32 ? -1 : static_cast<int>(p - kCrockford);
}

}  // namespace

std::string MakeEventId(TimestampUs received_at, uint64_t position, uint16_t salt) {
  const uint64_t ms = static_cast<uint64_t>(std::max<TimestampUs>(received_at, 0) / 1000) &
                      ((uint64_t{1} << 48) - 1);
  // 130-bit value: ms (48) | position (64) | salt (16); held as hi (2+48 = 50 bits) and lo (80).
  unsigned __int128 lo = (static_cast<unsigned __int128>(position) << 16) | salt;
  std::string out = "evt_";
  out.resize(4 + kChars);
  // The low 80 bits are the last 16 characters; the 48-bit time the first 10 (its top 2 bits
  // of the first character are zero).
  for (size_t i = 0; i < 16; ++i) {
    out[4 + kChars - 1 - i] = kCrockford[static_cast<unsigned>(lo & 31)];
    lo >>= 5;
  }
  uint64_t hi = ms;
  for (size_t i = 0; i < 10; ++i) {
    out[4 + 9 - i] = kCrockford[hi & 31];
    hi >>= 5;
  }
  return out;
}

std::optional<uint64_t> EventIdPosition(std::string_view id) {
  if (id.size() != 4 + kChars || id.substr(0, 4) != "evt_") return std::nullopt;
  unsigned __int128 lo = 0;
  for (size_t i = 4 + 10; i < id.size(); ++i) {
    int v = CrockfordValue(id[i]);
    if (v < 0) return std::nullopt;
    lo = (lo << 5) | static_cast<unsigned>(v);
  }
  for (size_t i = 4; i < 4 + 10; ++i) {
    if (CrockfordValue(id[i]) < 0) return std::nullopt;
  }
  if (CrockfordValue(id[4]) > 7) return std::nullopt;  // more than 48 bits of time
  return static_cast<uint64_t>(lo >> 16);
}

}  // namespace annals
