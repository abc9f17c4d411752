// Portal links (POST /portal/generate_link, GET /portal/{intent}): short-lived, signed links
// that open one organization's Audit Logs view (intent "audit_logs") or its log streams
// (intent "log_streams") without an API key.
//
// A link is "<public_url>/portal/<intent>?token=<token>", the token a signed token
// (common/signed_token.h) of purpose "portal" with the claims organization_id and intent,
// valid for PortalOptions::link_ttl_us. The signing key is 32 random bytes kept in the
// store's metadata (kPortalKeyMeta), created on first use; it never appears in configuration.
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <mutex>
#include <string>
#include <string_view>

#include "annals/clock.h"
#include "annals/status.h"
#include "annals/store.h"

namespace annals::workos {

// The metadata name of the links' signing key (under the store's "kv/").
inline constexpr char kPortalKeyMeta[] = "signing/portal_key";
// The token purpose of portal links.
inline constexpr char kPortalTokenPurpose[] = "portal";

struct PortalOptions {
  // Links start with this: "[server] public_url", e.g. "https://audit.example.com" (no
  // trailing slash). Empty: set later with SetPublicUrl before links are generated.
  std::string public_url;
  // How long a link stays valid ([portal] link_ttl, default 5 minutes).
  int64_t link_ttl_us = 5LL * 60 * 1000000;
};

struct PortalLink {
  std::string link;
  std::string token;
  TimestampUs expires_at = 0;
};

// What a valid portal token grants.
struct PortalGrant {
  std::string organization_id;
  std::string intent;
  TimestampUs expires_at = 0;
};

class PortalLinks {
 public:
  // `store` and `clock` must outlive this object.
  PortalLinks(Store* store, const Clock* clock, PortalOptions options);

  // True for the intents annals serves: "audit_logs" and "log_streams".
  static bool SupportedIntent(std::string_view intent);
  // True for every intent WorkOS defines (sso, dsync, domain_verification,
  // certificate_renewal, bring_your_own_key, audit_logs, log_streams).
  static bool KnownWorkosIntent(std::string_view intent);

  // Replaces the links' base URL (e.g. once the listener's real port is known).
  void SetPublicUrl(std::string public_url);

  // A link for `organization_id` (which the caller has checked exists) and a supported
  // `intent` (InvalidArgument otherwise), expiring link_ttl from now. Store errors from
  // loading or creating the key are returned as they are.
  Result<PortalLink> Generate(const std::string& organization_id, const std::string& intent);

  // Checks a token for `intent` at the clock's now. kPermissionDenied "invalid_token" for a
  // malformed, altered or foreign token, "token_expired" for an expired one, "wrong_intent"
  // for a genuine token issued for another intent.
  Result<PortalGrant> Verify(std::string_view intent, std::string_view token);

 private:
  Result<std::string> Key();

  Store* const store_;
  const Clock* const clock_;
  const int64_t link_ttl_us_;
  std::mutex mu_;            // guards public_url_ and key_
  std::string public_url_;
  std::string key_;          // empty until loaded
};

}  // namespace annals::workos
