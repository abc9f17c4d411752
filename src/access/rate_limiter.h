// Per-key request rate limiting with token buckets (PRODUCT.md "Limits and protection").
//
// Each key gets a bucket of `burst` tokens refilled at `rate_per_second`; a request takes
// one token or is refused with the time until the next token. Buckets idle for a minute are
// dropped (an idle bucket is full anyway).
//
// Thread-safety: Acquire may be called concurrently.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "annals/clock.h"
#include "annals/status.h"

namespace annals {

struct RateLimitOptions {
  double rate_per_second = 0;  // 0: unlimited
  double burst = 0;            // bucket size; at least 1 when limiting
};

class RateLimiter {
 public:
  // `clock` must outlive the limiter.
  RateLimiter(RateLimitOptions options, const Clock* clock);

  // OK, or kRateLimited "rate_limited" with Retry-After (whole seconds, at least 1).
  Status Acquire(std::string_view key_id);

 private:
  struct Bucket {
    double tokens = 0;
    TimestampUs updated = 0;
  };
  const RateLimitOptions options_;
  const Clock* const clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // guarded by mu_
  TimestampUs last_sweep_ = 0;                       // guarded by mu_
};

}  // namespace annals
