// annals history TYPE ID: an item's timeline, one block per event with its per-field changes.
#include <boost/json.hpp>
#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "domain/canonical_json.h"

namespace annals {

namespace {

// One line per operation of an RFC 6902 patch: "+ /path = value" (added), "- /path"
// (removed), "~ /path = value" (replaced).
std::vector<std::string> ChangeLines(const boost::json::array& patch) {
  std::vector<std::string> lines;
  for (const auto& opv : patch) {
    if (!opv.is_object()) continue;
    const auto& op = opv.as_object();
    const std::string kind = Member(op, "op");
    std::string path = Member(op, "path");
    if (path.empty()) path = "/";
    const auto* value = op.if_contains("value");
    const std::string shown = value == nullptr ? "" : Printable(Canonical(*value));
    if (kind == "add") {
      lines.push_back("+ " + path + " = " + shown);
    } else if (kind == "remove") {
      lines.push_back("- " + path);
    } else {
      lines.push_back("~ " + path + " = " + shown);
    }
  }
  return lines;
}

}  // namespace

int RunHistory(const ClientArgs& client, const HistoryArgs& args) {
  HttpClient http(client.server, client.key, client.ca_file);
  std::string path = "/v1/items/" + http.Escape(args.type) + "/" + http.Escape(args.id) + "/history";
  if (!args.org.empty()) path += "?organization_id=" + http.Escape(args.org);
  std::optional<std::vector<boost::json::value>> entries = ListAll(http, path);
  if (!entries) return 1;
  if (args.json) {
    for (const auto& e : *entries) PrintJsonLine(e);
    return 0;
  }
  if (entries->empty()) {
    std::cout << "no events name " << Printable(args.type) << "/" << Printable(args.id) << "\n";
    return 0;
  }
  for (const auto& entry : *entries) {
    const auto* event = entry.as_object().if_contains("event");
    if (event == nullptr || !event->is_object()) continue;
    const auto& e = *event;
    std::string actor = "-";
    if (const auto* a = e.as_object().if_contains("actor"); a != nullptr && a->is_object()) {
      actor = Member(*a, "type") + ":" + Member(*a, "id");
      const std::string name = Member(*a, "name");
      if (name != "-") actor += " (" + name + ")";
    }
    std::cout << ShortTime(Member(e, "occurred_at")) << "  #" << Member(e, "seq") << "  "
              << Member(e, "action") << "  by " << actor;
    const std::string op = Member(entry, "op");
    if (op != "-") std::cout << "  [" << op << "]";
    std::cout << "\n";
    if (const auto* patch = entry.as_object().if_contains("patch"); patch && patch->is_array()) {
      const std::vector<std::string> lines = ChangeLines(patch->as_array());
      if (lines.empty() && op != "-") std::cout << "    (no field changed)\n";
      for (const std::string& line : lines) std::cout << "    " << line << "\n";
    }
  }
  return 0;
}

}  // namespace annals
