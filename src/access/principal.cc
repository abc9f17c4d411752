#include "access/principal.h"

namespace annals {

uint8_t ScopeFromName(std::string_view name) {
  for (size_t i = 0; i < std::size(kScopeNames); ++i) {
    if (kScopeNames[i] == name) return static_cast<uint8_t>(1u << i);
  }
  return 0;
}

std::vector<std::string> ScopeNames(uint8_t scopes) {
  std::vector<std::string> out;
  for (size_t i = 0; i < std::size(kScopeNames); ++i) {
    if (scopes & (1u << i)) out.emplace_back(kScopeNames[i]);
  }
  return out;
}

}  // namespace annals
