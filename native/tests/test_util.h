// Helpers shared by the scheduler tests.

#ifndef NAIAD_TESTS_TEST_UTIL_H_
#define NAIAD_TESTS_TEST_UTIL_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "naiad/clock.h"
#include "naiad/scheduler.h"

namespace naiad_test {

inline naiad::TaskSpec task(uint64_t task_id, uint32_t rows = 1, uint64_t shape_key = 0,
                            uint32_t priority = 0, int64_t timeout_us = 0) {
  naiad::TaskSpec spec;
  spec.task_id = task_id;
  spec.rows = rows;
  spec.shape_key = shape_key;
  spec.priority = priority;
  spec.timeout_us = timeout_us;
  return spec;
}

// The batch's task ids; empty when there is no batch.
inline std::vector<uint64_t> ids(const std::optional<naiad::Batch>& batch) {
  return batch ? batch->task_ids : std::vector<uint64_t>{};
}

inline naiad::SchedulerOptions batching(uint32_t max_batch_size, int64_t max_queue_delay_us) {
  naiad::SchedulerOptions options;
  options.max_batch_size = max_batch_size;
  options.max_queue_delay_us = max_queue_delay_us;
  return options;
}

// A scheduler on a ManualClock that starts at 1 s.
struct ManualScheduler {
  explicit ManualScheduler(naiad::SchedulerOptions options)
      : clock(std::make_shared<naiad::ManualClock>(1'000'000'000)),
        scheduler(std::move(options), clock) {}

  naiad::EnqueueResult enqueue(uint64_t task_id, uint32_t rows = 1, uint64_t shape_key = 0,
                               uint32_t priority = 0, int64_t timeout_us = 0) {
    return scheduler.enqueue(task(task_id, rows, shape_key, priority, timeout_us));
  }
  std::vector<uint64_t> next_ids() { return ids(scheduler.try_next_batch()); }

  // The ids rejected by their queue timeout since the last call, without blocking:
  // next_wakeup_ns() applies the deadlines that passed, and wait_expired() returns at once when
  // it has ids to return.
  std::vector<uint64_t> expired() {
    (void)scheduler.next_wakeup_ns();
    if (scheduler.stats().timed_out_count == num_expired) return {};
    std::vector<uint64_t> ids = scheduler.wait_expired();
    num_expired += ids.size();
    return ids;
  }

  std::shared_ptr<naiad::ManualClock> clock;
  naiad::Scheduler scheduler;
  uint64_t num_expired = 0;
};

using Ids = std::vector<uint64_t>;

// Polls `holds` until it returns true or `timeout` passes; returns whether it held. For handshakes
// with other threads (e.g. until Scheduler::num_waiting() shows one is blocked), never to let time
// pass: a test that needs time to pass advances a ManualClock.
template <typename Predicate>
bool eventually(Predicate holds, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!holds()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return true;
}

}  // namespace naiad_test

#endif  // NAIAD_TESTS_TEST_UTIL_H_
