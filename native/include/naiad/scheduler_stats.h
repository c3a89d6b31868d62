// Statistics a Scheduler keeps for ModelStatistics (Triton's InferStatistics) and for Prometheus.
// Durations are counted per request: every request of a batch is attributed the batch's compute
// durations, so after any sequence of calls compute_input.count == compute_infer.count ==
// compute_output.count (perf_analyzer checks this).

#ifndef NAIAD_SCHEDULER_STATS_H_
#define NAIAD_SCHEDULER_STATS_H_

#include <cstdint>
#include <map>
#include <vector>

namespace naiad {

// Why a request failed (the `reason` label of nv_inference_request_failure).
enum class FailureReason {
  kRejected,  // queue full or queue timeout (REJECT)
  kCanceled,  // cancel() while queued
  kBackend,   // its batch finished with success == false
  kOther,     // reported by the caller, e.g. a request that failed validation before enqueue
};

// Triton's StatisticDuration: how many, and their summed duration.
struct StatDuration {
  uint64_t count = 0;
  uint64_t ns = 0;

  void add(uint64_t num, int64_t total_ns) {
    count += num;
    ns += static_cast<uint64_t>(total_ns > 0 ? total_ns : 0);
  }
};

// Successful batches of one size (rows); durations summed over batches, not requests.
struct BatchStats {
  uint32_t batch_size = 0;
  uint64_t count = 0;
  uint64_t compute_input_ns = 0;
  uint64_t compute_infer_ns = 0;
  uint64_t compute_output_ns = 0;
};

// A histogram with fixed upper bounds. counts[i] is the number of observations v with
// bounds[i-1] < v <= bounds[i]; counts.back() (one more entry than bounds) holds v > bounds.back().
// NOT cumulative; Prometheus exporters accumulate.
struct Histogram {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;
  double sum = 0;
  uint64_t count = 0;

  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
};

// Bucket upper bounds: durations in microseconds (100 us .. 5 s) and batch sizes in rows.
const std::vector<double>& duration_bounds_us();
const std::vector<double>& batch_size_bounds();

// A snapshot; copying it is the only way to read statistics.
struct SchedulerStats {
  StatDuration success;  // requests whose batch succeeded; ns: enqueue -> finish_batch
  StatDuration fail;     // every failure below; ns: enqueue -> failure (0 when never queued)
  StatDuration queue;    // requests that entered a batch; ns: enqueue -> batch handed out
  StatDuration compute_input;  // per successful request, its batch's durations
  StatDuration compute_infer;
  StatDuration compute_output;
  // Requests answered from the response cache (ns: lookup and copy-out), and requests that missed
  // it (ns: lookup and insert of the computed answer). A hit also counts in success and queue (with
  // no wait), never in compute, inference_count or execution_count, as Triton counts them.
  StatDuration cache_hit;
  StatDuration cache_miss;
  uint64_t inference_count = 0;  // rows of successful requests
  uint64_t execution_count = 0;  // successful batches
  int64_t last_inference_ms = 0;  // system_clock ms since the epoch at the last finish_batch, or 0
  uint64_t rejected_count = 0;
  // The part of rejected_count that waited past its queue timeout (REJECT action).
  uint64_t timed_out_count = 0;
  uint64_t canceled_count = 0;
  uint64_t backend_failure_count = 0;
  uint64_t other_failure_count = 0;
  std::vector<uint64_t> pending_by_level;  // index = level - 1
  uint64_t num_pending = 0;                // queued tasks
  uint64_t num_in_flight = 0;              // tasks in handed-out, unfinished batches
  std::vector<BatchStats> batch_stats;  // sorted by batch_size
  Histogram request_duration_us{duration_bounds_us()};  // successful requests
  Histogram queue_duration_us{duration_bounds_us()};    // requests that entered a batch
  Histogram compute_infer_duration_us{duration_bounds_us()};  // per successful request
  Histogram batch_size{batch_size_bounds()};  // rows of successful batches
};

// Accumulates the counters. Not thread-safe: the Scheduler's mutex guards it.
class StatsRecorder {
 public:
  // A request left the queue in a batch after waiting `queue_ns`.
  void record_queued(int64_t queue_ns);

  // `count` requests failed for `reason`, having existed `total_ns` together.
  void record_failure(FailureReason reason, uint64_t count, int64_t total_ns);
  // Of the failures just recorded as kRejected, `count` waited past their queue timeout.
  void record_timed_out(uint64_t count);

  // A batch of `rows` rows succeeded; `request_ns` holds each request's enqueue -> finish time.
  void record_success(uint32_t rows, const std::vector<int64_t>& request_ns,
                      int64_t compute_input_ns, int64_t compute_infer_ns,
                      int64_t compute_output_ns);

  // A request was answered from the response cache; `lookup_ns` covered its lookup and copy-out.
  void record_cache_hit(int64_t lookup_ns);
  // A request missed the response cache; `lookup_ns` covered its lookup and the answer's insert.
  void record_cache_miss(int64_t lookup_ns);

  void set_last_inference_ms(int64_t ms) { totals_.last_inference_ms = ms; }

  // Returns the counters; pending_by_level, num_pending and num_in_flight are left for the caller.
  SchedulerStats snapshot() const;

 private:
  SchedulerStats totals_;
  std::map<uint32_t, BatchStats> by_size_;
};

}  // namespace naiad

#endif  // NAIAD_SCHEDULER_STATS_H_
