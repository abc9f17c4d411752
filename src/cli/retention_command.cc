// annals retention: show or change an organization's retention policy, run its purge pass
// now, and set or lift legal holds on items.
#include <boost/json.hpp>
#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"

namespace annals {

namespace {

std::string OrgQuery(HttpClient& http, const std::string& org) {
  return org.empty() ? "" : "?organization_id=" + http.Escape(org);
}

void PrintPolicy(const boost::json::value& p, bool json) {
  if (json) return PrintJsonLine(p);
  const auto* age = p.as_object().if_contains("max_event_age");
  PrintFields({{"organization", Member(p, "organization_id")},
               {"deleted items kept for", Member(p, "deleted_items_keep_for")},
               {"max event age", age == nullptr || age->is_null() ? "none" : Member(p, "max_event_age")},
               {"legal hold", Member(p, "legal_hold") == "true" ? "on" : "off"},
               {"updated", ShortTime(Member(p, "updated_at"))}});
}

}  // namespace

int RunRetentionShow(const ClientArgs& client, const RetentionArgs& args) {
  HttpClient http(client.server, client.key, client.ca_file);
  std::optional<boost::json::value> p =
      CallJson(http, "GET", "/v1/retention" + OrgQuery(http, args.org), 200);
  if (!p) return 1;
  PrintPolicy(*p, args.json);
  return 0;
}

int RunRetentionSet(const ClientArgs& client, const RetentionArgs& args) {
  boost::json::object body;
  if (!args.deleted_items_keep_for.empty()) {
    body["deleted_items_keep_for"] = args.deleted_items_keep_for;
  }
  if (!args.max_event_age.empty()) {
    if (args.max_event_age == "none") {
      body["max_event_age"] = nullptr;
    } else {
      body["max_event_age"] = args.max_event_age;
    }
  }
  if (!args.legal_hold.empty()) body["legal_hold"] = args.legal_hold == "on";
  if (body.empty()) {
    return UsageError(
        "nothing to change: give --deleted-items-keep-for, --max-event-age or --legal-hold");
  }
  HttpClient http(client.server, client.key, client.ca_file);
  std::optional<boost::json::value> p = CallJson(
      http, "PUT", "/v1/retention" + OrgQuery(http, args.org), 200, boost::json::serialize(body));
  if (!p) return 1;
  PrintPolicy(*p, args.json);
  return 0;
}

int RunRetentionPurge(const ClientArgs& client, const RetentionArgs& args) {
  HttpClient http(client.server, client.key, client.ca_file);
  http.set_timeout(std::chrono::hours(1));
  std::optional<boost::json::value> r =
      CallJson(http, "POST", "/v1/retention/purge" + OrgQuery(http, args.org), 200);
  if (!r) return 1;
  if (args.json) {
    PrintJsonLine(*r);
  } else if (Member(*r, "skipped_for_legal_hold") == "true") {
    std::cout << "nothing purged: organization " << Member(*r, "organization_id")
              << " is on legal hold\n";
  } else {
    std::cout << "purged " << Member(*r, "items_purged") << " items and "
              << Member(*r, "events_purged") << " events of organization "
              << Member(*r, "organization_id") << "\n";
  }
  return 0;
}

int RunHold(const ClientArgs& client, const HoldArgs& args) {
  HttpClient http(client.server, client.key, client.ca_file);
  boost::json::object body;
  body["legal_hold"] = !args.lift;
  if (!args.reason.empty()) body["reason"] = args.reason;
  std::string path = "/v1/items/" + http.Escape(args.type) + "/" + http.Escape(args.id) +
                     "/hold" + OrgQuery(http, args.org);
  std::optional<boost::json::value> item =
      CallJson(http, "PUT", path, 200, boost::json::serialize(body));
  if (!item) return 1;
  if (args.json) {
    PrintJsonLine(*item);
  } else {
    std::cout << "legal hold " << (Member(*item, "legal_hold") == "true" ? "on" : "off")
              << " for " << Printable(args.type) << " " << Printable(args.id) << "\n";
  }
  return 0;
}

}  // namespace annals
