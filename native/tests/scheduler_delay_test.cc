// The batch timing a delay policy sets at run time, and the arrival counters it reads, on a
// ManualClock.

#include "test_framework.h"
#include "test_util.h"

using naiad::BatchOutcome;
using naiad::BatchTiming;
using naiad::LoadSample;
using naiad_test::batching;
using naiad_test::Ids;
using naiad_test::ManualScheduler;

TEST(Timing, StartsAtTheConfiguredDelayAndIsClampedToIt) {
  ManualScheduler s(batching(8, 500));
  EXPECT_EQ(s.scheduler.timing().delay_us, int64_t{500});
  EXPECT_EQ(s.scheduler.timing().join_window_us, int64_t{500});
  s.scheduler.set_timing(BatchTiming{2'000, -5});
  EXPECT_EQ(s.scheduler.timing().delay_us, int64_t{500});
  EXPECT_EQ(s.scheduler.timing().join_window_us, int64_t{0});
  s.scheduler.set_timing(BatchTiming{120, 30});
  EXPECT_EQ(s.scheduler.timing().delay_us, int64_t{120});
  EXPECT_EQ(s.scheduler.timing().join_window_us, int64_t{30});
}

TEST(Timing, AShorterDelayClosesTheWaitingBatchSooner) {
  ManualScheduler s(batching(8, 1'000));
  s.enqueue(1);
  s.clock->advance_us(100);
  EXPECT_EQ(s.next_ids(), Ids{});
  EXPECT_EQ(s.scheduler.next_wakeup_ns(), s.clock->now_ns() + 900'000);
  s.scheduler.set_timing(BatchTiming{100, 1'000});  // the head has waited that long already
  EXPECT_EQ(s.next_ids(), Ids{1});
  s.enqueue(2);
  s.clock->advance_us(99);
  EXPECT_EQ(s.next_ids(), Ids{});
  s.clock->advance_us(1);
  EXPECT_EQ(s.next_ids(), Ids{2});
}

TEST(Timing, ZeroDelayOrZeroWindowClosesAtOnce) {
  ManualScheduler s(batching(8, 1'000));
  s.scheduler.set_timing(BatchTiming{0, 1'000});
  s.enqueue(1);
  EXPECT_EQ(s.next_ids(), Ids{1});
  s.scheduler.set_timing(BatchTiming{1'000, 0});
  s.enqueue(2);
  EXPECT_EQ(s.next_ids(), Ids{2});
}

TEST(Timing, TheJoinWindowRestartsWithEachTaskThatJoins) {
  ManualScheduler s(batching(8, 1'000));
  s.scheduler.set_timing(BatchTiming{1'000, 50});
  const int64_t start_ns = s.clock->now_ns();
  s.enqueue(1);
  s.clock->advance_us(40);
  s.enqueue(2);
  s.clock->advance_us(40);
  s.enqueue(3);
  EXPECT_EQ(s.scheduler.next_wakeup_ns(), start_ns + 130'000);  // newest (at 80 us) + 50 us
  s.clock->advance_us(49);
  EXPECT_EQ(s.next_ids(), Ids{});
  s.clock->advance_us(1);
  EXPECT_EQ(s.next_ids(), (Ids{1, 2, 3}));
}

TEST(Timing, TheHeadDelayStillBoundsAStreamOfJoiners) {
  ManualScheduler s(batching(64, 100));
  s.scheduler.set_timing(BatchTiming{100, 30});
  const int64_t start_ns = s.clock->now_ns();
  for (uint64_t id = 1; id <= 5; ++id) {
    s.enqueue(id);
    s.clock->advance_us(20);  // each joins within the window
  }
  EXPECT_EQ(s.scheduler.next_wakeup_ns(), start_ns + 100'000);
  EXPECT_EQ(s.next_ids(), (Ids{1, 2, 3, 4, 5}));  // at 100 us: the head's delay ran out
}

TEST(LoadMeter, ClosedLoopArrivalsNeverFindWorkOutstanding) {
  ManualScheduler s(batching(8, 0));
  const LoadSample start = s.scheduler.load_sample();
  for (uint64_t id = 1; id <= 5; ++id) {
    s.enqueue(id);
    std::optional<naiad::Batch> batch = s.scheduler.try_next_batch();
    ASSERT_TRUE(batch.has_value());
    s.clock->advance_us(30);  // the run
    s.scheduler.finish_batch(batch->batch_id, BatchOutcome{});
    s.clock->advance_us(70);  // the answer travels, the caller sends its next request
  }
  const LoadSample end = s.scheduler.load_sample();
  EXPECT_EQ(end.num_arrivals - start.num_arrivals, uint64_t{5});
  EXPECT_EQ(end.num_busy_arrivals - start.num_busy_arrivals, uint64_t{0});
  EXPECT_EQ(end.busy_gap_ns - start.busy_gap_ns, int64_t{0});
  EXPECT_EQ(end.now_ns - start.now_ns, int64_t{5 * 100'000});
}

TEST(LoadMeter, CountsArrivalsThatFindWorkQueuedOrRunningAndTheirGaps) {
  ManualScheduler s(batching(8, 0));
  s.enqueue(1);  // finds nothing
  s.clock->advance_us(10);
  s.enqueue(2);  // finds 1 queued, 10 us after it
  std::optional<naiad::Batch> batch = s.scheduler.try_next_batch();
  ASSERT_TRUE(batch.has_value());
  s.clock->advance_us(25);
  s.enqueue(3);  // finds a batch running, 25 us after 2
  s.clock->advance_us(10);
  s.scheduler.finish_batch(batch->batch_id, BatchOutcome{});
  EXPECT_TRUE(s.scheduler.cancel(3));
  s.clock->advance_us(500);
  s.enqueue(4);  // finds nothing again: its 510 us gap is not counted
  const LoadSample sample = s.scheduler.load_sample();
  EXPECT_EQ(sample.num_arrivals, uint64_t{4});
  EXPECT_EQ(sample.num_busy_arrivals, uint64_t{2});
  EXPECT_EQ(sample.busy_gap_ns, int64_t{35'000});
  EXPECT_EQ(sample.num_batches, uint64_t{1});
  EXPECT_EQ(sample.num_batched_tasks, uint64_t{2});
}
