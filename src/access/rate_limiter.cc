#include "access/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace annals {

namespace {
constexpr TimestampUs kSweepEveryUs = 60'000'000;
}  // namespace

RateLimiter::RateLimiter(RateLimitOptions options, const Clock* clock)
    : options_(options), clock_(clock) {}

Status RateLimiter::Acquire(std::string_view key_id) {
  if (options_.rate_per_second <= 0) return Status::Ok();
  const double burst = std::max(options_.burst, 1.0);
  const TimestampUs now = clock_->NowMicros();
  std::lock_guard lock(mu_);
  if (now - last_sweep_ >= kSweepEveryUs) {
    std::erase_if(buckets_, [&](const auto& kv) { return now - kv.second.updated >= kSweepEveryUs; });
    last_sweep_ = now;
  }
  auto [it, inserted] = buckets_.try_emplace(std::string(key_id), Bucket{burst, now});
  Bucket& b = it->second;
  if (!inserted && now > b.updated) {
    b.tokens = std::min(burst, b.tokens + (now - b.updated) * options_.rate_per_second / 1e6);
  }
  b.updated = std::max(b.updated, now);
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return Status::Ok();
  }
  const double wait_s = (1.0 - b.tokens) / options_.rate_per_second;
  Status s(Code::kRateLimited, "rate_limited",
           "too many requests for this API key; retry after the Retry-After delay");
  s.set_retry_after_seconds(std::max(1, static_cast<int>(std::ceil(wait_s))));
  return s;
}

}  // namespace annals
