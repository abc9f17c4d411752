// The OpenAPI 3.1 description of the native /v1 API, served at /v1/openapi.json.
#pragma once

#include <string_view>

namespace annals {

// The document (JSON). Its paths and methods match Api::Routes(); a test checks that.
std::string_view OpenApiDocument();

}  // namespace annals
