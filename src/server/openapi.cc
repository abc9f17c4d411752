#include "server/openapi.h"

namespace annals {

std::string_view OpenApiDocument() {
  static constexpr std::string_view kDocument = R"json({"openapi":"3.1.0","info":{"title":"annals","version":"1"},"paths":{}})json";
  return kDocument;
}

}  // namespace annals
