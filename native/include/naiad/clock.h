// Time sources for the scheduler. Everything in naiad's native core reads time through a Clock so
// that tests can drive batching delays and queue timeouts by advancing a ManualClock instead of
// sleeping.
//
// Times are int64 nanoseconds on an arbitrary monotonic epoch; only differences are meaningful.

#ifndef NAIAD_CLOCK_H_
#define NAIAD_CLOCK_H_

#include <atomic>
#include <cstdint>

namespace naiad {

class Clock {
 public:
  virtual ~Clock() = default;

  // Returns the current time in nanoseconds. Never blocks; callable from any thread. Successive
  // calls never go backwards (for ManualClock: unless a test calls set_ns with an earlier time).
  virtual int64_t now_ns() const = 0;
};

// std::chrono::steady_clock. The clock every production scheduler uses.
class SteadyClock : public Clock {
 public:
  int64_t now_ns() const override;
};

// A clock that moves only when told to. Thread-safe: a test thread may advance it while scheduler
// threads read it. Advancing does not wake threads blocked in a Scheduler; call Scheduler::poke()
// afterwards when a test uses the blocking calls with a ManualClock.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t start_ns = 0) : now_ns_(start_ns) {}

  int64_t now_ns() const override { return now_ns_.load(std::memory_order_acquire); }

  // Moves the clock forward by `delta_ns` (a negative delta moves it back; tests should not).
  void advance_ns(int64_t delta_ns) { now_ns_.fetch_add(delta_ns, std::memory_order_acq_rel); }
  void advance_us(int64_t delta_us) { advance_ns(delta_us * 1000); }

  // Sets the clock to `now_ns`.
  void set_ns(int64_t now_ns) { now_ns_.store(now_ns, std::memory_order_release); }

 private:
  std::atomic<int64_t> now_ns_;
};

// Returns `base_ns` plus `delta_us` microseconds, saturating at INT64_MAX instead of overflowing,
// so that huge timeouts mean "practically never". `delta_us` must be >= 0.
int64_t add_us_saturating(int64_t base_ns, int64_t delta_us);

}  // namespace naiad

#endif  // NAIAD_CLOCK_H_
