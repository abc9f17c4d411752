// Event ids: "evt_" + 26 Crockford base32 characters, laid out like a ULID (130 bits, the
// top 2 zero): a 48-bit millisecond timestamp (received_at), then 80 bits that a ULID fills
// with randomness and annals fills with the event's 64-bit global position and 16 random
// bits. Ids therefore sort by time and then by write order, are unique (positions are), and
// name their event's position, so looking an event up by id needs no separate index.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "annals/event.h"

namespace annals {

std::string MakeEventId(TimestampUs received_at, uint64_t position, uint16_t salt);

// The position an id names, or nullopt when `id` is not a well-formed event id. The caller
// must still compare the stored event's id with `id` (the time and salt bits must match).
std::optional<uint64_t> EventIdPosition(std::string_view id);

}  // namespace annals
