// Parsing of the [sources] section of the configuration file: [[sources.postgres]] (with
// [[sources.postgres.tables]]), [[sources.dynamodb]], [[sources.sqs]] and
// sources.idempotency_window. Used by LoadConfig; not part of the environment/flag overrides
// (arrays of tables have no flat form). Thread-safe (pure).
#pragma once

#include <string>
#include <toml++/toml.h>

#include "annals/status.h"
#include "sources/source_config.h"

namespace annals {

// Fills *out from the [sources] table of `file`. Unknown keys, wrong types, missing required
// keys, duplicate names and contradictory keys are kInvalidArgument "invalid_config" errors
// naming the key, e.g. "sources.postgres[1].tables[0].name: required".
Status ParseSourcesConfig(const toml::table& sources, const std::string& file, SourcesConfig* out);

// Checks a SourcesConfig built in code the same way (used for configs not read from a file).
Status ValidateSourcesConfig(const SourcesConfig& sources);

}  // namespace annals
