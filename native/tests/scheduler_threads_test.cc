// Blocking calls and concurrency: real threads. A test acts on a blocked thread only once
// num_waiting() shows it blocked, and waits for an outcome with a bound, so that a missing wake-up
// fails the test instead of hanging it or passing unseen.

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
using naiad_test::eventually;
using naiad_test::Ids;
using naiad_test::task;

namespace {

// Whether exactly `n` threads are blocked in the scheduler now.
auto waiting(const naiad::Scheduler& scheduler, size_t n) {
  return [&scheduler, n] { return scheduler.num_waiting() == n; };
}

// Producers enqueue (some tasks with short queue timeouts) and cancel some of their tasks,
// consumers pull and finish batches, a reaper collects expired tasks until wait_expired() returns
// empty: every task must end exactly once, as delivered, canceled or expired.
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
  // A 60 s delay: the waiter sleeps that long in real time unless poke() wakes it.
  naiad::Scheduler scheduler(batching(8, 60'000'000), clock);
  scheduler.enqueue(task(1));
  scheduler.enqueue(task(2));
  std::atomic<bool> done{false};
  Ids got;
  std::thread consumer([&] {
    got = naiad_test::ids(scheduler.next_batch());
    done = true;
  });
  EXPECT_TRUE(eventually(waiting(scheduler, 1)));
  EXPECT_FALSE(done.load());  // the manual clock has not moved: still waiting for the delay
  clock->advance_us(60'000'000);
  scheduler.poke();
  EXPECT_TRUE(eventually([&] { return done.load(); }));
  scheduler.close();  // frees the consumer if poke() did not
  consumer.join();
  EXPECT_EQ(got, (Ids{1, 2}));
}

TEST(Threads, NextBatchWakesOnEnqueueAndClose) {
  naiad::Scheduler scheduler(batching(8, 0), std::make_shared<naiad::SteadyClock>());
  Ids first;
  std::atomic<bool> got_first{false};
  std::atomic<bool> got_none{false};
  std::thread consumer([&] {
    first = naiad_test::ids(scheduler.next_batch());
    got_first = true;
    got_none = !scheduler.next_batch().has_value();
  });
  // Each time the consumer waits on an empty queue with no deadline: only a wake-up ends that.
  EXPECT_TRUE(eventually(waiting(scheduler, 1)));
  scheduler.enqueue(task(7));
  EXPECT_TRUE(eventually([&] { return got_first.load() && scheduler.num_waiting() == 1; }));
  scheduler.close();
  EXPECT_TRUE(eventually([&] { return got_none.load(); }));
  scheduler.poke();  // frees the consumer if close() did not
  consumer.join();
  EXPECT_EQ(first, Ids{7});
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

TEST(Threads, WaitExpiredWakesForAnEarlierDeadline) {
  naiad::SchedulerOptions options = batching(8, 0);
  options.queue_policies.resize(1);
  options.queue_policies[0].default_timeout_us = 1'000'000'000;  // 1000 s
  naiad::Scheduler scheduler(options, std::make_shared<naiad::SteadyClock>());
  scheduler.enqueue(task(1));
  Ids expired;
  std::atomic<bool> done{false};
  std::thread reaper([&] {
    expired = scheduler.wait_expired();
    done = true;
  });
  EXPECT_TRUE(eventually(waiting(scheduler, 1)));  // asleep until task 1's deadline
  scheduler.enqueue(task(2, 1, 0, 0, 20'000));    // 20 ms: it must wake to sleep less
  EXPECT_TRUE(eventually([&] { return done.load(); }));
  scheduler.close();
  scheduler.try_next_batch();  // drains task 1 so a reaper still waiting returns
  reaper.join();
  EXPECT_EQ(expired, Ids{2});
  EXPECT_EQ(scheduler.num_pending(), size_t{0});
}

TEST(Threads, WaitExpiredReturnsEmptyOnceClosedAndDrained) {
  auto clock = std::make_shared<naiad::ManualClock>();
  naiad::Scheduler scheduler(batching(1, 0), clock);
  scheduler.enqueue(task(1));
  scheduler.enqueue(task(2, 1, 0, 0, 100));
  scheduler.close();
  std::mutex mu;
  std::vector<Ids> returned;
  std::thread reaper([&] {
    for (;;) {
      Ids ids = scheduler.wait_expired();
      std::lock_guard<std::mutex> lock(mu);
      returned.push_back(ids);
      if (ids.empty()) return;
    }
  });
  const auto num_returned = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return returned.size();
  };
  // Closed, but task 2 may still time out: the reaper waits.
  EXPECT_TRUE(eventually(waiting(scheduler, 1)));
  EXPECT_EQ(num_returned(), size_t{0});
  clock->advance_us(100);
  scheduler.poke();
  EXPECT_TRUE(eventually([&] { return num_returned() == 1 && scheduler.num_waiting() == 1; }));
  EXPECT_EQ(naiad_test::ids(scheduler.try_next_batch()), Ids{1});  // drains: the reaper ends
  EXPECT_TRUE(eventually([&] { return num_returned() == 2; }));
  scheduler.poke();  // frees the reaper if the drain did not
  reaper.join();
  EXPECT_TRUE(returned == (std::vector<Ids>{Ids{2}, Ids{}}));
}
