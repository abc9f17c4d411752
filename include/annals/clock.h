// Time is injected everywhere so tests need not wait. Implementations are thread-safe.
#pragma once

#include <atomic>

#include "annals/event.h"

namespace annals {

class Clock {
 public:
  virtual ~Clock() = default;
  // Microseconds since the Unix epoch, UTC.
  virtual TimestampUs NowMicros() const = 0;
};

// The system's real-time clock.
class SystemClock final : public Clock {
 public:
  TimestampUs NowMicros() const override;
};

// A clock that only moves when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimestampUs now) : now_(now) {}
  TimestampUs NowMicros() const override { return now_.load(); }
  void Set(TimestampUs now) { now_.store(now); }
  void Advance(TimestampUs delta) { now_.fetch_add(delta); }

 private:
  std::atomic<TimestampUs> now_;
};

}  // namespace annals
