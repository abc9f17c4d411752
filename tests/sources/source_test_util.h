// Helpers for the change-capture mapping tests.
#pragma once

#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "annals/event.h"

#ifndef ANNALS_TESTDATA
#error "ANNALS_TESTDATA must name tests/testdata"
#endif

namespace annals::testing {

inline std::string ReadTestData(const std::string& relative) {
  std::ifstream in(std::string(ANNALS_TESTDATA) + "/" + relative, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The event a draft would store, as JSON (server fields filled with placeholders).
inline boost::json::value DraftJson(const EventDraft& draft) {
  return boost::json::parse(RenderCanonicalEvent(draft, "evt_test", 1, 0));
}

}  // namespace annals::testing
