// annals orgs and annals keys: organizations and API keys over /v1/orgs and /v1/api-keys.
#include <boost/json.hpp>
#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "domain/time.h"

namespace annals {

namespace {

// ---- organizations ----------------------------------------------------------------------

void PrintOrg(const boost::json::value& org, bool json) {
  if (json) return PrintJsonLine(org);
  PrintFields({{"id", Member(org, "id")},
               {"name", Member(org, "name")},
               {"external_id", Member(org, "external_id")},
               {"settings", Member(org, "settings")},
               {"created_at", Member(org, "created_at")},
               {"updated_at", Member(org, "updated_at")}});
}

std::string OrgPath(HttpClient& http, const std::string& id) {
  return "/v1/orgs/" + http.Escape(id);
}

// ---- API keys ---------------------------------------------------------------------------

std::string Scopes(const boost::json::value& key) {
  const auto* scopes = key.as_object().if_contains("scopes");
  if (scopes == nullptr || !scopes->is_array()) return "-";
  std::string out;
  for (const auto& s : scopes->as_array()) {
    if (!s.is_string()) continue;
    if (!out.empty()) out += ',';
    out += Printable(s.as_string());
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> KeyFields(const boost::json::value& key) {
  return {{"id", Member(key, "id")},
          {"name", Member(key, "name")},
          {"kind", Member(key, "kind")},
          {"organization_id", Member(key, "organization_id")},
          {"scopes", Scopes(key)},
          {"created_at", Member(key, "created_at")},
          {"created_by", Member(key, "created_by")},
          {"expires_at", Member(key, "expires_at")},
          {"last_used_at", Member(key, "last_used_at")},
          {"revoked_at", Member(key, "revoked_at")}};
}

std::string KeyPath(HttpClient& http, const std::string& id) {
  return "/v1/api-keys/" + http.Escape(id);
}

}  // namespace

int RunOrgsList(const ClientArgs& client, const OrgsArgs& args) {
  HttpClient http(client.server, client.key, client.ca_file);
  std::optional<std::vector<boost::json::value>> orgs = ListAll(http, "/v1/orgs");
  if (!orgs) return 1;
  if (args.json) {
    for (const auto& org : *orgs) PrintJsonLine(org);
    return 0;
  }
  Table table({"ID", "NAME", "EXTERNAL_ID", "CREATED_AT"});
  for (const auto& org : *orgs) {
    table.Add({Member(org, "id"), Member(org, "name"), Member(org, "external_id"),
               ShortTime(Member(org, "created_at"))});
  }
  table.Print();
  return 0;
}

int RunOrgsCreate(const ClientArgs& client, const OrgsArgs& args) {
  boost::json::object body;
  if (args.new_id) body["id"] = *args.new_id;
  if (args.name) body["name"] = *args.name;
  if (args.external_id) body["external_id"] = *args.external_id;
  HttpClient http(client.server, client.key, client.ca_file);
  std::optional<boost::json::value> org =
      CallJson(http, "POST", "/v1/orgs", 201, boost::json::serialize(body));
  if (!org) return 1;
  PrintOrg(*org, args.json);
  return 0;
}

int RunOrgsGet(const ClientArgs& client, const OrgsArgs& args) {
  HttpClient http(client.server, client.key, client.ca_file);
  std::optional<boost::json::value> org = CallJson(http, "GET", OrgPath(http, args.id), 200);
  if (!org) return 1;
  PrintOrg(*org, args.json);
  return 0;
}

int RunOrgsUpdate(const ClientArgs& client, const OrgsArgs& args) {
  boost::json::object body;
  if (args.name) body["name"] = *args.name;
  if (args.external_id) body["external_id"] = *args.external_id;
  if (args.clear_external_id) body["external_id"] = nullptr;
  if (body.empty()) {
    return UsageError("nothing to change: give --name, --external-id or --clear-external-id");
  }
  HttpClient http(client.server, client.key, client.ca_file);
  std::optional<boost::json::value> org =
      CallJson(http, "PATCH", OrgPath(http, args.id), 200, boost::json::serialize(body));
  if (!org) return 1;
  PrintOrg(*org, args.json);
  return 0;
}

int RunKeysList(const ClientArgs& client, const KeysArgs& args) {
  HttpClient http(client.server, client.key, client.ca_file);
  std::string path = "/v1/api-keys";
  if (!args.org.empty()) path += "?organization_id=" + http.Escape(args.org);
  std::optional<std::vector<boost::json::value>> keys = ListAll(http, path);
  if (!keys) return 1;
  if (args.json) {
    for (const auto& key : *keys) PrintJsonLine(key);
    return 0;
  }
  Table table({"ID", "NAME", "KIND", "ORGANIZATION", "SCOPES", "CREATED", "EXPIRES",
               "LAST USED", "REVOKED"});
  for (const auto& key : *keys) {
    table.Add({Member(key, "id"), Member(key, "name"), Member(key, "kind"),
               Member(key, "organization_id"), Scopes(key), ShortTime(Member(key, "created_at")),
               ShortTime(Member(key, "expires_at")), ShortTime(Member(key, "last_used_at")),
               ShortTime(Member(key, "revoked_at"))});
  }
  table.Print();
  return 0;
}

int RunKeysCreate(const ClientArgs& client, const KeysArgs& args) {
  if (args.org.empty() == !args.platform) {
    return UsageError(
        "give --org ORG for an organization's key or --platform for a key over every "
        "organization");
  }
  boost::json::object body;
  body["name"] = args.name;
  if (args.platform) {
    body["kind"] = "platform";
  } else {
    body["organization_id"] = args.org;
  }
  boost::json::array scopes;
  for (const std::string& s : args.scopes) scopes.emplace_back(s);
  body["scopes"] = std::move(scopes);
  if (!args.expires_at.empty()) {
    Result<TimestampUs> when = ParseRfc3339(args.expires_at);
    if (!when.ok()) return UsageError("--expires-at: " + when.status().message());
    body["expires_at"] = args.expires_at;
  }
  HttpClient http(client.server, client.key, client.ca_file);
  std::optional<boost::json::value> key =
      CallJson(http, "POST", "/v1/api-keys", 201, boost::json::serialize(body));
  if (!key) return 1;
  if (args.json) {
    PrintJsonLine(*key);
    return 0;
  }
  PrintFields(KeyFields(*key));
  std::cout << "\nThe secret key, shown this once only (annals keeps only its hash, so it "
               "cannot be shown again; store it now):\n\n  "
            << Member(*key, "key") << "\n\n"
            << std::flush;
  return 0;
}

int RunKeysGet(const ClientArgs& client, const KeysArgs& args) {
  HttpClient http(client.server, client.key, client.ca_file);
  std::optional<boost::json::value> key = CallJson(http, "GET", KeyPath(http, args.id), 200);
  if (!key) return 1;
  if (args.json) {
    PrintJsonLine(*key);
  } else {
    PrintFields(KeyFields(*key));
  }
  return 0;
}

int RunKeysRevoke(const ClientArgs& client, const KeysArgs& args) {
  HttpClient http(client.server, client.key, client.ca_file);
  std::optional<boost::json::value> key = CallJson(http, "DELETE", KeyPath(http, args.id), 200);
  if (!key) return 1;
  if (args.json) {
    PrintJsonLine(*key);
  } else {
    std::cout << "revoked API key " << Member(*key, "id") << " (" << Member(*key, "name")
              << ") at " << Member(*key, "revoked_at") << "\n"
              << std::flush;
  }
  return 0;
}

}  // namespace annals
