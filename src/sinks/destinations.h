// The destinations annals delivers log streams to, by stream `type`: webhook, splunk_hec,
// datadog, s3 and syslog. Validates configurations (including the address policy on the
// configured host) and builds sinks, each with its own outbound connection.
#pragma once

#include <string>
#include <vector>

#include "annals/clock.h"
#include "sinks/address_policy.h"
#include "sinks/sink.h"

namespace annals::sinks {

struct DestinationOptions {
  AddressPolicyOptions policy;
  // Extra trust anchors (PEM) for HTTPS destinations, besides the system's; empty: none.
  std::string ca_file;
  const Clock* clock = nullptr;  // required; must outlive the sinks
};

// Immutable after construction; thread-safe. Must outlive the sinks it creates.
class Destinations final : public SinkFactory {
 public:
  explicit Destinations(DestinationOptions options);

  bool Knows(const std::string& type) const override;
  // The type's own validation, then the configured host: an address the policy refuses is
  // "destination_not_allowed" at the host's path. A host that does not resolve (yet) is
  // accepted; its deliveries fail until it does.
  Status Validate(const std::string& type, const boost::json::object& config) const override;
  Result<std::unique_ptr<Sink>> Create(const std::string& type,
                                       const boost::json::object& config) const override;
  std::vector<std::string> SecretFields(const std::string& type) const override;
  BatchLimits Limits(const std::string& type) const override;
  // s3: the endpoint, bucket and prefix (object names carry seqs, not the stream).
  std::string ExclusiveTarget(const std::string& type,
                              const boost::json::object& config) const override;

  const AddressPolicy& policy() const { return policy_; }

 private:
  const DestinationOptions options_;
  const AddressPolicy policy_;
};

}  // namespace annals::sinks
