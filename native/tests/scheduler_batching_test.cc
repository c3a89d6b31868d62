// When batches close and what goes into them, driven by a ManualClock.

#include "test_framework.h"
#include "test_util.h"

using naiad::EnqueueResult;
using naiad_test::batching;
using naiad_test::Ids;
using naiad_test::ManualScheduler;

TEST(Batching, EmptyQueueHasNoBatchAndNoWakeup) {
  ManualScheduler s(batching(8, 100));
  EXPECT_EQ(s.next_ids(), Ids{});
  EXPECT_EQ(s.scheduler.next_wakeup_ns(), int64_t{-1});
}

TEST(Batching, ClosesWhenHeadDelayRunsOut) {
  ManualScheduler s(batching(8, 100));
  const int64_t start_ns = s.clock->now_ns();
  EXPECT_EQ(s.enqueue(1), EnqueueResult::kOk);
  s.clock->advance_us(40);
  EXPECT_EQ(s.enqueue(2), EnqueueResult::kOk);
  EXPECT_EQ(s.next_ids(), Ids{});
  // The delay counts from the head's arrival, not the latest task's.
  EXPECT_EQ(s.scheduler.next_wakeup_ns(), start_ns + 100'000);
  s.clock->advance_us(59);
  EXPECT_EQ(s.next_ids(), Ids{});
  s.clock->advance_us(1);
  EXPECT_EQ(s.scheduler.next_wakeup_ns(), s.clock->now_ns());
  std::optional<naiad::Batch> batch = s.scheduler.try_next_batch();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->task_ids, (Ids{1, 2}));
  EXPECT_EQ(batch->rows, uint32_t{2});
  EXPECT_EQ(s.scheduler.num_pending(), size_t{0});
}

TEST(Batching, TasksAccumulateUntilAnInstanceAsks) {
  ManualScheduler s(batching(8, 0));
  for (uint64_t id = 1; id <= 5; ++id) s.enqueue(id);
  EXPECT_EQ(s.next_ids(), (Ids{1, 2, 3, 4, 5}));
}

TEST(Batching, DelayZeroClosesAtOnce) {
  ManualScheduler s(batching(8, 0));
  s.enqueue(1);
  EXPECT_EQ(s.next_ids(), Ids{1});
  EXPECT_EQ(s.next_ids(), Ids{});
}

TEST(Batching, ClosesAtLargestPreferredSize) {
  naiad::SchedulerOptions options = batching(8, 1'000'000);
  options.preferred_batch_sizes = {4, 2};
  ManualScheduler s(options);
  for (uint64_t id = 1; id <= 3; ++id) s.enqueue(id);
  EXPECT_EQ(s.next_ids(), Ids{});  // 3 rows: below the largest preferred size, keep waiting
  s.enqueue(4);
  s.enqueue(5);
  EXPECT_EQ(s.next_ids(), (Ids{1, 2, 3, 4}));  // cut to exactly 4 rows
  EXPECT_EQ(s.next_ids(), Ids{});
}

TEST(Batching, PreferredCutPrefersExactSizeElseCapsAtLargest) {
  naiad::SchedulerOptions options = batching(8, 1'000'000);
  options.preferred_batch_sizes = {2, 4};
  ManualScheduler s(options);
  s.enqueue(1, 3);
  s.enqueue(2, 3);
  // Prefixes have 3 and 6 rows: none preferred, so the batch is capped at 4 rows.
  EXPECT_EQ(s.next_ids(), Ids{1});
  s.enqueue(3, 1);
  s.enqueue(4, 2);
  // Prefixes 3, 4, 6 rows (ids 2, 3, 4): the longest exact one has 4 rows.
  EXPECT_EQ(s.next_ids(), (Ids{2, 3}));
}

TEST(Batching, ClosesAtMaxBatchSize) {
  ManualScheduler s(batching(4, 1'000'000));
  s.enqueue(1, 2);
  EXPECT_EQ(s.next_ids(), Ids{});
  s.enqueue(2, 2);
  std::optional<naiad::Batch> batch = s.scheduler.try_next_batch();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->task_ids, (Ids{1, 2}));
  EXPECT_EQ(batch->rows, uint32_t{4});
}

TEST(Batching, ClosesWhenNextTaskDoesNotFit) {
  ManualScheduler s(batching(4, 1'000'000));
  s.enqueue(1, 3);
  s.enqueue(2, 2);
  s.enqueue(3, 1);  // would fit, but does not jump ahead of task 2
  EXPECT_EQ(s.next_ids(), Ids{1});
  EXPECT_EQ(s.next_ids(), Ids{});  // 2 + 1 rows: waits for the delay
  s.clock->advance_us(1'000'000);
  EXPECT_EQ(s.next_ids(), (Ids{2, 3}));
}

