#include "workload.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <utility>

namespace annals::bench {
namespace {

// ---------------------------------------------------------------------------------------------
// A minimal JSON value, enough to write the same event twice: in the client's member order and
// in canonical (JCS) order. Numbers are integers or short decimals, strings are ASCII.
struct Json {
  enum Kind { kString, kInt, kDouble, kBool, kObject, kArray } kind = kObject;
  std::string s;
  int64_t i = 0;
  double d = 0;
  bool b = false;
  std::vector<std::pair<std::string, Json>> members;
  std::vector<Json> items;

  static Json Str(std::string v) {
    Json j;
    j.kind = kString;
    j.s = std::move(v);
    return j;
  }
  static Json Int(int64_t v) {
    Json j;
    j.kind = kInt;
    j.i = v;
    return j;
  }
  static Json Double(double v) {
    Json j;
    j.kind = kDouble;
    j.d = v;
    return j;
  }
  static Json Bool(bool v) {
    Json j;
    j.kind = kBool;
    j.b = v;
    return j;
  }
  static Json Object() { return Json(); }
  static Json Array() {
    Json j;
    j.kind = kArray;
    return j;
  }
  Json& Add(std::string key, Json value) {
    members.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  Json& Push(Json value) {
    items.push_back(std::move(value));
    return *this;
  }
};

void WriteString(const std::string& s, std::string* out) {
  out->push_back('"');
  size_t run = 0;  // start of the pending run of characters that need no escaping
  for (size_t k = 0; k < s.size(); ++k) {
    const unsigned char u = static_cast<unsigned char>(s[k]);
    if (u >= 0x20 && u != '"' && u != '\\') continue;
    out->append(s, run, k - run);
    run = k + 1;
    if (u == '"' || u == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(u));
    } else {
      static const char* kHex = "0123456789abcdef";
      out->append("\\u00");
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 15]);
    }
  }
  out->append(s, run, s.size() - run);
  out->push_back('"');
}

