// Blocking calls and concurrency: real threads, mostly on a SteadyClock.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "test_framework.h"
#include "test_util.h"

using naiad::EnqueueResult;
using naiad_test::batching;
using naiad_test::Ids;
using naiad_test::task;

namespace {

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Producers enqueue (some tasks with short queue timeouts) and cancel some of their tasks,
// consumers pull and finish batches, a reaper collects expired tasks: every task must end exactly
// once, as delivered, canceled or expired.
void run_exactly_once(naiad::SchedulerOptions options) {
  naiad::Scheduler scheduler(options, std::make_shared<naiad::SteadyClock>());
  constexpr int kProducers = 3;
  constexpr int kConsumers = 4;
  constexpr uint64_t kTasksPerProducer = 4000;
  std::mutex mu;
  std::vector<uint64_t> ended;
  size_t num_delivered = 0;
  size_t num_canceled = 0;
  std::atomic<int> num_errors{0};
  const auto add_ended = [&](const std::vector<uint64_t>& ids, size_t* counter) {
    std::lock_guard<std::mutex> lock(mu);
    ended.insert(ended.end(), ids.begin(), ids.end());
    if (counter != nullptr) *counter += ids.size();
  };

  std::vector<std::thread> threads;
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      std::vector<uint64_t> mine;
      while (std::optional<naiad::Batch> batch = scheduler.next_batch()) {
        if (batch->rows > options.max_batch_size || batch->task_ids.empty()) ++num_errors;
        if (!options.batching_enabled && batch->task_ids.size() != 1) ++num_errors;
        mine.insert(mine.end(), batch->task_ids.begin(), batch->task_ids.end());
        naiad::BatchOutcome outcome;
        outcome.compute_infer_ns = 1000;
        if (batch->batch_id % 7 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
        scheduler.finish_batch(batch->batch_id, outcome);
      }
      add_ended(mine, &num_delivered);
    });
  }
  threads.emplace_back([&] {
    for (std::vector<uint64_t> ids; !(ids = scheduler.wait_expired()).empty();) {
      add_ended(ids, nullptr);
    }
  });
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::mt19937 random(p);
      std::vector<uint64_t> mine;
      for (uint64_t i = 0; i < kTasksPerProducer; ++i) {
        const uint64_t id = static_cast<uint64_t>(p) * kTasksPerProducer + i;
        const uint32_t rows = options.batching_enabled ? 1 + random() % 3 : 1;
        const int64_t timeout_us = random() % 5 == 0 ? 100 : 0;
        const naiad::TaskSpec spec = task(id, rows, random() % 2, random() % 3, timeout_us);
        if (scheduler.enqueue(spec) != EnqueueResult::kOk) ++num_errors;
        if (random() % 10 == 0 && scheduler.cancel(id)) mine.push_back(id);
        if (i % 500 == 0) std::this_thread::yield();
      }
      add_ended(mine, &num_canceled);
    });
  }
  for (std::thread& producer : producers) producer.join();
  scheduler.close();
  for (std::thread& thread : threads) thread.join();
  add_ended(scheduler.take_expired(), nullptr);

  EXPECT_EQ(num_errors.load(), 0);
  std::sort(ended.begin(), ended.end());
  std::vector<uint64_t> expected(kProducers * kTasksPerProducer);
  for (uint64_t i = 0; i < expected.size(); ++i) expected[i] = i;
  EXPECT_TRUE(ended == expected);
  const naiad::SchedulerStats stats = scheduler.stats();
  EXPECT_EQ(stats.success.count, uint64_t{num_delivered});
  EXPECT_EQ(stats.canceled_count, uint64_t{num_canceled});
  EXPECT_EQ(stats.rejected_count, expected.size() - num_delivered - num_canceled);
  EXPECT_EQ(stats.num_pending, uint64_t{0});
  EXPECT_EQ(stats.num_in_flight, uint64_t{0});
  EXPECT_EQ(stats.compute_infer.count, stats.compute_output.count);
}