TEST(Batching, DisabledBatchingHandsOutOneTaskPerBatch) {
  naiad::SchedulerOptions options = batching(8, 1'000'000);
  options.batching_enabled = false;
  ManualScheduler s(options);
  for (uint64_t id = 1; id <= 3; ++id) s.enqueue(id);
  EXPECT_EQ(s.next_ids(), Ids{1});
  EXPECT_EQ(s.next_ids(), Ids{2});
  EXPECT_EQ(s.next_ids(), Ids{3});
  EXPECT_EQ(s.next_ids(), Ids{});
}

TEST(Batching, HigherPriorityFirstFifoWithinLevel) {
  naiad::SchedulerOptions options = batching(2, 0);
  options.priority_levels = 3;
  options.default_priority_level = 2;
  ManualScheduler s(options);
  s.enqueue(1, 1, 0, 3);
  s.enqueue(2, 1, 0, 0);  // default level 2
  s.enqueue(3, 1, 0, 1);
  s.enqueue(4, 1, 0, 1);
  s.enqueue(5, 1, 0, 2);
  s.enqueue(6, 1, 0, 1);
  EXPECT_EQ(s.next_ids(), (Ids{3, 4}));
  EXPECT_EQ(s.next_ids(), (Ids{6, 2}));
  EXPECT_EQ(s.next_ids(), (Ids{5, 1}));
}

TEST(Batching, DifferentShapesNeverShareABatch) {
  ManualScheduler s(batching(8, 0));
  s.enqueue(1, 1, 0xA);
  s.enqueue(2, 1, 0xB);
  s.enqueue(3, 1, 0xA);
  s.enqueue(4, 2, 0xB);
  std::optional<naiad::Batch> first = s.scheduler.try_next_batch();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->task_ids, (Ids{1, 3}));
  EXPECT_EQ(first->shape_key, uint64_t{0xA});
  std::optional<naiad::Batch> second = s.scheduler.try_next_batch();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->task_ids, (Ids{2, 4}));
  EXPECT_EQ(second->rows, uint32_t{3});
  EXPECT_EQ(second->shape_key, uint64_t{0xB});
}

TEST(Batching, SkippedShapeWaitsForItsOwnHeadDelay) {
  ManualScheduler s(batching(8, 100));
  s.enqueue(1, 1, 0xA);
  s.clock->advance_us(50);
  s.enqueue(2, 1, 0xB);
  s.clock->advance_us(50);
  EXPECT_EQ(s.next_ids(), Ids{1});
  EXPECT_EQ(s.next_ids(), Ids{});
  EXPECT_EQ(s.scheduler.next_wakeup_ns(), s.clock->now_ns() + 50'000);
  s.clock->advance_us(50);
  EXPECT_EQ(s.next_ids(), Ids{2});
}

TEST(Batching, PreserveOrderingFormsContiguousBatches) {
  naiad::SchedulerOptions options = batching(8, 1'000'000);
  options.preserve_ordering = true;
  ManualScheduler s(options);
  s.enqueue(1, 1, 0xA);
  s.enqueue(2, 1, 0xA);
  s.enqueue(3, 1, 0xB);
  s.enqueue(4, 1, 0xA);
  // Nothing behind task 3 can join tasks 1 and 2, so their batch closes without waiting.
  EXPECT_EQ(s.next_ids(), (Ids{1, 2}));
  EXPECT_EQ(s.next_ids(), Ids{3});
  EXPECT_EQ(s.next_ids(), Ids{});
  s.clock->advance_us(1'000'000);
  EXPECT_EQ(s.next_ids(), Ids{4});
}

TEST(Batching, WithoutPreserveOrderingSkipsOtherShapes) {
  ManualScheduler s(batching(8, 1'000'000));
  s.enqueue(1, 1, 0xA);
  s.enqueue(2, 1, 0xB);
  s.enqueue(3, 1, 0xA);
  s.clock->advance_us(1'000'000);
  EXPECT_EQ(s.next_ids(), (Ids{1, 3}));
  EXPECT_EQ(s.next_ids(), Ids{2});
}

TEST(Batching, BatchIdsAreUniqueAndIncreasing) {
  ManualScheduler s(batching(1, 0));
  s.enqueue(1);
  s.enqueue(2);
  std::optional<naiad::Batch> a = s.scheduler.try_next_batch();
  std::optional<naiad::Batch> b = s.scheduler.try_next_batch();
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_TRUE(a->batch_id < b->batch_id);
}
