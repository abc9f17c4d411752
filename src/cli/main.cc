// annals: the server and its command-line client.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <utility>

#include "cli/commands.h"

namespace {

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "annals: a multi-tenant, tamper-evident platform audit log.\n"
      "Run `annals serve` to start the server; the other subcommands talk to a running server\n"
      "(`annals backup --data DIR` works on a data directory that no server holds, and\n"
      "`annals verify-proof` needs only the files it checks)."};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");

  annals::ServeArgs serve;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Run the annals server");
  serve_cmd->add_option("--config", serve.config_file, "TOML configuration file")
      ->check(CLI::ExistingFile);
  serve_cmd->add_option("--data", serve.data_dir,
                        "Data directory (default ./data; config key server.data)");
  serve_cmd->add_option("--listen", serve.listen,
                        "Address to listen on, HOST:PORT (default 127.0.0.1:8080; port 0 picks "
                        "a free port)");

  annals::ClientArgs client;
  client.server = EnvOr("ANNALS_SERVER", "http://127.0.0.1:8080");
  client.key = EnvOr("ANNALS_KEY", "");
  client.ca_file = EnvOr("ANNALS_CACERT", "");
  // Returns the --server and --key options.
  auto add_client_options = [&client](CLI::App* cmd) {
    cmd->add_option("--cacert", client.ca_file,
                    "PEM certificate bundle to verify an https server with (env ANNALS_CACERT), "
                    "e.g. a private CA or a self-signed certificate")
        ->check(CLI::ExistingFile);
    return std::make_pair(
        cmd->add_option("--server", client.server,
                        "annals server URL (env ANNALS_SERVER, default http://127.0.0.1:8080)"),
        cmd->add_option("--key", client.key, "API key (env ANNALS_KEY)"));
  };
  const char* const kJsonHelp = "Print one JSON object per line instead of a table";

  annals::IngestArgs ingest;
  CLI::App* ingest_cmd =
      app.add_subcommand("ingest", "Send events from an NDJSON file (or - for stdin) in batches");
  ingest_cmd->add_option("file", ingest.file, "NDJSON file, one event per line, or - for stdin")
      ->required();
  ingest_cmd->add_option("--org", ingest.org,
                         "Organization for lines without organization_id");
  ingest_cmd->add_option("--batch", ingest.batch, "Events per request (1-1000)")
      ->check(CLI::Range(1, 1000))
      ->default_val(1000);
  ingest_cmd->add_flag("--quiet", ingest.quiet, "No progress line and no summary");
  add_client_options(ingest_cmd);

  annals::EventsArgs events;
  CLI::App* events_cmd = app.add_subcommand("events", "Search events");
  events_cmd->add_option("--org", events.org, "Organization (required with a platform key)");
  events_cmd->add_option("--action", events.actions,
                         "Action, exact or prefix.* (repeatable)");
  events_cmd->add_option("--actor", events.actor_ids, "Actor id (repeatable)");
  events_cmd->add_option("--target-type", events.target_types, "Target type (repeatable)");
  events_cmd->add_option("--target-id", events.target_ids, "Target id (repeatable)");
  events_cmd->add_option("--from", events.from, "Earliest occurred_at, RFC 3339 (inclusive)");
  events_cmd->add_option("--to", events.to, "Latest occurred_at, RFC 3339 (exclusive)");
  events_cmd->add_option("--order", events.order, "asc or desc (default desc)")
      ->check(CLI::IsMember({"asc", "desc"}));
  events_cmd->add_option("--limit", events.limit, "Events per page (1-1000)")
      ->check(CLI::Range(1, 1000))
      ->default_val(100);
  events_cmd->add_option("--after", events.after, "Cursor: the page after this one");
  events_cmd->add_option("--before", events.before, "Cursor: the page before this one");
  events_cmd->add_flag("--json", events.json, "Print events as NDJSON instead of a table");
  events_cmd->add_flag("--all", events.all, "Follow cursors through every page");
  add_client_options(events_cmd);

  annals::ExportArgs exp;
  CLI::App* export_cmd = app.add_subcommand(
      "export", "Export an organization's events to a file (CSV, NDJSON or JSON; any range)");
  export_cmd->add_option("--org", exp.org, "Organization (required with a platform key)");
  export_cmd->add_option("--action", exp.actions, "Action, exact or prefix.* (repeatable)");
  export_cmd->add_option("--actor", exp.actor_ids, "Actor id (repeatable)");
  export_cmd->add_option("--target-type", exp.target_types, "Target type (repeatable)");
  export_cmd->add_option("--target-id", exp.target_ids, "Target id (repeatable)");
  export_cmd->add_option("--from", exp.from, "Earliest occurred_at, RFC 3339 (inclusive)");
  export_cmd->add_option("--to", exp.to, "Latest occurred_at, RFC 3339 (exclusive)");
  export_cmd->add_option("--format", exp.format, "csv, ndjson or json (default csv)")
      ->check(CLI::IsMember({"csv", "ndjson", "json"}));
  export_cmd->add_flag("--gzip", exp.gzip, "Compress the file with gzip");
  export_cmd->add_option("-o,--output", exp.output, "File to write (- for stdout)")->required();
  export_cmd->add_flag("-q,--quiet", exp.quiet, "No progress and no summary line");
  add_client_options(export_cmd);

  annals::OrgsArgs orgs;
  CLI::App* orgs_cmd = app.add_subcommand(
      "orgs", "List organizations (admin scope); its subcommands create, show and change one");
  orgs_cmd->require_subcommand(0, 1);
  orgs_cmd->add_flag("--json", orgs.json, kJsonHelp);
  add_client_options(orgs_cmd);
  CLI::App* orgs_create = orgs_cmd->add_subcommand("create", "Create an organization");
  orgs_create->add_option("--id", orgs.new_id,
                          "Organization id: letters, digits and _ . : @ - (default: a new "
                          "org_... id)");
  orgs_create->add_option("--name", orgs.name, "Display name");
  orgs_create->add_option("--external-id", orgs.external_id,
                          "Your own id for the organization, e.g. in your CRM");
  orgs_create->add_flag("--json", orgs.json, "Print the organization as JSON");
  add_client_options(orgs_create);
  CLI::App* orgs_get = orgs_cmd->add_subcommand("get", "Show an organization");
  orgs_get->add_option("id", orgs.id, "Organization id")->required();
  orgs_get->add_flag("--json", orgs.json, "Print the organization as JSON");
  add_client_options(orgs_get);
  CLI::App* orgs_update =
      orgs_cmd->add_subcommand("update", "Change an organization's name or external id");
  orgs_update->add_option("id", orgs.id, "Organization id")->required();
  orgs_update->add_option("--name", orgs.name, "New display name");
  CLI::Option* external_id =
      orgs_update->add_option("--external-id", orgs.external_id, "New external id");
  orgs_update->add_flag("--clear-external-id", orgs.clear_external_id, "Remove the external id")
      ->excludes(external_id);
  orgs_update->add_flag("--json", orgs.json, "Print the organization as JSON");
  add_client_options(orgs_update);

  annals::KeysArgs keys;
  CLI::App* keys_cmd = app.add_subcommand(
      "keys", "List API keys (admin scope); its subcommands create, show and revoke one");
  keys_cmd->require_subcommand(0, 1);
  keys_cmd->add_option("--org", keys.org, "Only the keys of this organization");
  keys_cmd->add_flag("--json", keys.json, kJsonHelp);
  add_client_options(keys_cmd);
  CLI::App* keys_create = keys_cmd->add_subcommand(
      "create", "Create an API key and print its secret, which is shown this once only");
  keys_create->add_option("--name", keys.name, "What the key is for")->required();
  CLI::Option* key_org =
      keys_create->add_option("--org", keys.org, "The organization the key belongs to");
  keys_create->add_flag("--platform", keys.platform,
                        "A platform key, over every organization (instead of --org)")
      ->excludes(key_org);
  keys_create
      ->add_option("--scope", keys.scopes,
                   "events:write, events:read or admin (repeatable; at least one)")
      ->required()
      ->check(CLI::IsMember({"events:write", "events:read", "admin"}));
  keys_create->add_option("--expires-at", keys.expires_at,
                          "When the key stops working, RFC 3339 (default: never)");
  keys_create->add_flag("--json", keys.json, "Print the whole creation response as JSON");
  add_client_options(keys_create);
  CLI::App* keys_get = keys_cmd->add_subcommand("get", "Show an API key (never its secret)");
  keys_get->add_option("id", keys.id, "Key id (key_...)")->required();
  keys_get->add_flag("--json", keys.json, "Print the key as JSON");
  add_client_options(keys_get);
  CLI::App* keys_revoke =
      keys_cmd->add_subcommand("revoke", "Revoke an API key: it stops working at once");
  keys_revoke->add_option("id", keys.id, "Key id (key_...)")->required();
  keys_revoke->add_flag("--json", keys.json, "Print the revoked key as JSON");
  add_client_options(keys_revoke);

  annals::TailArgs tail;
  CLI::App* tail_cmd = app.add_subcommand(
      "tail", "Follow events as they are stored, until interrupted (Ctrl-C)");
  tail_cmd->add_option("--org", tail.org, "Organization (required with a platform key)");
  tail_cmd->add_option("--action", tail.actions, "Action, exact or prefix.* (repeatable)");
  tail_cmd->add_option("--actor", tail.actor_ids, "Actor id (repeatable)");
  tail_cmd->add_option("--target-type", tail.target_types, "Target type (repeatable)");
  tail_cmd->add_option("--target-id", tail.target_ids, "Target id (repeatable)");
  tail_cmd->add_flag("--json", tail.json, "Print each event as its JSON, one per line");
  add_client_options(tail_cmd);

  annals::HistoryArgs history;
  CLI::App* history_cmd = app.add_subcommand(
      "history", "An item's timeline from creation to deletion, with per-field changes");
  history_cmd->add_option("type", history.type, "Target type, e.g. finding")->required();
  history_cmd->add_option("id", history.id, "Target id (any characters)")->required();
  history_cmd->add_option("--org", history.org, "Organization (required with a platform key)");
  history_cmd->add_flag("--json", history.json,
                        "Print each entry ({event, op, patch}) as JSON, one per line");
  add_client_options(history_cmd);

  annals::BackupArgs backup;
  CLI::App* backup_cmd = app.add_subcommand(
      "backup",
      "Write a consistent copy of the store to a new directory, which `annals serve --data` "
      "can start from");
  backup_cmd
      ->add_option("--to", backup.to,
                   "The new directory (it must not exist); with a server, an absolute path on "
                   "the server's machine")
      ->required();
  CLI::Option* backup_data = backup_cmd->add_option(
      "--data", backup.data_dir,
      "Back up this data directory directly, while no server holds it (also copies its "
      "admin.key)");
  backup_cmd->add_flag("--json", backup.json, "Print the result as JSON");
  auto [backup_server, backup_key] = add_client_options(backup_cmd);
  backup_data->excludes(backup_server)->excludes(backup_key);

  annals::RetentionArgs retention;
  CLI::App* retention_cmd = app.add_subcommand(
      "retention", "Show an organization's retention policy (set: change it; purge: run it now)");
  retention_cmd->require_subcommand(0, 1);
  retention_cmd->add_option("--org", retention.org, "Organization (required with a platform key)");
  retention_cmd->add_flag("--json", retention.json, "Print the policy as JSON");
  add_client_options(retention_cmd);
  CLI::App* retention_set = retention_cmd->add_subcommand("set", "Change the retention policy");
  retention_set->add_option("--org", retention.org, "Organization (required with a platform key)");
  retention_set->add_option("--deleted-items-keep-for", retention.deleted_items_keep_for,
                            "How long a deleted item's history is kept, e.g. 180d");
  retention_set->add_option("--max-event-age", retention.max_event_age,
                            "Remove events older than this, e.g. 400d, or none");
  retention_set->add_option("--legal-hold", retention.legal_hold,
                            "on: nothing of the organization is purged; off: purges resume")
      ->check(CLI::IsMember({"on", "off"}));
  retention_set->add_flag("--json", retention.json, "Print the new policy as JSON");
  add_client_options(retention_set);
  CLI::App* retention_purge =
      retention_cmd->add_subcommand("purge", "Run the organization's purge pass now");
  retention_purge->add_option("--org", retention.org,
                              "Organization (required with a platform key)");
  retention_purge->add_flag("--json", retention.json, "Print the result as JSON");
  add_client_options(retention_purge);

  annals::HoldArgs hold;
  CLI::App* hold_cmd = app.add_subcommand(
      "hold", "Put an item under legal hold (no purge touches it) or lift the hold (--lift)");
  hold_cmd->add_option("type", hold.type, "Target type, e.g. finding")->required();
  hold_cmd->add_option("id", hold.id, "Target id (any characters)")->required();
  hold_cmd->add_option("--org", hold.org, "Organization (required with a platform key)");
  hold_cmd->add_option("--reason", hold.reason, "Why (recorded in the organization's trail)");
  hold_cmd->add_flag("--lift", hold.lift, "Lift the hold");
  hold_cmd->add_flag("--json", hold.json, "Print the item as JSON");
  add_client_options(hold_cmd);

  annals::VerifyProofArgs verify;
  CLI::App* verify_cmd = app.add_subcommand(
      "verify-proof",
      "Check a signed tree head, and optionally an event's inclusion proof and a consistency "
      "proof from an older head, offline with the public key");
  verify_cmd
      ->add_option("--public-key", verify.public_key,
                   "The public key: base64 of the 32-byte Ed25519 key, or a file with it, a PEM "
                   "public key, or the JSON of GET /v1/tree/key or /v1/tree/keys")
      ->required();
  verify_cmd->add_option("--head", verify.head, "The signed head: JSON of GET /v1/tree/head")
      ->required();
  verify_cmd->add_option("--inclusion", verify.inclusion,
                         "An inclusion proof for one event under the head (JSON file)");
  verify_cmd->add_option("--event", verify.event,
                         "The event the inclusion proof is for: its JSON as GET /v1/events/{id} "
                         "returns it");
  verify_cmd->add_option("--commitment", verify.commitment,
                         "Instead of --event: the event's commitment (SHA-256, hex), e.g. of a "
                         "purged event");
  verify_cmd->add_option("--consistency", verify.consistency,
                         "A consistency proof from --old-head to --head (JSON file)");
  verify_cmd->add_option("--old-head", verify.old_head,
                         "The older signed head the consistency proof starts from");

  annals::VerifyExportArgs verify_export;
  CLI::App* verify_export_cmd = app.add_subcommand(
      "verify-export",
      "Check a verifiable NDJSON export offline: every event against the signed tree head it "
      "ends with");
  verify_export_cmd->add_option("file", verify_export.file, "The export (NDJSON, or gzip of it)")
      ->required();
  verify_export_cmd
      ->add_option("--public-key", verify_export.public_key,
                   "The public key: base64 of the 32-byte Ed25519 key, or a file with it, a PEM "
                   "public key, or the JSON of GET /v1/tree/key or /v1/tree/keys")
      ->required();

  annals::VerifyArgs verify_store;
  CLI::App* verify_store_cmd = app.add_subcommand(
      "verify",
      "Check a data directory's tamper evidence offline (no server may hold it): every event "
      "against the Merkle log, every signed tree head, the head chains");
  verify_store_cmd->add_option("--data", verify_store.data_dir, "The data directory")->required();
  verify_store_cmd->add_option("--org", verify_store.org, "Only this organization");

  annals::CompactArgs compact;
  CLI::App* compact_cmd = app.add_subcommand(
      "compact",
      "Rewrite a data directory's store offline (no server may hold it) with the configured "
      "options, e.g. after changing [store] event_compression");
  compact_cmd->add_option("--config", compact.config_file, "TOML configuration file")
      ->check(CLI::ExistingFile);
  compact_cmd->add_option("--data", compact.data_dir,
                          "Data directory (default ./data; config key server.data)");
  compact_cmd
      ->add_option("--event-compression", compact.event_compression,
                   "Codec for stored events: zstd (smallest), lz4 (fastest to read) or none "
                   "(config key store.event_compression)")
      ->check(CLI::IsMember({"zstd", "lz4", "none"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "annals: " << e.what() << " (see annals --help)\n";
    return 2;
  }

  if (serve_cmd->parsed()) return annals::RunServe(serve);
  if (ingest_cmd->parsed()) return annals::RunIngest(client, ingest);
  if (events_cmd->parsed()) return annals::RunEvents(client, events);
  if (export_cmd->parsed()) return annals::RunExport(client, exp);
  if (orgs_create->parsed()) return annals::RunOrgsCreate(client, orgs);
  if (orgs_get->parsed()) return annals::RunOrgsGet(client, orgs);
  if (orgs_update->parsed()) return annals::RunOrgsUpdate(client, orgs);
  if (orgs_cmd->parsed()) return annals::RunOrgsList(client, orgs);
  if (keys_create->parsed()) return annals::RunKeysCreate(client, keys);
  if (keys_get->parsed()) return annals::RunKeysGet(client, keys);
  if (keys_revoke->parsed()) return annals::RunKeysRevoke(client, keys);
  if (keys_cmd->parsed()) return annals::RunKeysList(client, keys);
  if (tail_cmd->parsed()) return annals::RunTail(client, tail);
  if (backup_cmd->parsed()) return annals::RunBackup(client, backup);
  if (history_cmd->parsed()) return annals::RunHistory(client, history);
  if (retention_set->parsed()) return annals::RunRetentionSet(client, retention);
  if (retention_purge->parsed()) return annals::RunRetentionPurge(client, retention);
  if (retention_cmd->parsed()) return annals::RunRetentionShow(client, retention);
  if (hold_cmd->parsed()) return annals::RunHold(client, hold);
  if (verify_cmd->parsed()) return annals::RunVerifyProof(verify);
  if (verify_export_cmd->parsed()) return annals::RunVerifyExport(verify_export);
  if (verify_store_cmd->parsed()) return annals::RunVerify(verify_store);
  if (compact_cmd->parsed()) return annals::RunCompact(compact);
  return 2;
}
