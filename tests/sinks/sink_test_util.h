// Shared helpers of the HTTP destination tests: batches of events and clients pointed at a
// local HttpReceiver.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "annals/clock.h"
#include "http_receiver.h"
#include "sinks/address_policy.h"
#include "sinks/curl_http_client.h"
#include "sinks/sink.h"

namespace annals::sinks::testing {

using namespace std::chrono_literals;

// Generous: tests never assert on speed.
inline constexpr std::chrono::milliseconds kEventually = 30s;

// 2024-05-06T07:08:09.123456Z
inline constexpr TimestampUs kReceivedAt = 1714979289123456;

// Event `seq` of org_acme; its JSON holds quotes, a backslash and non-ASCII text so that
// escaping is exercised.
inline SinkEvent MakeEvent(uint64_t seq) {
  SinkEvent e;
  e.seq = seq;
  e.id = "evt_" + std::to_string(1000 + seq);
  e.occurred_at = kReceivedAt - 1000;
  e.received_at = kReceivedAt + static_cast<TimestampUs>(seq) * 1000;
  e.action = "finding.updated";
  e.json = R"({"action":"finding.updated","id":")" + e.id +
           R"(","metadata":{"note":"say \"hi\" \\ café"},"organization_id":"org_acme","seq":)" +
           std::to_string(seq) + "}";
  return e;
}

inline SinkBatch MakeBatch(uint64_t first_seq, size_t count) {
  SinkBatch b;
  b.stream_id = "str_01TEST";
  b.organization_id = "org_acme";
  for (size_t i = 0; i < count; ++i) b.events.push_back(MakeEvent(first_seq + i));
  b.delivery_id = b.stream_id + ":" + std::to_string(b.first_seq()) + "-" +
                  std::to_string(b.last_seq());
  return b;
}

// A policy that lets tests reach 127.0.0.1.
inline const AddressPolicy& PermissivePolicy() {
  static const AddressPolicy policy(AddressPolicyOptions{.allow_private_destinations = true});
  return policy;
}

inline std::unique_ptr<CurlHttpClient> MakeClient(const AddressPolicy& policy = PermissivePolicy(),
                                                  size_t max_response_bytes = 64 * 1024) {
  CurlHttpClientOptions options;
  options.policy = &policy;
  options.max_response_bytes = max_response_bytes;
  Result<std::unique_ptr<CurlHttpClient>> client = CurlHttpClient::Create(std::move(options));
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(client).value() : nullptr;
}

}  // namespace annals::sinks::testing
