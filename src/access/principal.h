// The authenticated caller of a request and what it may do.
// Plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace annals {

// Scopes (PRODUCT.md "Multi-tenancy and access"). A key holds a set of them; none implies
// another.
enum Scope : uint8_t {
  kScopeEventsWrite = 1 << 0,  // "events:write": send events
  kScopeEventsRead = 1 << 1,   // "events:read": list, get and tail events
  kScopeAdmin = 1 << 2,        // "admin": manage organizations, keys, streams, retention
};
inline constexpr uint8_t kAllScopes = kScopeEventsWrite | kScopeEventsRead | kScopeAdmin;

// Scope names in their canonical order.
inline constexpr std::string_view kScopeNames[] = {"events:write", "events:read", "admin"};

// "events:write" -> kScopeEventsWrite; 0 for an unknown name.
uint8_t ScopeFromName(std::string_view name);
// The names of the scopes in `scopes`, in canonical order.
std::vector<std::string> ScopeNames(uint8_t scopes);

struct Principal {
  std::string key_id;           // "admin" for the bootstrap admin key
  std::string key_name;
  std::string organization_id;  // "" for platform keys (every organization)
  uint8_t scopes = 0;

  bool platform() const { return organization_id.empty(); }
  bool Has(Scope s) const { return (scopes & s) != 0; }
  // True when the caller may act on `org` at all (its own organization, or any for
  // platform keys).
  bool CanSee(std::string_view org) const { return platform() || organization_id == org; }
};

}  // namespace annals
