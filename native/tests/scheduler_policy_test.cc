// Queue policies (size limits, timeouts, overrides), cancellation, close and validation.

#include <stdexcept>

#include "test_framework.h"
#include "test_util.h"

using naiad::EnqueueResult;
using naiad::QueuePolicy;
using naiad::TimeoutAction;
using naiad_test::batching;
using naiad_test::Ids;
using naiad_test::ManualScheduler;

namespace {

naiad::SchedulerOptions with_policy(QueuePolicy policy, uint32_t max_batch_size = 8,
                                    int64_t max_queue_delay_us = 1'000'000) {
  naiad::SchedulerOptions options = batching(max_batch_size, max_queue_delay_us);
  options.queue_policies = {policy};
  return options;
}

QueuePolicy timeout_policy(TimeoutAction action, int64_t default_timeout_us, bool allow_override) {
  QueuePolicy policy;
  policy.timeout_action = action;
  policy.default_timeout_us = default_timeout_us;
  policy.allow_timeout_override = allow_override;
  return policy;
}

}  // namespace

TEST(QueuePolicy, MaxQueueSizeRejectsPerLevel) {
  naiad::SchedulerOptions options = batching(8, 0);
  options.priority_levels = 2;
  QueuePolicy small;
  small.max_queue_size = 2;
  options.queue_policies = {small, QueuePolicy{}};
  ManualScheduler s(options);
  EXPECT_EQ(s.enqueue(1, 1, 0, 1), EnqueueResult::kOk);
  EXPECT_EQ(s.enqueue(2, 1, 0, 1), EnqueueResult::kOk);
  EXPECT_EQ(s.enqueue(3, 1, 0, 1), EnqueueResult::kQueueFull);
  EXPECT_EQ(s.enqueue(4, 1, 0, 2), EnqueueResult::kOk);  // level 2 is unbounded
  EXPECT_EQ(s.scheduler.stats().rejected_count, uint64_t{1});
  EXPECT_EQ(s.scheduler.num_pending(), size_t{3});
  EXPECT_EQ(s.next_ids(), (Ids{1, 2, 4}));
  EXPECT_EQ(s.enqueue(3, 1, 0, 1), EnqueueResult::kOk);  // room again
}

