// The sequence batcher's slot table and batch formation, on a ManualClock (no sleeps).

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "naiad/sequence_batcher.h"
#include "test_framework.h"

using naiad::BatchOutcome;
using naiad::ManualClock;
using naiad::SequenceBatch;
using naiad::SequenceBatcher;
using naiad::SequenceEnqueueResult;
using naiad::SequenceOptions;
using naiad::SequenceStrategy;
using naiad::SequenceTaskSpec;

namespace {

using Ids = std::vector<uint64_t>;

struct Harness {
  explicit Harness(SequenceOptions options)
      : clock(std::make_shared<ManualClock>(1'000'000'000)), batcher(options, clock) {}

  SequenceEnqueueResult send(uint64_t task_id, const std::string& key, bool start = false,
                             bool end = false, uint64_t shape_key = 0) {
    return batcher.enqueue(SequenceTaskSpec{task_id, key, start, end, shape_key});
  }

  // The task ids of the instance's next batch, row by row (0 for an empty row), finished at once.
  Ids run(uint32_t instance = 0) {
    std::optional<SequenceBatch> batch = batcher.try_next_batch(instance);
    if (!batch) return {};
    Ids ids;
    for (const auto& row : batch->rows) ids.push_back(row.task_id);
    batcher.finish_batch(batch->batch_id, BatchOutcome{});
    return ids;
  }

  std::shared_ptr<ManualClock> clock;
  SequenceBatcher batcher;
};

SequenceOptions direct(uint32_t slots, uint32_t instances = 1) {
  SequenceOptions o;
  o.num_instances = instances;
  o.slots_per_instance = slots;
  o.max_batch_size = slots;
  return o;
}

SequenceOptions oldest(uint32_t candidates, uint32_t max_batch_size, int64_t delay_us) {
  SequenceOptions o;
  o.strategy = SequenceStrategy::kOldest;
  o.slots_per_instance = candidates;
  o.max_batch_size = max_batch_size;
  o.max_queue_delay_us = delay_us;
  return o;
}

}  // namespace

TEST(SequenceSlots, ARequestOfAnUnknownSequenceMustStartIt) {
  Harness h(direct(2));
  EXPECT_EQ(h.send(1, "a"), SequenceEnqueueResult::kNotStarted);
  EXPECT_EQ(h.batcher.num_pending(), size_t{0});
  EXPECT_EQ(h.batcher.stats().other_failure_count, uint64_t{1});
  EXPECT_EQ(h.send(2, "a", true), SequenceEnqueueResult::kOk);
  EXPECT_EQ(h.send(3, "a"), SequenceEnqueueResult::kOk);
}

TEST(SequenceSlots, DirectPutsSlotIInRowIAndPadsEmptyRows) {
  Harness h(direct(4));
  h.send(1, "a", true);
  h.send(2, "b", true);
  h.send(3, "c", true);
  EXPECT_EQ(h.run(), (Ids{1, 2, 3}));
  h.send(4, "c");  // only slot 2 has work: rows 0 and 1 are empty
  EXPECT_EQ(h.run(), (Ids{0, 0, 4}));
  h.send(5, "a");
  EXPECT_EQ(h.run(), (Ids{5}));
}

TEST(SequenceSlots, OneRequestPerSequenceInABatchInOrder) {
  Harness h(direct(2));
  h.send(1, "a", true);
  h.send(2, "a");
  h.send(3, "a", false, true);
  h.send(4, "b", true);
  EXPECT_EQ(h.run(), (Ids{1, 4}));
  EXPECT_EQ(h.run(), (Ids{2}));
  EXPECT_EQ(h.run(), (Ids{3}));
  EXPECT_EQ(h.run(), Ids{});
}

TEST(SequenceSlots, EndFreesTheSlotForTheBacklogInOrder) {
  Harness h(direct(1));
  h.send(1, "a", true);
  EXPECT_EQ(h.send(2, "b", true), SequenceEnqueueResult::kOk);
  EXPECT_EQ(h.send(3, "c", true), SequenceEnqueueResult::kOk);
  EXPECT_EQ(h.batcher.num_backlog_sequences(), size_t{2});
  EXPECT_EQ(h.run(), (Ids{1}));
  EXPECT_EQ(h.run(), Ids{});  // "a" still holds the slot
  h.send(4, "a", false, true);
  std::optional<SequenceBatch> batch = h.batcher.try_next_batch(0);
  ASSERT_TRUE(batch.has_value());
  EXPECT_TRUE(batch->rows[0].end);
  h.batcher.finish_batch(batch->batch_id, BatchOutcome{});
  batch = h.batcher.try_next_batch(0);
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->rows[0].task_id, uint64_t{2});  // b before c
  EXPECT_EQ(batch->released_slots, (std::vector<uint32_t>{0}));
  h.batcher.finish_batch(batch->batch_id, BatchOutcome{});
  EXPECT_EQ(h.send(5, "a"), SequenceEnqueueResult::kNotStarted);  // "a" ended
}

TEST(SequenceSlots, TheBacklogIsBounded) {
  SequenceOptions o = direct(1);
  o.max_backlog_sequences = 1;
  Harness h(o);
  h.send(1, "a", true);
  EXPECT_EQ(h.send(2, "b", true), SequenceEnqueueResult::kOk);
  EXPECT_EQ(h.send(3, "c", true), SequenceEnqueueResult::kBacklogFull);
  EXPECT_EQ(h.batcher.stats().rejected_count, uint64_t{1});
  EXPECT_EQ(h.send(4, "b"), SequenceEnqueueResult::kOk);  // a waiting sequence takes requests
}

TEST(SequenceSlots, AnIdleSequenceLosesItsSlot) {
  SequenceOptions o = direct(1);
  o.max_sequence_idle_us = 1'000;
  Harness h(o);
  h.send(1, "a", true);
  h.send(2, "b", true);
  EXPECT_EQ(h.run(), (Ids{1}));
  h.clock->advance_us(999);
  EXPECT_EQ(h.run(), Ids{});
  EXPECT_EQ(h.batcher.num_backlog_sequences(), size_t{1});
  h.clock->advance_us(1);
  EXPECT_EQ(h.run(), (Ids{2}));
  EXPECT_EQ(h.send(3, "a"), SequenceEnqueueResult::kNotStarted);
  EXPECT_EQ(h.batcher.num_live_sequences(), size_t{1});
}

TEST(SequenceSlots, ARequestKeepsItsSequenceAlive) {
  SequenceOptions o = direct(1);
  o.max_sequence_idle_us = 1'000;
  Harness h(o);
  h.send(1, "a", true);
  EXPECT_EQ(h.run(), (Ids{1}));
  h.clock->advance_us(900);
  h.send(2, "a");
  EXPECT_EQ(h.run(), (Ids{2}));
  h.clock->advance_us(900);
  EXPECT_EQ(h.send(3, "a"), SequenceEnqueueResult::kOk);
}

TEST(SequenceSlots, SequencesSpreadOverInstancesAndStayThere) {
  Harness h(direct(2, 2));
  h.send(1, "a", true);
  h.send(2, "b", true);
  h.send(3, "c", true);
  EXPECT_EQ(h.run(0), (Ids{1, 3}));
  EXPECT_EQ(h.run(1), (Ids{2}));
  h.send(4, "b");
  EXPECT_EQ(h.run(0), Ids{});
  EXPECT_EQ(h.run(1), (Ids{4}));
}

TEST(SequenceSlots, AnInstanceRunsOneBatchAtATime) {
  Harness h(direct(2));
  h.send(1, "a", true);
  std::optional<SequenceBatch> first = h.batcher.try_next_batch(0);
  ASSERT_TRUE(first.has_value());
  h.send(2, "b", true);
  EXPECT_FALSE(h.batcher.try_next_batch(0).has_value());
  h.batcher.finish_batch(first->batch_id, BatchOutcome{});
  EXPECT_EQ(h.run(), (Ids{0, 2}));
}

TEST(SequenceSlots, DirectWaitsForTheDelayOrUtilization) {
  SequenceOptions o = direct(4);
  o.max_queue_delay_us = 500;
  o.minimum_slot_utilization = 0.5;
  Harness h(o);
  h.send(1, "a", true);
  h.send(2, "b", true);
  h.send(3, "c", true);
  EXPECT_EQ(h.run(), (Ids{1, 2, 3}));  // every live sequence has a request
  h.send(4, "a");
  EXPECT_EQ(h.run(), Ids{});
  h.clock->advance_us(499);
  EXPECT_EQ(h.run(), Ids{});
  h.send(5, "c");  // 2 of 4 slots: utilization reached
  EXPECT_EQ(h.run(), (Ids{4, 0, 5}));
  h.send(6, "b");
  h.clock->advance_us(500);
  EXPECT_EQ(h.run(), (Ids{0, 6}));
}

TEST(SequenceSlots, OldestPacksTheOldestHeadsFirst) {
  Harness h(oldest(4, 2, 0));
  h.send(1, "a", true);
  h.send(2, "b", true);
  h.send(3, "c", true);
  std::optional<SequenceBatch> batch = h.batcher.try_next_batch(0);
  ASSERT_TRUE(batch.has_value());
  ASSERT_EQ(batch->rows.size(), size_t{2});
  EXPECT_EQ(batch->rows[0].task_id, uint64_t{1});
  EXPECT_EQ(batch->rows[1].task_id, uint64_t{2});
  EXPECT_EQ(batch->rows[1].slot, uint32_t{1});
  h.batcher.finish_batch(batch->batch_id, BatchOutcome{});
  h.send(4, "a");
  EXPECT_EQ(h.run(), (Ids{3, 4}));  // c waited longest
}

TEST(SequenceSlots, OldestWaitsForTheDelayOrAPreferredSize) {
  SequenceOptions o = oldest(4, 4, 1'000);
  o.preferred_batch_sizes = {2};
  Harness h(o);
  h.send(1, "a", true);
  h.send(2, "b", true);
  h.send(3, "c", true);
  EXPECT_EQ(h.run(), (Ids{1, 2}));  // the preferred size closes it, and takes that many
  EXPECT_EQ(h.run(), Ids{});        // c waits for company until its delay runs out
  h.clock->advance_us(1'000);
  EXPECT_EQ(h.run(), (Ids{3}));
}

TEST(SequenceSlots, OnlyOneShapeShareABatch) {
  Harness h(direct(2));
  h.send(1, "a", true, false, 7);
  h.send(2, "b", true, false, 8);
  EXPECT_EQ(h.run(), (Ids{1}));
  EXPECT_EQ(h.run(), (Ids{0, 2}));
}

TEST(SequenceSlots, StatsCountRequestsNotPaddedRows) {
  Harness h(direct(4));
  h.send(1, "a", true);
  h.send(2, "b", true);
  h.run();
  h.send(3, "b");
  h.run();
  const auto stats = h.batcher.stats();
  EXPECT_EQ(stats.success.count, uint64_t{3});
  EXPECT_EQ(stats.inference_count, uint64_t{3});
  EXPECT_EQ(stats.execution_count, uint64_t{2});
  EXPECT_EQ(stats.queue.count, uint64_t{3});
}

TEST(SequenceSlots, CloseDrainsQueuedRequestsAndTheBacklog) {
  Harness h(direct(1));
  h.send(1, "a", true);
  h.send(2, "b", true);
  h.batcher.close();
  EXPECT_EQ(h.send(3, "a"), SequenceEnqueueResult::kClosed);
  EXPECT_EQ(h.run(), (Ids{1}));
  EXPECT_EQ(h.run(), (Ids{2}));
  EXPECT_FALSE(h.batcher.next_batch(0).has_value());
}

TEST(SequenceSlots, ABlockedCallerWakesForAnEnqueue) {
  Harness h(direct(1));
  std::optional<SequenceBatch> got;
  std::thread worker([&] { got = h.batcher.next_batch(0); });
  while (h.batcher.num_waiting() == 0) std::this_thread::yield();
  h.send(1, "a", true);
  worker.join();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->rows[0].task_id, uint64_t{1});
}

TEST(SequenceSlots, RejectsBadTasksAndOptions) {
  Harness h(direct(1));
  EXPECT_THROW(h.send(0, "a", true), std::invalid_argument);
  EXPECT_THROW(h.send(1, "", true), std::invalid_argument);
  h.send(1, "a", true);
  EXPECT_THROW(h.send(1, "a"), std::invalid_argument);
  EXPECT_THROW(h.batcher.finish_batch(99, BatchOutcome{}), std::invalid_argument);
  SequenceOptions bad = direct(0);
  EXPECT_THROW(naiad::validate(bad), std::invalid_argument);
}
