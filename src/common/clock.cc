#include "annals/clock.h"

#include <chrono>

namespace annals {

TimestampUs SystemClock::NowMicros() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace annals