naiad::SchedulerOptions threaded_options(bool batching_enabled, bool preserve_ordering) {
  naiad::SchedulerOptions options = batching(8, 200);
  options.batching_enabled = batching_enabled;
  options.preserve_ordering = preserve_ordering;
  options.priority_levels = 2;
  options.preferred_batch_sizes = {4, 8};
  naiad::QueuePolicy delay;
  delay.timeout_action = naiad::TimeoutAction::kDelay;
  options.queue_policies = {naiad::QueuePolicy{}, delay};
  return options;
}

}  // namespace

TEST(Threads, EveryTaskEndsExactlyOnce) { run_exactly_once(threaded_options(true, false)); }

TEST(Threads, EveryTaskEndsExactlyOnceInOrder) { run_exactly_once(threaded_options(true, true)); }

TEST(Threads, EveryTaskEndsExactlyOnceWithoutBatching) {
  run_exactly_once(threaded_options(false, false));
}

TEST(Threads, NextBatchWakesOnPokeAfterManualClockAdvances) {
  auto clock = std::make_shared<naiad::ManualClock>();
  naiad::Scheduler scheduler(batching(8, 1000), clock);
  std::atomic<bool> done{false};
  Ids got;
  std::thread consumer([&] {
    got = naiad_test::ids(scheduler.next_batch());
    done = true;
  });
  scheduler.enqueue(task(1));
  scheduler.enqueue(task(2));
  sleep_ms(20);
  EXPECT_FALSE(done.load());  // the manual clock has not moved: still waiting for the delay
  clock->advance_us(1000);
  scheduler.poke();
  consumer.join();
  EXPECT_EQ(got, (Ids{1, 2}));
}

TEST(Threads, NextBatchWakesOnEnqueueAndClose) {
  naiad::Scheduler scheduler(batching(8, 0), std::make_shared<naiad::SteadyClock>());
  Ids first;
  bool second_is_none = false;
  std::thread consumer([&] {
    first = naiad_test::ids(scheduler.next_batch());
    second_is_none = !scheduler.next_batch().has_value();
  });
  sleep_ms(10);
  scheduler.enqueue(task(7));
  sleep_ms(10);
  scheduler.close();
  consumer.join();
  EXPECT_EQ(first, Ids{7});
  EXPECT_TRUE(second_is_none);
}

TEST(Threads, HeadDelayClosesABatchOnASteadyClock) {
  naiad::Scheduler scheduler(batching(8, 20'000), std::make_shared<naiad::SteadyClock>());
  scheduler.enqueue(task(1));
  const auto start = std::chrono::steady_clock::now();
  std::optional<naiad::Batch> batch = scheduler.next_batch();
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(naiad_test::ids(batch), Ids{1});
  EXPECT_TRUE(waited >= std::chrono::milliseconds(15));
}

TEST(Threads, WaitExpiredReportsWhileNothingPulls) {
  naiad::SchedulerOptions options = batching(8, 1'000'000);
  options.queue_policies.resize(1);
  options.queue_policies[0].default_timeout_us = 10'000'000;
  naiad::Scheduler scheduler(options, std::make_shared<naiad::SteadyClock>());
  scheduler.enqueue(task(1));  // 10 s deadline: the reaper first waits for that
  Ids expired;
  std::thread reaper([&] { expired = scheduler.wait_expired(); });
  sleep_ms(10);
  const auto start = std::chrono::steady_clock::now();
  scheduler.enqueue(task(2, 1, 0, 0, 20'000));  // an earlier deadline wakes the reaper
  reaper.join();
  EXPECT_EQ(expired, Ids{2});
  EXPECT_TRUE(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  EXPECT_EQ(scheduler.num_pending(), size_t{1});
}

TEST(Threads, WaitExpiredReturnsEmptyOnClose) {
  naiad::Scheduler scheduler(batching(8, 0), std::make_shared<naiad::SteadyClock>());
  Ids expired{99};
  std::thread reaper([&] { expired = scheduler.wait_expired(); });
  sleep_ms(10);
  scheduler.close();
  reaper.join();
  EXPECT_EQ(expired, Ids{});
}
