#include "annals/status.h"

namespace annals {

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s = error_code_.empty() ? "error" : error_code_;
  s += ": ";
  s += message_;
  for (const auto& d : details_) {
    s += "; ";
    s += d.path;
    s += ": ";
    s += d.message;
  }
  return s;
}

}  // namespace annals
