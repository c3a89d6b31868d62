#include "naiad/clock.h"

#include <chrono>
#include <limits>

namespace naiad {

int64_t SteadyClock::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t add_us_saturating(int64_t base_ns, int64_t delta_us) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  if (delta_us > (kMax - (base_ns > 0 ? base_ns : 0)) / 1000) return kMax;
  return base_ns + delta_us * 1000;
}

}  // namespace naiad
