#include "query/event_query.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "common/sha256.h"
#include "domain/time.h"

namespace annals {

namespace {

constexpr uint8_t kCursorVersion = 1;

void PutU64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

bool ValidActionPattern(const std::string& a) {
  if (a.empty() || a.size() > 128) return false;
  return std::all_of(a.begin(), a.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
}

}  // namespace

std::string EncodeCursor(const ListKey& key) {
  std::string raw;
  raw.push_back(static_cast<char>(kCursorVersion));
  PutU64(&raw, static_cast<uint64_t>(key.occurred_at));
  PutU64(&raw, key.seq);
  return Base64UrlEncode(raw);
}

Result<ListKey> DecodeCursor(std::string_view cursor) {
  std::optional<std::string> raw = Base64UrlDecode(cursor);
  if (!raw || raw->size() != 17 || static_cast<uint8_t>((*raw)[0]) != kCursorVersion) {
    return Status::InvalidArgument(
        "the cursor is malformed; use a before/after value from a previous response",
        "invalid_cursor");
  }
  ListKey key;
  key.occurred_at = static_cast<TimestampUs>(GetU64(raw->data() + 1));
  key.seq = GetU64(raw->data() + 9);
  if (key.seq == 0) {
    return Status::InvalidArgument(
        "the cursor is malformed; use a before/after value from a previous response",
        "invalid_cursor");
  }
  return key;
}

bool ApplyFilterParam(const std::string& name, const std::string& value, const std::string& path,
                      EventFilter* filter, std::vector<ErrorDetail>* errors) {
  auto require_nonempty = [&](std::vector<std::string>* into) {
    if (value.empty()) {
      errors->push_back({path, name + " must not be empty"});
    } else {
      into->push_back(value);
    }
  };
  if (name == "action") {
    if (value.size() >= 2 && value.compare(value.size() - 2, 2, ".*") == 0) {
      std::string prefix = value.substr(0, value.size() - 1);  // keep the dot
      if (!ValidActionPattern(prefix.substr(0, prefix.size() - 1))) {
        errors->push_back({path, "action prefix must be <prefix>.* with [a-z0-9_.-] characters"});
      } else {
        filter->action_prefixes.push_back(prefix);
      }
    } else if (!ValidActionPattern(value)) {
      errors->push_back(
          {path, "action must be an exact action or <prefix>.* of [a-z0-9_.-] characters"});
    } else {
      filter->actions.push_back(value);
    }
    return true;
  }
  if (name == "actor_id") {
    require_nonempty(&filter->actor_ids);
    return true;
  }
  if (name == "target_type") {
    require_nonempty(&filter->target_types);
    return true;
  }
  if (name == "target_id") {
    require_nonempty(&filter->target_ids);
    return true;
  }
  if (name == "from" || name == "to") {
    Result<TimestampUs> t = ParseRfc3339(value);
    if (!t.ok()) {
      errors->push_back({path, name + " must be an RFC 3339 timestamp: " + t.status().message()});
    } else if ((name == "from" ? filter->from : filter->to).has_value()) {
      errors->push_back({path, name + " may be given only once"});
    } else {
      (name == "from" ? filter->from : filter->to) = *t;
    }
    return true;
  }
  return false;
}

Result<ListRequest> ParseListQuery(const QueryParams& params,
                                   const std::string& implied_organization_id, size_t max_limit,
                                   size_t default_limit) {
  ListRequest req;
  req.limit = default_limit;
  std::vector<ErrorDetail> errors;
  bool seen_org = false, seen_limit = false, seen_order = false;
  for (const auto& [name, value] : params) {
    const std::string path = "/query/" + name;
    if (name == "organization_id") {
      if (seen_org) {
        errors.push_back({path, "organization_id may be given only once"});
      } else if (value.empty()) {
        errors.push_back({path, "organization_id must not be empty"});
      } else if (!implied_organization_id.empty() && value != implied_organization_id) {
        // Another tenant's data does not exist for this key.
        return Status::NotFound("organization not found", "organization_not_found");
      }
      seen_org = true;
      req.filter.organization_id = value;
    } else if (name == "limit") {
      size_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (seen_limit || ec != std::errc() || p != value.data() + value.size() || n < 1 ||
          n > max_limit) {
        errors.push_back({path, "limit must be an integer from 1 to " + std::to_string(max_limit)});
      }
      seen_limit = true;
      req.limit = n;
    } else if (name == "order") {
      if (seen_order || (value != "asc" && value != "desc")) {
        errors.push_back({path, "order must be asc or desc"});
      }
      seen_order = true;
      req.descending = value != "asc";
    } else if (name == "after" || name == "before") {
      Result<ListKey> k = DecodeCursor(value);
      if (!k.ok()) {
        return Status::InvalidArgument(k.status().message(), "invalid_cursor",
                                       {{path, "malformed cursor"}});
      }
      (name == "after" ? req.after : req.before) = *k;
    } else if (!ApplyFilterParam(name, value, path, &req.filter, &errors)) {
      errors.push_back({path, "unknown query parameter '" + name + "'"});
    }
  }
  if (req.filter.organization_id.empty()) {
    if (implied_organization_id.empty()) {
      errors.push_back({"/query/organization_id", "organization_id is required"});
    } else {
      req.filter.organization_id = implied_organization_id;
    }
  }
  if (req.after && req.before) {
    errors.push_back({"/query/before", "give either after or before, not both"});
  }
  if (req.filter.from && req.filter.to && *req.filter.from > *req.filter.to) {
    errors.push_back({"/query/to", "to must not be earlier than from"});
  }
  if (!errors.empty()) {
    std::string msg = errors.size() == 1 ? errors[0].message
                                         : std::to_string(errors.size()) + " query parameters are invalid";
    return Status::InvalidArgument(msg, "invalid_request", std::move(errors));
  }
  return req;
}

Result<ListPage> ListEvents(Store* store, const ListRequest& request) {
  ScanRequest scan;
  scan.filter = request.filter;
  scan.limit = request.limit + 1;
  const bool backwards = request.before.has_value();
  // Paging backwards scans the opposite direction from the cursor and reverses.
  scan.descending = backwards ? !request.descending : request.descending;
  scan.start_after = backwards ? request.before : request.after;

  Result<std::vector<EventRecord>> rows = store->Scan(scan);
  if (!rows.ok()) return rows.status();
  std::vector<EventRecord> data = std::move(rows).value();
  const bool more = data.size() > request.limit;
  if (more) data.resize(request.limit);

  ListPage page;
  auto key_of = [](const EventRecord& e) { return ListKey{e.fields.occurred_at, e.seq}; };
  if (backwards) {
    std::reverse(data.begin(), data.end());
    if (!data.empty()) {
      if (more) page.before = EncodeCursor(key_of(data.front()));
      page.after = EncodeCursor(key_of(data.back()));
    }
  } else {
    if (!data.empty()) {
      if (more) page.after = EncodeCursor(key_of(data.back()));
      if (request.after) page.before = EncodeCursor(key_of(data.front()));
    }
  }
  page.data = std::move(data);
  return page;
}

}  // namespace annals
