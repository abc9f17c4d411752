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

// annals verify (verify_command.cc): offline check of a data directory's tamper evidence.
struct VerifyArgs {
  std::string data_dir;  // --data
  std::string org;       // --org: only this organization
};
int RunVerify(const VerifyArgs& args);

// annals compact: rewrites an offline data directory's store with the configured options.
struct CompactArgs {
  std::optional<std::string> config_file;        // --config
  std::optional<std::string> data_dir;           // --data (config key server.data)
  std::optional<std::string> event_compression;  // --event-compression zstd|lz4|none
};
int RunCompact(const CompactArgs& args);

struct ClientArgs {
  std::string server;  // --server, ANNALS_SERVER, default http://127.0.0.1:8080
  std::string key;     // --key, ANNALS_KEY
  std::string ca_file;  // --cacert, ANNALS_CACERT: PEM bundle to verify an https server
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

// annals export (export_command.cc): creates an export, follows it with a progress bar on a
// terminal, downloads it to `output` ("-": stdout) and prints a summary line.
struct ExportArgs {
  std::string org;
  std::vector<std::string> actions;
  std::vector<std::string> actor_ids;
  std::vector<std::string> target_types;
  std::vector<std::string> target_ids;
  std::string from;
  std::string to;
  std::string format = "csv";
  bool gzip = false;
  std::string output;
  bool quiet = false;
};
int RunExport(const ClientArgs& client, const ExportArgs& args);

// Organizations (admin_commands.cc). `annals orgs` lists every organization; create, get
// and update print the organization. --json prints one JSON object per line.
struct OrgsArgs {
  std::string id;                          // get/update: the positional ID
  std::optional<std::string> new_id;       // create: --id
  std::optional<std::string> name;         // --name
  std::optional<std::string> external_id;  // --external-id
  bool clear_external_id = false;          // --clear-external-id
  bool json = false;
};
int RunOrgsList(const ClientArgs& client, const OrgsArgs& args);
int RunOrgsCreate(const ClientArgs& client, const OrgsArgs& args);
int RunOrgsGet(const ClientArgs& client, const OrgsArgs& args);
int RunOrgsUpdate(const ClientArgs& client, const OrgsArgs& args);

// API keys (admin_commands.cc). `annals keys` lists keys (of one organization with --org);
// create prints the new key's secret once; revoke prints the revoked key.
struct KeysArgs {
  std::string org;                  // list: filter; create: the key's organization
  std::string id;                   // get/revoke: the positional ID
  std::string name;                 // create
  bool platform = false;            // create: a key over every organization
  std::vector<std::string> scopes;  // create
  std::string expires_at;           // create: RFC 3339
  bool json = false;
};
int RunKeysList(const ClientArgs& client, const KeysArgs& args);
int RunKeysCreate(const ClientArgs& client, const KeysArgs& args);
int RunKeysGet(const ClientArgs& client, const KeysArgs& args);
int RunKeysRevoke(const ClientArgs& client, const KeysArgs& args);

// Follows the live event stream (tail_command.cc) until SIGINT or SIGTERM (exit 0),
// reconnecting after dropped connections and server errors without losing or repeating
// events; refusals (400, 401, 403, 404) end it with exit 1.
struct TailArgs {
  std::string org;
  std::vector<std::string> actions;
  std::vector<std::string> actor_ids;
  std::vector<std::string> target_types;
  std::vector<std::string> target_ids;
  bool json = false;
};
int RunTail(const ClientArgs& client, const TailArgs& args);

// An item's timeline (history_command.cc): every event naming TYPE/ID, oldest first, with
// the fields each change added, removed or replaced.
struct HistoryArgs {
  std::string type;
  std::string id;
  std::string org;
  bool json = false;
};
int RunHistory(const ClientArgs& client, const HistoryArgs& args);

// A consistent copy of the store as a new data directory (backup_command.cc): through the
// running server (POST /v1/backup), or with --data directly from a data directory that no
// server holds.
struct BackupArgs {
  std::string to;        // the new directory
  std::string data_dir;  // --data: offline
  bool json = false;
};
int RunBackup(const ClientArgs& client, const BackupArgs& args);

// annals retention [--org ORG]: show the policy; `set` changes it; `purge` runs the
// organization's purge pass now. annals hold TYPE ID [--lift]: an item's legal hold.
struct RetentionArgs {
  std::string org;
  std::string deleted_items_keep_for;  // "" = unchanged
  std::string max_event_age;           // "" = unchanged, "none" = no limit
  std::string legal_hold;              // "" = unchanged, "on" or "off"
  bool json = false;
};
int RunRetentionShow(const ClientArgs& client, const RetentionArgs& args);
int RunRetentionSet(const ClientArgs& client, const RetentionArgs& args);
int RunRetentionPurge(const ClientArgs& client, const RetentionArgs& args);

struct HoldArgs {
  std::string type, id, org, reason;
  bool lift = false;
  bool json = false;
};
int RunHold(const ClientArgs& client, const HoldArgs& args);

// annals verify-proof (verify_proof_command.cc): offline, with no server, checks a signed tree
// head with the public key and then, when given, an inclusion proof for one event (from its
// JSON or its commitment) and a consistency proof from an older head of the organization.
// Prints one line per check passed; exit 1 with one sentence naming what failed, 2 for wrong
// flags or files that cannot be read.
struct VerifyProofArgs {
  // A standard base64 32-byte Ed25519 public key, or a file holding one, a PEM public key,
  // the JSON of one key record (GET /v1/tree/key) or of the key list (GET /v1/tree/keys).
  std::string public_key;
  std::string head;         // the JSON of GET /v1/tree/head
  std::string inclusion;    // {"leaf_index", "tree_size", "leaf_hash", "audit_path"}
  std::string event;        // the event's JSON, as GET /v1/events/{id} returns it
  std::string commitment;   // or its commitment, 64 hex characters
  std::string consistency;  // {"first", "second", "proof"}
  std::string old_head;     // the older head the consistency proof starts from
};
int RunVerifyProof(const VerifyProofArgs& args);

// annals verify-export (verify_proof_command.cc): checks a verifiable export offline.
struct VerifyExportArgs {
  std::string file;        // NDJSON, or gzip of it
  std::string public_key;  // as VerifyProofArgs::public_key
};
int RunVerifyExport(const VerifyExportArgs& args);

}  // namespace annals
