// What the client subcommands share: one-sentence errors on stderr, JSON requests, tables
// and field lists for people, one JSON object per line for scripts.
// Text that comes from the server is printed through Printable, so that a name cannot move
// the cursor or recolour the terminal.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/client.h"

namespace annals {

// Prints "annals: <sentence>" to stderr and returns 1, the failure exit code.
int Fail(const std::string& sentence);
// Prints "annals: <sentence> (see --help)" to stderr and returns 2, the usage exit code.
int UsageError(const std::string& sentence);

// `count / seconds` rounded to a whole number ("0" for no time).
std::string FormatRate(double count, double seconds);

// A byte count for people: "512.0 KiB", "3.4 MiB", "1.25 GiB".
std::string FormatBytes(uint64_t bytes);

// Sends a request with an optional JSON body and parses the JSON answer. On a transport
// failure, a status other than `expected` or an unparsable body, prints why (Fail) and
// returns nullopt.
std::optional<boost::json::value> CallJson(HttpClient& http, const std::string& method,
                                           const std::string& path_and_query, long expected,
                                           const std::string& json_body = "");

// Follows the list cursors of a paged resource list (`path` has no `after`) and returns
// every item, or nullopt after Fail.
std::optional<std::vector<boost::json::value>> ListAll(HttpClient& http, const std::string& path);

// `s` with control characters (C0, DEL and C1) replaced by '?'.
std::string Printable(std::string_view s);
// A member for display: a string as it is (Printable), null or missing as "-", anything
// else as JSON.
std::string Member(const boost::json::value& object, std::string_view key);
// An RFC 3339 time without its fraction ("2026-11-29T02:03:04.123456Z" becomes
// "2026-11-29T02:03:04Z"); "-" stays "-".
std::string ShortTime(std::string s);

// A table with a header row and columns as wide as their widest cell.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print() const;  // to stdout

 private:
  std::vector<std::vector<std::string>> rows_;
};

// Prints "label  value" lines with the values aligned, to stdout.
void PrintFields(const std::vector<std::pair<std::string, std::string>>& fields);

// Prints `v` as canonical JSON on one line of stdout.
void PrintJsonLine(const boost::json::value& v);

}  // namespace annals
