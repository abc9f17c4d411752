// annals command-line subcommands. Each returns the process exit code: 0 success, 1 failure,
// 2 usage error; errors are printed to stderr as one clear sentence.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace annals {

struct ServeArgs {
  std::optional<std::string> config_file;
  std::optional<std::string> data_dir;
  std::optional<std::string> listen;
};
int RunServe(const ServeArgs& args);

struct ClientArgs {
  std::string server;  // --server, ANNALS_SERVER, default http://127.0.0.1:8080
  std::string key;     // --key, ANNALS_KEY
};

struct IngestArgs {
  std::string file;  // path or "-"
  std::string org;   // --org: sets organization_id on lines that have none
  size_t batch = 1000;
  bool quiet = false;
};
int RunIngest(const ClientArgs& client, const IngestArgs& args);

struct EventsArgs {
  std::string org;
  std::vector<std::string> actions;
  std::vector<std::string> actor_ids;
  std::vector<std::string> target_types;
  std::vector<std::string> target_ids;
  std::string from;
  std::string to;
  std::string order;
  size_t limit = 100;
  std::string after;
  std::string before;
  bool json = false;
  bool all = false;
};
int RunEvents(const ClientArgs& client, const EventsArgs& args);

}  // namespace annals