// `canonical`: members sorted by key (all keys are ASCII, so byte order is JCS's UTF-16 order).
void Write(const Json& j, bool canonical, std::string* out) {
  switch (j.kind) {
    case Json::kString:
      WriteString(j.s, out);
      return;
    case Json::kInt:
      out->append(std::to_string(j.i));
      return;
    case Json::kDouble: {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, j.d);  // shortest round trip, as JCS
      out->append(buf, r.ptr);
      return;
    }
    case Json::kBool:
      out->append(j.b ? "true" : "false");
      return;
    case Json::kArray:
      out->push_back('[');
      for (size_t k = 0; k < j.items.size(); ++k) {
        if (k) out->push_back(',');
        Write(j.items[k], canonical, out);
      }
      out->push_back(']');
      return;
    case Json::kObject: {
      std::vector<const std::pair<std::string, Json>*> order;
      for (const auto& m : j.members) order.push_back(&m);
      if (canonical) {
        std::sort(order.begin(), order.end(),
                  [](const auto* a, const auto* b) { return a->first < b->first; });
      }
      out->push_back('{');
      for (size_t k = 0; k < order.size(); ++k) {
        if (k) out->push_back(',');
        WriteString(order[k]->first, out);
        out->push_back(':');
        Write(order[k]->second, canonical, out);
      }
      out->push_back('}');
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Vocabulary.

const char* const kOrgNames[] = {
    "org_acme",      "org_globex",   "org_initech",   "org_umbrella",  "org_hooli",
    "org_stark",     "org_wayne",    "org_wonka",     "org_tyrell",    "org_cyberdyne",
    "org_soylent",   "org_oscorp",   "org_aperture",  "org_blackmesa", "org_vandelay",
    "org_piedpiper", "org_dunder",   "org_gringotts", "org_monarch",   "org_nakatomi"};

enum Namespace { kFinding, kAsset, kScan, kProject, kReport, kUser, kIntegration, kApiKey };

struct ActionSpec {
  const char* name;
  Namespace ns;
  double weight;
  const char* op;  // changes.op, or nullptr for no `changes`
};

// 50 actions in 8 namespaces; weights are relative frequencies.
const ActionSpec kActions[] = {
    {"finding.created", kFinding, 6, "create"},
    {"finding.updated", kFinding, 10, "update"},
    {"finding.status_changed", kFinding, 7, "update"},
    {"finding.severity_changed", kFinding, 2, "update"},
    {"finding.assigned", kFinding, 4, "update"},
    {"finding.commented", kFinding, 5, nullptr},
    {"finding.retest_requested", kFinding, 1.5, nullptr},
    {"finding.reopened", kFinding, 0.8, "update"},
    {"finding.exported", kFinding, 0.7, nullptr},
    {"finding.deleted", kFinding, 1, "delete"},
    {"asset.created", kAsset, 2, "create"},
    {"asset.updated", kAsset, 4, "update"},
    {"asset.tagged", kAsset, 2, "update"},
    {"asset.scanned", kAsset, 3, nullptr},
    {"asset.imported", kAsset, 1, "create"},
    {"asset.archived", kAsset, 0.8, "update"},
    {"asset.deleted", kAsset, 0.6, "delete"},
    {"scan.scheduled", kScan, 2, nullptr},
    {"scan.started", kScan, 3, nullptr},
    {"scan.completed", kScan, 3, nullptr},
    {"scan.failed", kScan, 0.6, nullptr},
    {"scan.cancelled", kScan, 0.4, nullptr},
    {"scan.paused", kScan, 0.3, nullptr},
    {"project.created", kProject, 0.6, "create"},
    {"project.updated", kProject, 2, "update"},
    {"project.member_added", kProject, 1.5, nullptr},
    {"project.member_removed", kProject, 0.6, nullptr},
    {"project.archived", kProject, 0.3, "update"},
    {"project.deleted", kProject, 0.2, "delete"},
    {"report.generated", kReport, 2, nullptr},
    {"report.downloaded", kReport, 2.5, nullptr},
    {"report.shared", kReport, 1, nullptr},
    {"report.scheduled", kReport, 0.5, nullptr},
    {"report.exported", kReport, 0.8, nullptr},
    {"report.deleted", kReport, 0.2, "delete"},
    {"user.login_succeeded", kUser, 8, nullptr},
    {"user.login_failed", kUser, 1.5, nullptr},
    {"user.logout", kUser, 3, nullptr},
    {"user.invited", kUser, 0.5, "create"},
    {"user.role_changed", kUser, 0.4, "update"},
    {"user.mfa_enabled", kUser, 0.3, "update"},
    {"user.password_reset", kUser, 0.4, nullptr},
    {"user.removed", kUser, 0.2, "delete"},
    {"integration.connected", kIntegration, 0.3, "create"},
    {"integration.updated", kIntegration, 0.5, "update"},
    {"integration.sync_started", kIntegration, 2, nullptr},
    {"integration.sync_failed", kIntegration, 0.4, nullptr},
    {"integration.disconnected", kIntegration, 0.1, "delete"},
    {"api_key.created", kApiKey, 0.3, "create"},
    {"api_key.revoked", kApiKey, 0.2, "delete"},
};
constexpr size_t kActionCount = sizeof(kActions) / sizeof(kActions[0]);

const char* const kFirstNames[] = {"Ada",    "Grace",  "Alan",   "Linus", "Margaret", "Ken",
                                   "Barbara", "Dennis", "Frances", "Edsger", "Radia",   "Leslie",
                                   "Hedy",   "Niklaus", "Katherine", "Tim",  "Joan",    "Donald"};
const char* const kLastNames[] = {"Lovelace", "Hopper",   "Turing",  "Torvalds", "Hamilton",
                                  "Thompson", "Liskov",   "Ritchie", "Allen",    "Dijkstra",
                                  "Perlman",  "Lamport",  "Lamarr",  "Shannon",  "Johnson",
                                  "Berners-Lee", "Clarke", "Knuth"};
const char* const kRoles[] = {"owner", "admin", "admin", "member", "member", "member", "viewer",
                              "pentester", "pentester", "auditor"};
const char* const kTeams[] = {"appsec", "red-team", "platform", "compliance", "devops", "it"};
const char* const kUserAgents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "python-requests/2.32.3",
    "platform-backend/4.12.0 (+https://platform.example/bot) node/20.18.0",
    "Go-http-client/2.0",
    "curl/8.5.0"};
const char* const kVulns[] = {"SQL injection",
                              "Stored XSS",
                              "Reflected XSS",
                              "IDOR",
                              "SSRF",
                              "Open redirect",
                              "Missing rate limiting",
                              "Weak TLS configuration",
                              "Exposed admin panel",
                              "Broken access control",
                              "Path traversal",
                              "CSRF"};
const char* const kPaths[] = {"/api/v2/login", "/search",        "/api/v1/users/{id}",
                              "/upload",        "/admin",         "/reports/export",
                              "/graphql",       "/api/v2/orders", "/settings/profile"};
const char* const kHostPrefixes[] = {"api", "www", "app", "admin", "vpn", "mail", "staging",
                                     "cdn"};
const char* const kProjects[] = {"External pentest",   "Mobile app assessment",
                                 "Cloud config review", "Red team exercise",
                                 "PCI DSS scope",       "Web app retest",
                                 "Internal network",    "Bug bounty triage"};
const char* const kSeverities[] = {"critical", "high", "medium", "medium", "low", "low", "info"};
const char* const kStates[] = {"open", "triaged", "in_progress", "fixed", "retest", "closed",
                               "accepted_risk"};
const char* const kScanners[] = {"nuclei", "zap", "burp", "nmap", "semgrep", "trivy"};
const char* const kIntegrations[] = {"jira", "slack", "github", "gitlab", "servicenow", "teams"};
const char* const kCwes[] = {"CWE-89", "CWE-79", "CWE-639", "CWE-918", "CWE-601", "CWE-770",
                             "CWE-326", "CWE-284", "CWE-22", "CWE-352"};

template <typename T, size_t N>
constexpr size_t Count(const T (&)[N]) {
  return N;
}

uint64_t SplitMix(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A stable hash to derive per-entity attributes (names, IPs) from ids.
uint64_t Mix(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9e3779b97f4a7c15ULL + b;
  return SplitMix(&x);
}

std::string Hex(uint64_t v, int digits) {
  static const char* kHex = "0123456789abcdef";
  std::string s(static_cast<size_t>(digits), '0');
  for (int k = digits - 1; k >= 0; --k) {
    s[static_cast<size_t>(k)] = kHex[v & 15];
    v >>= 4;
  }
  return s;
}

std::string Padded(uint64_t v, int width) {
  std::string s = std::to_string(v);
  if (static_cast<int>(s.size()) < width) s.insert(0, static_cast<size_t>(width) - s.size(), '0');
  return s;
}

std::string Ulid(int64_t ms, uint64_t rand_hi, uint64_t rand_lo) {
  static const char* kCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  unsigned __int128 v = (static_cast<unsigned __int128>(static_cast<uint64_t>(ms) & 0xFFFFFFFFFFFFULL)
                         << 80) |
                        (static_cast<unsigned __int128>(rand_hi & 0xFFFF) << 64) | rand_lo;
  std::string out(26, '0');
  for (int k = 25; k >= 0; --k) {
    out[static_cast<size_t>(k)] = kCrockford[static_cast<unsigned>(v & 31)];
    v >>= 5;
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

uint64_t Workload::Rng::Next() {
  // xoshiro256**
  auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  const uint64_t result = rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

uint64_t Workload::Rng::Below(uint64_t n) {
  if (n <= 1) return 0;
  return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
}

double Workload::Rng::Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

size_t Workload::PickWeighted(const std::vector<double>& cumulative) {
  double u = rng_.Unit() * cumulative.back();
  return static_cast<size_t>(std::upper_bound(cumulative.begin(), cumulative.end(), u) -
                             cumulative.begin());
}

Workload::Workload(WorkloadOptions options) : options_(options) {
  uint64_t x = options_.seed;
  for (auto& w : rng_.s) w = SplitMix(&x);
  int n = std::max(1, options_.organizations);
  double total = 0;
  for (int k = 0; k < n; ++k) {
    orgs_.push_back(k < static_cast<int>(Count(kOrgNames)) ? std::string(kOrgNames[k])
                                                          : "org_" + Padded(k, 3));
    total += 1.0 / std::pow(k + 1, 0.9);  // Zipf-like sizes
    org_cumulative_.push_back(total);
  }
  org_seq_.assign(orgs_.size(), 0);
  double acc = 0;
  for (const auto& a : kActions) {
    acc += a.weight;
    action_cumulative_.push_back(acc);
  }
  if (options_.start_us == 0) {
    options_.start_us = FloorToDay(WallClockUs()) - 86400LL * 1000000;
  }
  clock_us_ = options_.start_us;
  if (options_.mean_gap_us < 1) options_.mean_gap_us = 1;
  items_.resize(orgs_.size());
  for (size_t k = 0; k < items_.size(); ++k) {
    // Organizations start with some history, more for bigger ones.
    uint64_t scale = 20 / (k + 1) + 1;
    items_[k].findings = 200 * scale;
    items_[k].assets = 40 * scale;
    items_[k].scans = 30 * scale;
    items_[k].projects = 5 * scale;
    items_[k].reports = 10 * scale;
    items_[k].users = 15 * scale;
    items_[k].api_keys = 2 * scale;
  }
}

const std::vector<std::string>& Workload::actions() const {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& a : kActions) v.emplace_back(a.name);
    return v;
  }();
  return names;
}

std::vector<GeneratedEvent> Workload::NextBatch(size_t n) {
  std::vector<GeneratedEvent> v(n);
  for (auto& e : v) Next(&e);
  return v;
}

void Workload::Next(GeneratedEvent* out) {
  GeneratedEvent& e = *out;
  // Platform clock: exponential inter-arrival times.
  double gap = -static_cast<double>(options_.mean_gap_us) * std::log(1.0 - rng_.Unit());
  clock_us_ += static_cast<int64_t>(gap) + 1;
  // Clients report occurred_at in milliseconds, a little before annals receives the event;
  // some events are delivered late (retries, queues).
  int64_t lag_us = rng_.Chance(0.9) ? static_cast<int64_t>(rng_.Below(40000))
                                    : static_cast<int64_t>(rng_.Below(5000000));
  int64_t occurred = (clock_us_ - lag_us) / 1000 * 1000;
  int64_t received = clock_us_ + 1500 + static_cast<int64_t>(rng_.Below(20000));

  size_t org = PickWeighted(org_cumulative_);
  OrgItems& items = items_[org];
  const ActionSpec& action = kActions[PickWeighted(action_cumulative_)];

  e.org_index = static_cast<int>(org);
  e.organization_id = orgs_[org];
  e.action = action.name;
  e.occurred_at_us = occurred;
  e.received_at_us = received;
  e.position = ++position_;
  e.seq = ++org_seq_[org];

  auto recent = [&](uint64_t count) -> uint64_t {
    // Biased towards recent items: count - floor(count * u^3).
    double u = rng_.Unit();
    uint64_t back = static_cast<uint64_t>(static_cast<double>(count) * u * u * u);
    return count - std::min(back, count - 1);
  };
  const std::string org_slug = e.organization_id.substr(4);

  // Actor.
  Json actor = Json::Object();
  uint64_t actor_n = 0;
  if (action.ns == kApiKey || action.ns == kIntegration || rng_.Chance(0.9)) {
    actor_n = 1 + rng_.Below(items.users);
    uint64_t h = Mix(org, actor_n);
    e.actor_type = "user";
    e.actor_id = "user_" + Padded(org * 100000 + actor_n, 7);
    std::string name = std::string(kFirstNames[h % Count(kFirstNames)]) + " " +
                       kLastNames[(h >> 8) % Count(kLastNames)];
    Json meta = Json::Object();
    meta.Add("role", Json::Str(kRoles[(h >> 16) % Count(kRoles)]));
    if ((h >> 24) % 2 == 0) meta.Add("team", Json::Str(kTeams[(h >> 28) % Count(kTeams)]));
    actor.Add("id", Json::Str(e.actor_id)).Add("type", Json::Str(e.actor_type));
    actor.Add("name", Json::Str(name)).Add("metadata", std::move(meta));
  } else {
    actor_n = 1 + rng_.Below(items.api_keys);
    e.actor_type = "api_key";
    e.actor_id = "key_" + Hex(Mix(org + 1000, actor_n), 16);
    Json meta = Json::Object();
    meta.Add("scopes", Json::Str("events:write findings:write"));
    actor.Add("id", Json::Str(e.actor_id)).Add("type", Json::Str(e.actor_type));
    actor.Add("name", Json::Str(actor_n % 2 ? "CI pipeline" : "Scanner connector"));
    actor.Add("metadata", std::move(meta));
  }

  // Targets: the item the action is about first, then its context.
  e.targets.clear();
  Json targets = Json::Array();
  auto add_target = [&](std::string type, std::string id, std::string name) {
    e.targets.push_back({type, id});
    Json t = Json::Object();
    t.Add("type", Json::Str(std::move(type))).Add("id", Json::Str(std::move(id)));
    t.Add("name", Json::Str(std::move(name)));
    targets.Push(std::move(t));
  };
  const bool creates = action.op && std::strcmp(action.op, "create") == 0;
  auto project_target = [&]() {
    uint64_t p = recent(items.projects);
    add_target("project", "prj_" + Padded(p, 5), kProjects[Mix(org, p) % Count(kProjects)]);
  };
  auto asset_name = [&](uint64_t a) {
    return std::string(kHostPrefixes[Mix(org, a) % Count(kHostPrefixes)]) +
           (a > 8 ? std::to_string(a) : "") + "." + org_slug + ".example";
  };
  uint64_t item_n = 0;
  switch (action.ns) {
    case kFinding: {
      item_n = creates ? ++items.findings : recent(items.findings);
      uint64_t h = Mix(org * 7 + 1, item_n);
      add_target("finding", "F-" + std::to_string(item_n),
                 std::string(kVulns[h % Count(kVulns)]) + " in " + kPaths[(h >> 8) % Count(kPaths)]);
      project_target();
      if (rng_.Chance(0.3)) {
        uint64_t a = recent(items.assets);
        add_target("asset", "ast_" + Padded(a, 6), asset_name(a));
      }
      break;
    }
    case kAsset: {
      item_n = creates ? ++items.assets : recent(items.assets);
      add_target("asset", "ast_" + Padded(item_n, 6), asset_name(item_n));
      if (rng_.Chance(0.6)) project_target();
      break;
    }
    case kScan: {
      item_n = std::strcmp(action.name, "scan.scheduled") == 0 ? ++items.scans
                                                                : recent(items.scans);
      add_target("scan", "scan_" + Padded(item_n, 7),
                 std::string(kScanners[Mix(org, item_n) % Count(kScanners)]) + " scan");
      project_target();
      if (rng_.Chance(0.4)) {
        uint64_t a = recent(items.assets);
        add_target("asset", "ast_" + Padded(a, 6), asset_name(a));
      }
      break;
    }
    case kProject: {
      item_n = creates ? ++items.projects : recent(items.projects);
      add_target("project", "prj_" + Padded(item_n, 5),
                 kProjects[Mix(org, item_n) % Count(kProjects)]);
      if (std::strstr(action.name, "member")) {
        uint64_t u = 1 + rng_.Below(items.users);
        add_target("user", "user_" + Padded(org * 100000 + u, 7), "Member");
      }
      break;
    }
    case kReport: {
      item_n = std::strcmp(action.name, "report.generated") == 0 ? ++items.reports
                                                                  : recent(items.reports);
      add_target("report", "rpt_" + Padded(item_n, 6),
                 "Security assessment report #" + std::to_string(item_n));
      project_target();
      break;
    }
    case kUser: {
      item_n = creates ? ++items.users : (actor_n ? actor_n : 1 + rng_.Below(items.users));
      uint64_t h = Mix(org, item_n);
      add_target("user", "user_" + Padded(org * 100000 + item_n, 7),
                 std::string(kFirstNames[h % Count(kFirstNames)]) + " " +
                     kLastNames[(h >> 8) % Count(kLastNames)]);
      break;
    }
    case kIntegration: {
      item_n = rng_.Below(Count(kIntegrations));
      add_target("integration", std::string("int_") + kIntegrations[item_n],
                 std::string(kIntegrations[item_n]) + " integration");
      break;
    }
    case kApiKey: {
      item_n = creates ? ++items.api_keys : recent(items.api_keys);
      add_target("api_key", "key_" + Hex(Mix(org + 1000, item_n), 16), "Automation key");
      break;
    }
  }

  // Context: the actor's usual address and client.
  uint64_t ch = Mix(org * 31 + 7, actor_n);
  Json context = Json::Object();
  std::string ip;
  switch (ch % 3) {
    case 0:
      ip = "203.0.113." + std::to_string(ch % 250 + 1);
      break;
    case 1:
      ip = "198.51.100." + std::to_string((ch >> 8) % 250 + 1);
      break;
    default:
      ip = "10." + std::to_string((ch >> 16) % 250) + "." + std::to_string((ch >> 24) % 250) +
           "." + std::to_string((ch >> 32) % 250 + 1);
  }
  context.Add("location", Json::Str(ip));
  // Half of the users' events come from a browser session, the rest (and every API key's)
  // from backend services acting for them.
  bool browser = e.actor_type == "user" && (ch >> 36) % 2 == 0;
  context.Add("user_agent", Json::Str(browser ? kUserAgents[(ch >> 40) % 4]
                                              : kUserAgents[4 + (ch >> 40) % 4]));

  // Metadata: a request id plus 1-3 keys specific to the namespace.
  Json meta = Json::Object();
  meta.Add("request_id", Json::Str("req_" + Hex(rng_.Next(), 16)));
  uint64_t mh = Mix(org * 13 + static_cast<uint64_t>(action.ns), item_n);
  switch (action.ns) {
    case kFinding:
      meta.Add("severity", Json::Str(kSeverities[mh % Count(kSeverities)]));
      if (rng_.Chance(0.5)) meta.Add("cvss", Json::Double(static_cast<double>(mh % 91 + 9) / 10.0));
      if (rng_.Chance(0.3)) meta.Add("cwe", Json::Str(kCwes[(mh >> 8) % Count(kCwes)]));
      break;
    case kAsset:
      meta.Add("environment", Json::Str(mh % 3 ? "production" : "staging"));
      if (rng_.Chance(0.5)) meta.Add("asset_kind", Json::Str(mh % 2 ? "web_app" : "api"));
      break;
    case kScan:
      meta.Add("scanner", Json::Str(kScanners[mh % Count(kScanners)]));
      meta.Add("duration_ms", Json::Int(static_cast<int64_t>(rng_.Below(3600000))));
      if (rng_.Chance(0.6)) meta.Add("findings_count", Json::Int(static_cast<int64_t>(rng_.Below(60))));
      break;
    case kProject:
      meta.Add("visibility", Json::Str(mh % 4 ? "private" : "shared"));
      break;
    case kReport:
      meta.Add("format", Json::Str(mh % 3 ? "pdf" : "html"));
      meta.Add("pages", Json::Int(static_cast<int64_t>(mh % 80 + 4)));
      break;
    case kUser:
      meta.Add("auth_method", Json::Str(mh % 3 ? "sso" : "password"));
      meta.Add("mfa", Json::Bool(mh % 5 != 0));
      break;
    case kIntegration:
      meta.Add("provider", Json::Str(kIntegrations[item_n % Count(kIntegrations)]));
      if (rng_.Chance(0.5)) meta.Add("records", Json::Int(static_cast<int64_t>(rng_.Below(5000))));
      break;
    case kApiKey:
      meta.Add("scopes", Json::Str("events:write"));
      meta.Add("expires_in_days", Json::Int(90));
      break;
  }

  // Changes of the first target, for item-changing actions.
  Json changes;
  bool has_changes = action.op != nullptr;
  if (has_changes) {
    changes = Json::Object();
    changes.Add("op", Json::Str(action.op));
    std::string op = action.op;
    uint64_t s = rng_.Below(Count(kStates) - 1);
    // Updates carry the changed field only (a partial image), creates the initial image.
    const bool severity = std::strcmp(action.name, "finding.severity_changed") == 0;
    auto image = [&](uint64_t state) {
      Json img = Json::Object();
      if (severity) {
        img.Add("severity", Json::Str(kSeverities[(mh + state) % Count(kSeverities)]));
      } else {
        img.Add("state", Json::Str(kStates[state]));
      }
      return img;
    };
    if (op == "create") {
      Json after = image(0);
      if (action.ns == kFinding) {
        after.Add("severity", Json::Str(kSeverities[mh % Count(kSeverities)]));
      }
      changes.Add("after", std::move(after));
    } else if (op == "update") {
      changes.Add("before", image(s));
      changes.Add("after", image(s + 1));
    } else {
      changes.Add("before", image(s));
    }
  }

  // (a) The client's JSON, in the order an SDK writes it.
  Json client = Json::Object();
  client.Add("organization_id", Json::Str(e.organization_id));
  client.Add("action", Json::Str(e.action));
  client.Add("occurred_at", Json::Str(FormatTimestamp(occurred, 3)));
  if (mh % 2 == 0) client.Add("version", Json::Int(1));
  client.Add("actor", std::move(actor));
  client.Add("targets", std::move(targets));
  client.Add("context", std::move(context));
  client.Add("metadata", std::move(meta));
  if (has_changes) client.Add("changes", std::move(changes));
  e.client_json.clear();
  Write(client, false, &e.client_json);

  // (b) The stored event: client content plus server fields, canonical.
  e.id = "evt_" + Ulid(received / 1000, rng_.Next(), rng_.Next());
  Json stored = std::move(client);
  stored.members[2].second = Json::Str(FormatTimestamp(occurred, 6));
  stored.Add("id", Json::Str(e.id));
  stored.Add("seq", Json::Int(static_cast<int64_t>(e.seq)));
  stored.Add("received_at", Json::Str(FormatTimestamp(received, 6)));
  Json source = Json::Object();
  source.Add("kind", Json::Str("api"));
  stored.Add("source", std::move(source));
  e.canonical_json.clear();
  Write(stored, true, &e.canonical_json);
}

std::string BatchBody(const std::vector<GeneratedEvent>& events, size_t begin, size_t end) {
  size_t bytes = 16;
  for (size_t k = begin; k < end; ++k) bytes += events[k].client_json.size() + 1;
  std::string body;
  body.reserve(bytes);
  body.append("{\"events\":[");
  for (size_t k = begin; k < end; ++k) {
    if (k != begin) body.push_back(',');
    body.append(events[k].client_json);
  }
  body.append("]}");
  return body;
}

std::string FormatTimestamp(int64_t us, int fraction_digits) {
  int64_t secs = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
  int64_t frac = us - secs * 1000000;
  time_t t = static_cast<time_t>(secs);
  tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string s(buf, static_cast<size_t>(n));
  if (fraction_digits == 3) {
    std::snprintf(buf, sizeof buf, ".%03dZ", static_cast<int>(frac / 1000));
    s += buf;
  } else if (fraction_digits == 6) {
    std::snprintf(buf, sizeof buf, ".%06dZ", static_cast<int>(frac));
    s += buf;
  } else {
    s += "Z";
  }
  return s;
}

int64_t FloorToDay(int64_t us) {
  const int64_t day = 86400LL * 1000000;
  return us >= 0 ? us / day * day : (us - day + 1) / day * day;
}

int64_t WallClockUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {
void PutU16Str(const std::string& s, std::string* out) {
  uint16_t n = static_cast<uint16_t>(s.size());
  out->append(reinterpret_cast<const char*>(&n), 2);
  out->append(s);
}
template <typename T>
void PutRaw(T v, std::string* out) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}
}  // namespace

void AppendRawRecord(const GeneratedEvent& e, std::string* out) {
  size_t start = out->size();
  PutRaw<uint32_t>(0, out);
  PutRaw<uint64_t>(e.position, out);
  PutRaw<uint64_t>(e.seq, out);
  PutRaw<int64_t>(e.occurred_at_us, out);
  PutU16Str(e.organization_id, out);
  PutU16Str(e.action, out);
  PutU16Str(e.actor_id, out);
  PutRaw<uint8_t>(static_cast<uint8_t>(e.targets.size()), out);
  for (const auto& t : e.targets) {
    PutU16Str(t.type, out);
    PutU16Str(t.id, out);
  }
  PutRaw<uint32_t>(static_cast<uint32_t>(e.canonical_json.size()), out);
  out->append(e.canonical_json);
  uint32_t len = static_cast<uint32_t>(out->size() - start);
  std::memcpy(out->data() + start, &len, 4);
}

}  // namespace annals::bench
