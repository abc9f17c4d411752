// /v1/openapi.json describes exactly the routes the server has.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

#include "harness.h"
#include "server/api.h"
#include "server/openapi.h"

namespace annals::testing {
namespace {

std::set<std::pair<std::string, std::string>> DocumentedRoutes(const boost::json::value& doc) {
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      std::string m(method);
      for (char& ch : m) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      out.emplace(std::string(path), m);
    }
  }
  return out;
}

TEST(OpenApiTest, DocumentMatchesTheRouteTable) {
  boost::json::value doc = boost::json::parse(OpenApiDocument());
  EXPECT_EQ(doc.at("openapi").as_string(), "3.1.0");
  Api api(ApiOptions{}, ApiDeps{});
  std::set<std::pair<std::string, std::string>> routes;
  for (const RouteInfo& r : api.Routes()) routes.emplace(r.pattern, r.method);
  EXPECT_EQ(DocumentedRoutes(doc), routes);
  // Public routes are exactly the documented security-free ones.
  for (const RouteInfo& r : api.Routes()) {
    std::string m = r.method;
    for (char& ch : m) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const auto& op = doc.at("paths").at(r.pattern).at(m).as_object();
    const bool documented_public = op.contains("security") && op.at("security").as_array().empty();
    EXPECT_EQ(documented_public, !r.authenticated) << r.method << " " << r.pattern;
  }
}

TEST(OpenApiTest, ServedAndEveryDocumentedRouteAnswers) {
  TempDir dir;
  ServerProcess server;
  ASSERT_TRUE(server.Start(dir.path())) << server.StderrText();
  HttpClient c(server.url(), kAdminKey);
  auto r = c.Send("GET", "/v1/openapi.json");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200);
  boost::json::value doc = boost::json::parse(r->body);
  EXPECT_EQ(r->body, std::string(OpenApiDocument()));
  for (const auto& [path, method] : DocumentedRoutes(doc)) {
    if (path == "/v1/events/stream") continue;  // a stream; covered by the tail tests
    std::string concrete = path;
    const size_t brace = concrete.find("{id}");
    if (brace != std::string::npos) concrete.replace(brace, 4, "x");
    auto answer = c.Send(method, concrete, method == "GET" || method == "DELETE" ? "" : "{}",
                         method == "GET" || method == "DELETE" ? "" : "application/json");
    ASSERT_TRUE(answer.ok());
    EXPECT_NE(answer->status, 405) << method << " " << path;
    EXPECT_EQ(answer->body.find("no such endpoint"), std::string::npos) << method << " " << path;
  }
}

}  // namespace
}  // namespace annals::testing
