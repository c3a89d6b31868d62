// Counters, per-size batch statistics and histograms.

#include <stdexcept>

#include "test_framework.h"
#include "test_util.h"

using naiad::FailureReason;
using naiad_test::batching;
using naiad_test::Ids;
using naiad_test::ManualScheduler;

namespace {

naiad::BatchOutcome outcome(bool success, int64_t input_ns, int64_t infer_ns, int64_t output_ns) {
  naiad::BatchOutcome result;
  result.success = success;
  result.compute_input_ns = input_ns;
  result.compute_infer_ns = infer_ns;
  result.compute_output_ns = output_ns;
  return result;
}

// Index of the histogram bucket holding `value`.
size_t bucket_of(const naiad::Histogram& histogram, double value) {
  size_t i = 0;
  while (i < histogram.bounds.size() && value > histogram.bounds[i]) ++i;
  return i;
}

}  // namespace

TEST(Stats, ComputeDurationsAreCountedPerRequest) {
  ManualScheduler s(batching(4, 0));
  s.enqueue(1, 1);
  s.enqueue(2, 2);
  s.enqueue(3, 1);
  s.clock->advance_us(2);
  std::optional<naiad::Batch> batch = s.scheduler.try_next_batch();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->rows, uint32_t{4});
  naiad::SchedulerStats stats = s.scheduler.stats();
  EXPECT_EQ(stats.queue.count, uint64_t{3});
  EXPECT_EQ(stats.queue.ns, uint64_t{6'000});
  EXPECT_EQ(stats.num_in_flight, uint64_t{3});
  EXPECT_EQ(stats.last_inference_ms, int64_t{0});

  s.clock->advance_us(8);
  s.scheduler.finish_batch(batch->batch_id, outcome(true, 100, 200, 300));
  stats = s.scheduler.stats();
  EXPECT_EQ(stats.success.count, uint64_t{3});
  EXPECT_EQ(stats.success.ns, uint64_t{30'000});
  EXPECT_EQ(stats.compute_input.count, uint64_t{3});
  EXPECT_EQ(stats.compute_infer.count, uint64_t{3});
  EXPECT_EQ(stats.compute_output.count, uint64_t{3});
  EXPECT_EQ(stats.compute_input.ns, uint64_t{300});
  EXPECT_EQ(stats.compute_infer.ns, uint64_t{600});
  EXPECT_EQ(stats.compute_output.ns, uint64_t{900});
  EXPECT_EQ(stats.inference_count, uint64_t{4});
  EXPECT_EQ(stats.execution_count, uint64_t{1});
  EXPECT_EQ(stats.num_in_flight, uint64_t{0});
  EXPECT_EQ(stats.fail.count, uint64_t{0});
  EXPECT_TRUE(stats.last_inference_ms > 1'600'000'000'000);
  ASSERT_EQ(stats.batch_stats.size(), size_t{1});
  EXPECT_EQ(stats.batch_stats[0].batch_size, uint32_t{4});
  EXPECT_EQ(stats.batch_stats[0].count, uint64_t{1});
  EXPECT_EQ(stats.batch_stats[0].compute_input_ns, uint64_t{100});
  EXPECT_EQ(stats.batch_stats[0].compute_infer_ns, uint64_t{200});
  EXPECT_EQ(stats.batch_stats[0].compute_output_ns, uint64_t{300});
}

TEST(Stats, BatchStatsAreSortedBySize) {
  ManualScheduler s(batching(4, 0));
  const uint32_t sizes[] = {3, 1, 3, 2};
  uint64_t id = 0;
  for (uint32_t rows : sizes) {
    s.enqueue(++id, rows);
    std::optional<naiad::Batch> batch = s.scheduler.try_next_batch();
    ASSERT_TRUE(batch.has_value());
    s.scheduler.finish_batch(batch->batch_id, outcome(true, 1, 10, 1));
  }
  const naiad::SchedulerStats stats = s.scheduler.stats();
  ASSERT_EQ(stats.batch_stats.size(), size_t{3});
  EXPECT_EQ(stats.batch_stats[0].batch_size, uint32_t{1});
  EXPECT_EQ(stats.batch_stats[1].batch_size, uint32_t{2});
  EXPECT_EQ(stats.batch_stats[2].batch_size, uint32_t{3});
  EXPECT_EQ(stats.batch_stats[2].count, uint64_t{2});
  EXPECT_EQ(stats.batch_stats[2].compute_infer_ns, uint64_t{20});
  EXPECT_EQ(stats.execution_count, uint64_t{4});
  EXPECT_EQ(stats.inference_count, uint64_t{9});
}

TEST(Stats, BackendFailureCountsEachRequestAndNoCompute) {
  ManualScheduler s(batching(4, 0));
  s.enqueue(1);
  s.enqueue(2);
  std::optional<naiad::Batch> batch = s.scheduler.try_next_batch();
  ASSERT_TRUE(batch.has_value());
  s.clock->advance_us(5);
  s.scheduler.finish_batch(batch->batch_id, outcome(false, 1, 1, 1));
  s.scheduler.record_failure(FailureReason::kOther, 3);
  s.scheduler.record_failure(FailureReason::kRejected);
  const naiad::SchedulerStats stats = s.scheduler.stats();
  EXPECT_EQ(stats.backend_failure_count, uint64_t{2});
  EXPECT_EQ(stats.other_failure_count, uint64_t{3});
  EXPECT_EQ(stats.rejected_count, uint64_t{1});
  EXPECT_EQ(stats.fail.count, uint64_t{6});
  EXPECT_EQ(stats.fail.ns, uint64_t{10'000});
  EXPECT_EQ(stats.success.count, uint64_t{0});
  EXPECT_EQ(stats.compute_infer.count, uint64_t{0});
  EXPECT_EQ(stats.execution_count, uint64_t{0});
  EXPECT_TRUE(stats.batch_stats.empty());
  EXPECT_TRUE(stats.last_inference_ms > 0);
}

TEST(Stats, PendingIsCountedPerLevel) {
  naiad::SchedulerOptions options = batching(1, 0);
  options.priority_levels = 3;
  ManualScheduler s(options);
  s.enqueue(1, 1, 0, 1);
  s.enqueue(2, 1, 0, 3);
  s.enqueue(3, 1, 0, 3);
  naiad::SchedulerStats stats = s.scheduler.stats();
  EXPECT_EQ(stats.pending_by_level, (std::vector<uint64_t>{1, 0, 2}));
  EXPECT_EQ(stats.num_pending, uint64_t{3});
  EXPECT_EQ(s.next_ids(), Ids{1});
  stats = s.scheduler.stats();
  EXPECT_EQ(stats.pending_by_level, (std::vector<uint64_t>{0, 0, 2}));
  EXPECT_EQ(stats.num_in_flight, uint64_t{1});
}

TEST(Stats, HistogramsBucketDurationsAndSizes) {
  ManualScheduler s(batching(8, 0));
  for (uint64_t id = 1; id <= 5; ++id) s.enqueue(id);
  s.clock->advance_us(300);  // queue 300 us each
  std::optional<naiad::Batch> batch = s.scheduler.try_next_batch();
  ASSERT_TRUE(batch.has_value());
  s.clock->advance_us(1'700);  // request 2000 us each
  s.scheduler.finish_batch(batch->batch_id, outcome(true, 0, 40'000, 0));
  const naiad::SchedulerStats stats = s.scheduler.stats();

  const naiad::Histogram& queue = stats.queue_duration_us;
  EXPECT_EQ(queue.counts.size(), queue.bounds.size() + 1);
  EXPECT_EQ(queue.count, uint64_t{5});
  EXPECT_EQ(queue.sum, 1500.0);
  EXPECT_EQ(queue.counts[bucket_of(queue, 300)], uint64_t{5});  // 250 < 300 <= 500

  const naiad::Histogram& request = stats.request_duration_us;
  EXPECT_EQ(request.count, uint64_t{5});
  EXPECT_EQ(request.counts[bucket_of(request, 2000)], uint64_t{5});
  EXPECT_EQ(request.sum, 10'000.0);

  const naiad::Histogram& infer = stats.compute_infer_duration_us;
  EXPECT_EQ(infer.count, uint64_t{5});
  EXPECT_EQ(infer.counts[bucket_of(infer, 40)], uint64_t{5});  // <= 100 us
  EXPECT_EQ(bucket_of(infer, 40), size_t{0});

  const naiad::Histogram& sizes = stats.batch_size;
  EXPECT_EQ(sizes.count, uint64_t{1});
  EXPECT_EQ(sizes.sum, 5.0);
  EXPECT_EQ(sizes.counts[bucket_of(sizes, 5)], uint64_t{1});  // 4 < 5 <= 8
  EXPECT_EQ(sizes.bounds.back(), 1024.0);
}

TEST(Stats, ValuesAboveTheLastBoundGoToTheOverflowBucket) {
  naiad::Histogram histogram(naiad::batch_size_bounds());
  histogram.observe(1);
  histogram.observe(4096);
  EXPECT_EQ(histogram.counts.front(), uint64_t{1});
  EXPECT_EQ(histogram.counts.back(), uint64_t{1});
  EXPECT_EQ(histogram.count, uint64_t{2});
}

TEST(Stats, CacheHitsCountAsSuccessesThatNeverRan) {
  ManualScheduler s(batching(4, 0));
  s.scheduler.record_cache_miss(700);
  s.scheduler.record_cache_hit(300);
  s.scheduler.record_cache_hit(500);
  const naiad::SchedulerStats stats = s.scheduler.stats();
  EXPECT_EQ(stats.cache_hit.count, uint64_t{2});
  EXPECT_EQ(stats.cache_hit.ns, uint64_t{800});
  EXPECT_EQ(stats.cache_miss.count, uint64_t{1});
  EXPECT_EQ(stats.cache_miss.ns, uint64_t{700});
  EXPECT_EQ(stats.success.count, uint64_t{2});
  EXPECT_EQ(stats.success.ns, uint64_t{800});
  EXPECT_EQ(stats.queue.count, uint64_t{2});
  EXPECT_EQ(stats.queue.ns, uint64_t{0});
  EXPECT_EQ(stats.compute_infer.count, uint64_t{0});
  EXPECT_EQ(stats.inference_count, uint64_t{0});
  EXPECT_EQ(stats.execution_count, uint64_t{0});
  EXPECT_EQ(stats.request_duration_us.count, uint64_t{2});
}

TEST(Stats, NegativeCacheDurationsAreRefused) {
  ManualScheduler s(batching(4, 0));
  EXPECT_THROW(s.scheduler.record_cache_hit(-1), std::invalid_argument);
  EXPECT_THROW(s.scheduler.record_cache_miss(-1), std::invalid_argument);
  EXPECT_EQ(s.scheduler.stats().cache_hit.count, uint64_t{0});
}