TEST(QueuePolicy, RejectTimeoutRemovesTasksWhileNobodyPulls) {
  ManualScheduler s(with_policy(timeout_policy(TimeoutAction::kReject, 100, false)));
  s.enqueue(1);
  s.clock->advance_us(50);
  s.enqueue(2);
  EXPECT_EQ(s.expired(), Ids{});
  EXPECT_EQ(s.scheduler.next_wakeup_ns(), s.clock->now_ns() + 50'000);
  s.clock->advance_us(50);
  EXPECT_EQ(s.expired(), Ids{1});
  EXPECT_EQ(s.scheduler.num_pending(), size_t{1});
  EXPECT_EQ(s.expired(), Ids{});
  s.clock->advance_us(50);
  EXPECT_EQ(s.expired(), Ids{2});  // not 1 again: each id is reported once
  const naiad::SchedulerStats stats = s.scheduler.stats();
  EXPECT_EQ(stats.rejected_count, uint64_t{2});
  EXPECT_EQ(stats.fail.count, uint64_t{2});
  EXPECT_EQ(stats.fail.ns, uint64_t{200'000});
  EXPECT_EQ(stats.num_pending, uint64_t{0});
}

TEST(QueuePolicy, ExpiredTaskNeverEntersABatch) {
  ManualScheduler s(with_policy(timeout_policy(TimeoutAction::kReject, 100, false), 8, 0));
  s.enqueue(1);
  s.clock->advance_us(100);
  s.enqueue(2);
  EXPECT_EQ(s.next_ids(), Ids{2});
  EXPECT_EQ(s.expired(), Ids{1});
}

TEST(QueuePolicy, DelayTimeoutMovesTaskBehindOthers) {
  ManualScheduler s(with_policy(timeout_policy(TimeoutAction::kDelay, 100, false), 1, 0));
  s.enqueue(1);
  s.clock->advance_us(50);
  s.enqueue(2);
  s.clock->advance_us(60);  // task 1 timed out
  s.enqueue(3);
  EXPECT_EQ(s.next_ids(), Ids{2});
  EXPECT_EQ(s.next_ids(), Ids{3});
  EXPECT_EQ(s.next_ids(), Ids{1});
  EXPECT_EQ(s.expired(), Ids{});
  EXPECT_EQ(s.scheduler.stats().rejected_count, uint64_t{0});
}

TEST(QueuePolicy, DelayedTasksComeAfterEveryLevel) {
  naiad::SchedulerOptions options = batching(1, 0);
  options.priority_levels = 2;
  options.queue_policies = {timeout_policy(TimeoutAction::kDelay, 100, false), QueuePolicy{}};
  ManualScheduler s(options);
  s.enqueue(1, 1, 0, 1);
  s.clock->advance_us(100);
  s.enqueue(2, 1, 0, 2);
  EXPECT_EQ(s.next_ids(), Ids{2});
  EXPECT_EQ(s.next_ids(), Ids{1});
}

TEST(QueuePolicy, OverrideMayOnlyLowerTheDefault) {
  ManualScheduler s(with_policy(timeout_policy(TimeoutAction::kReject, 1000, true)));
  s.enqueue(1, 1, 0, 0, 100);   // lowers to 100 us
  s.enqueue(2, 1, 0, 0, 5000);  // cannot raise: stays 1000 us
  s.clock->advance_us(100);
  EXPECT_EQ(s.expired(), Ids{1});
  s.clock->advance_us(900);
  EXPECT_EQ(s.expired(), Ids{2});
}

TEST(QueuePolicy, OverrideSetsATimeoutWhenDefaultIsNone) {
  ManualScheduler s(with_policy(timeout_policy(TimeoutAction::kReject, 0, true)));
  s.enqueue(1, 1, 0, 0, 300);
  s.enqueue(2);  // no timeout at all
  s.clock->advance_us(300);
  EXPECT_EQ(s.expired(), Ids{1});
  s.clock->advance_us(10'000'000);
  EXPECT_EQ(s.expired(), Ids{});
}

TEST(QueuePolicy, OverrideIgnoredWhenNotAllowed) {
  ManualScheduler s(with_policy(timeout_policy(TimeoutAction::kReject, 1000, false)));
  s.enqueue(1, 1, 0, 0, 100);
  s.clock->advance_us(999);
  EXPECT_EQ(s.expired(), Ids{});
  s.clock->advance_us(1);
  EXPECT_EQ(s.expired(), Ids{1});

  ManualScheduler none(with_policy(timeout_policy(TimeoutAction::kReject, 0, false)));
  none.enqueue(1, 1, 0, 0, 100);
  none.clock->advance_us(1000);
  EXPECT_EQ(none.expired(), Ids{});
}

TEST(Cancel, QueuedTaskIsRemovedAndCounted) {
  ManualScheduler s(batching(8, 0));
  s.enqueue(1);
  s.enqueue(2);
  s.clock->advance_us(7);
  EXPECT_TRUE(s.scheduler.cancel(1));
  EXPECT_FALSE(s.scheduler.cancel(1));
  EXPECT_FALSE(s.scheduler.cancel(99));
  EXPECT_EQ(s.next_ids(), Ids{2});
  EXPECT_FALSE(s.scheduler.cancel(2));  // already in a batch
  const naiad::SchedulerStats stats = s.scheduler.stats();
  EXPECT_EQ(stats.canceled_count, uint64_t{1});
  EXPECT_EQ(stats.fail.count, uint64_t{1});
  EXPECT_EQ(stats.fail.ns, uint64_t{7'000});
}

TEST(Close, DrainsWithoutWaitingThenEnds) {
  ManualScheduler s(batching(8, 1'000'000));
  s.enqueue(1, 1, 0xA);
  s.enqueue(2, 1, 0xA);
  s.enqueue(3, 1, 0xB);
  EXPECT_EQ(s.next_ids(), Ids{});
  s.scheduler.close();
  EXPECT_EQ(s.enqueue(4), EnqueueResult::kClosed);
  EXPECT_EQ(s.next_ids(), (Ids{1, 2}));
  EXPECT_EQ(s.next_ids(), Ids{3});
  EXPECT_FALSE(s.scheduler.try_next_batch().has_value());
  EXPECT_FALSE(s.scheduler.next_batch().has_value());  // closed and empty: does not block
  EXPECT_EQ(s.scheduler.wait_expired(), Ids{});
  s.scheduler.close();  // idempotent
}

TEST(Close, QueuedTasksStillTimeOutUntilDrained) {
  ManualScheduler s(with_policy(timeout_policy(TimeoutAction::kReject, 100, false), 1, 0));
  s.enqueue(1);
  s.enqueue(2);
  s.enqueue(3);
  s.scheduler.close();
  EXPECT_EQ(s.next_ids(), Ids{1});
  s.clock->advance_us(100);
  EXPECT_EQ(s.scheduler.wait_expired(), (Ids{2, 3}));  // at once: they are rejected now
  EXPECT_EQ(s.scheduler.num_pending(), size_t{0});
  EXPECT_EQ(s.scheduler.wait_expired(), Ids{});  // closed and drained: nothing more can expire
  EXPECT_FALSE(s.scheduler.next_batch().has_value());
  const naiad::SchedulerStats stats = s.scheduler.stats();
  EXPECT_EQ(stats.timed_out_count, uint64_t{2});
  EXPECT_EQ(stats.num_in_flight, uint64_t{1});  // batch 1 is still out
}

TEST(Validation, BadOptionsThrow) {
  auto clock = std::make_shared<naiad::ManualClock>();
  naiad::SchedulerOptions zero_batch = batching(0, 0);
  EXPECT_THROW((void)naiad::Scheduler(zero_batch, clock), std::invalid_argument);
  naiad::SchedulerOptions zero_levels = batching(8, 0);
  zero_levels.priority_levels = 0;
  EXPECT_THROW((void)naiad::Scheduler(zero_levels, clock), std::invalid_argument);
  naiad::SchedulerOptions too_many_levels = batching(8, 0);
  too_many_levels.priority_levels = naiad::kMaxPriorityLevels + 1;
  EXPECT_THROW((void)naiad::Scheduler(too_many_levels, clock), std::invalid_argument);
  naiad::SchedulerOptions bad_default = batching(8, 0);
  bad_default.priority_levels = 2;
  bad_default.default_priority_level = 3;
  EXPECT_THROW((void)naiad::Scheduler(bad_default, clock), std::invalid_argument);
  naiad::SchedulerOptions policies = batching(8, 0);
  policies.priority_levels = 2;
  policies.queue_policies = {QueuePolicy{}};
  EXPECT_THROW((void)naiad::Scheduler(policies, clock), std::invalid_argument);
  naiad::SchedulerOptions preferred = batching(8, 0);
  preferred.preferred_batch_sizes = {16};
  EXPECT_THROW((void)naiad::Scheduler(preferred, clock), std::invalid_argument);
  naiad::SchedulerOptions delay = batching(8, -1);
  EXPECT_THROW((void)naiad::Scheduler(delay, clock), std::invalid_argument);
  EXPECT_THROW((void)naiad::Scheduler(batching(8, 0), nullptr), std::invalid_argument);
}

TEST(Validation, BadTasksThrowAndQueueNothing) {
  naiad::SchedulerOptions options = batching(4, 0);
  options.priority_levels = 2;
  ManualScheduler s(options);
  EXPECT_THROW(s.enqueue(1, 0), std::invalid_argument);
  EXPECT_THROW(s.enqueue(1, 5), std::invalid_argument);
  EXPECT_THROW(s.enqueue(1, 1, 0, 3), std::invalid_argument);
  EXPECT_THROW(s.enqueue(1, 1, 0, 0, -1), std::invalid_argument);
  EXPECT_EQ(s.scheduler.num_pending(), size_t{0});
  EXPECT_EQ(s.enqueue(1), EnqueueResult::kOk);
  EXPECT_THROW(s.enqueue(1), std::invalid_argument);
  EXPECT_EQ(s.scheduler.num_pending(), size_t{1});
}

TEST(Validation, FinishingAnUnknownBatchThrows) {
  ManualScheduler s(batching(4, 0));
  s.enqueue(1);
  std::optional<naiad::Batch> batch = s.scheduler.try_next_batch();
  ASSERT_TRUE(batch.has_value());
  naiad::BatchOutcome negative;
  negative.compute_infer_ns = -1;
  EXPECT_THROW(s.scheduler.finish_batch(batch->batch_id, negative), std::invalid_argument);
  s.scheduler.finish_batch(batch->batch_id, naiad::BatchOutcome{});
  EXPECT_THROW(s.scheduler.finish_batch(batch->batch_id, naiad::BatchOutcome{}),
               std::invalid_argument);
  EXPECT_THROW(s.scheduler.finish_batch(12345, naiad::BatchOutcome{}), std::invalid_argument);
}
