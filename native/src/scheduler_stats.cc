#include "naiad/scheduler_stats.h"

#include <algorithm>
#include <utility>

namespace naiad {

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds(std::move(upper_bounds)), counts(bounds.size() + 1, 0) {}

void Histogram::observe(double value) {
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin());
  ++counts[bucket];
  sum += value;
  ++count;
}

const std::vector<double>& duration_bounds_us() {
  static const std::vector<double> kBounds = {
      100,    250,    500,     1000,    2500,    5000,    10000,  25000,
      50000,  100000, 250000,  500000,  1000000, 2500000, 5000000};
  return kBounds;
}

const std::vector<double>& batch_size_bounds() {
  static const std::vector<double> kBounds = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
  return kBounds;
}

void StatsRecorder::record_queued(int64_t queue_ns) {
  totals_.queue.add(1, queue_ns);
  totals_.queue_duration_us.observe(static_cast<double>(queue_ns) / 1e3);
}

void StatsRecorder::record_timed_out(uint64_t count) { totals_.timed_out_count += count; }

void StatsRecorder::record_failure(FailureReason reason, uint64_t count, int64_t total_ns) {
  totals_.fail.add(count, total_ns);
  switch (reason) {
    case FailureReason::kRejected:
      totals_.rejected_count += count;
      break;
    case FailureReason::kCanceled:
      totals_.canceled_count += count;
      break;
    case FailureReason::kBackend:
      totals_.backend_failure_count += count;
      break;
    case FailureReason::kOther:
      totals_.other_failure_count += count;
      break;
  }
}

void StatsRecorder::record_cache_hit(int64_t lookup_ns) {
  totals_.cache_hit.add(1, lookup_ns);
  totals_.success.add(1, lookup_ns);
  totals_.queue.add(1, 0);
  totals_.request_duration_us.observe(static_cast<double>(lookup_ns > 0 ? lookup_ns : 0) / 1e3);
}

void StatsRecorder::record_cache_miss(int64_t lookup_ns) { totals_.cache_miss.add(1, lookup_ns); }

void StatsRecorder::record_success(uint32_t rows, const std::vector<int64_t>& request_ns,
                                   int64_t compute_input_ns, int64_t compute_infer_ns,
                                   int64_t compute_output_ns) {
  const uint64_t num = request_ns.size();
  for (int64_t ns : request_ns) {
    totals_.success.add(1, ns);
    totals_.request_duration_us.observe(static_cast<double>(ns) / 1e3);
    totals_.compute_infer_duration_us.observe(static_cast<double>(compute_infer_ns) / 1e3);
  }
  totals_.compute_input.add(num, compute_input_ns * static_cast<int64_t>(num));
  totals_.compute_infer.add(num, compute_infer_ns * static_cast<int64_t>(num));
  totals_.compute_output.add(num, compute_output_ns * static_cast<int64_t>(num));
  totals_.inference_count += rows;
  totals_.execution_count += 1;
  totals_.batch_size.observe(rows);

  BatchStats& size_stats = by_size_[rows];
  size_stats.batch_size = rows;
  size_stats.count += 1;
  size_stats.compute_input_ns += static_cast<uint64_t>(std::max<int64_t>(compute_input_ns, 0));
  size_stats.compute_infer_ns += static_cast<uint64_t>(std::max<int64_t>(compute_infer_ns, 0));
  size_stats.compute_output_ns += static_cast<uint64_t>(std::max<int64_t>(compute_output_ns, 0));
}

SchedulerStats StatsRecorder::snapshot() const {
  SchedulerStats copy = totals_;
  copy.batch_stats.reserve(by_size_.size());
  for (const auto& entry : by_size_) copy.batch_stats.push_back(entry.second);
  return copy;
}

}  // namespace naiad
