#include "workos/portal.h"

#include "common/signed_token.h"

namespace annals::workos {

PortalLinks::PortalLinks(Store* store, const Clock* clock, PortalOptions options)
    : store_(store),
      clock_(clock),
      link_ttl_us_(options.link_ttl_us),
      public_url_(std::move(options.public_url)) {}

bool PortalLinks::SupportedIntent(std::string_view intent) {
  return intent == "audit_logs" || intent == "log_streams";
}

bool PortalLinks::KnownWorkosIntent(std::string_view intent) {
  return SupportedIntent(intent) || intent == "sso" || intent == "dsync" ||
         intent == "domain_verification" || intent == "certificate_renewal" ||
         intent == "bring_your_own_key";
}

void PortalLinks::SetPublicUrl(std::string public_url) {
  std::lock_guard lock(mu_);
  public_url_ = std::move(public_url);
}

Result<std::string> PortalLinks::Key() {
  std::lock_guard lock(mu_);
  if (key_.empty()) {
    Result<std::string> key = LoadOrCreateTokenKey(store_, kPortalKeyMeta);
    if (!key.ok()) return key.status();
    key_ = *std::move(key);
  }
  return key_;
}

Result<PortalLink> PortalLinks::Generate(const std::string& organization_id,
                                         const std::string& intent) {
  if (!SupportedIntent(intent)) {
    return Status::InvalidArgument("the portal intent '" + intent + "' is not supported",
                                   "invalid_intent");
  }
  Result<std::string> key = Key();
  if (!key.ok()) return key.status();
  TokenClaims claims;
  claims.purpose = kPortalTokenPurpose;
  claims.claims["organization_id"] = organization_id;
  claims.claims["intent"] = intent;
  claims.expires_at = clock_->NowMicros() + link_ttl_us_;
  PortalLink out;
  out.token = IssueSignedToken(*key, claims);
  out.expires_at = claims.expires_at;
  std::string base;
  {
    std::lock_guard lock(mu_);
    base = public_url_;
  }
  out.link = base + "/portal/" + intent + "?token=" + out.token;
  return out;
}

Result<PortalGrant> PortalLinks::Verify(std::string_view intent, std::string_view token) {
  Result<std::string> key = Key();
  if (!key.ok()) return key.status();
  Result<TokenClaims> claims =
      VerifySignedToken(*key, kPortalTokenPurpose, token, clock_->NowMicros());
  if (!claims.ok()) return claims.status();
  auto org = claims->claims.find("organization_id");
  auto granted = claims->claims.find("intent");
  if (org == claims->claims.end() || granted == claims->claims.end()) {
    return Status(Code::kPermissionDenied, "invalid_token", "the token is not a portal token");
  }
  if (granted->second != intent) {
    return Status(Code::kPermissionDenied, "wrong_intent",
                  "the token was issued for the '" + granted->second + "' portal, not this one");
  }
  PortalGrant grant;
  grant.organization_id = org->second;
  grant.intent = granted->second;
  grant.expires_at = claims->expires_at;
  return grant;
}

}  // namespace annals::workos
