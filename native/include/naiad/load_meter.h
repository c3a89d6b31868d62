// What a batching-delay policy needs to know about a scheduler's arrivals, counted under its
// mutex: how many tasks arrived, how many of them found work outstanding (a task queued or in a
// batch being run), and the time between each of those and the arrival before it.
//
// Arrivals that find work outstanding are the ones that could have joined a waiting batch; the
// gaps before them say how soon the next one comes; tasks per batch say how many did join. A closed-loop caller at concurrency 1 never
// adds one (it waits for its answer), whatever its request rate, while concurrent or independent
// callers add them at their own pace. The policy (Python) turns this into a delay; this only counts.

#ifndef NAIAD_LOAD_METER_H_
#define NAIAD_LOAD_METER_H_

#include <cstdint>

namespace naiad {

struct LoadSample {
  int64_t now_ns = 0;  // the scheduler's clock when the sample was taken
  uint64_t num_arrivals = 0;
  // Arrivals that found at least one task queued or in flight.
  uint64_t num_busy_arrivals = 0;
  // Sum, over those arrivals, of the time since the arrival before each.
  int64_t busy_gap_ns = 0;
  // Batches handed out, and the tasks in them.
  uint64_t num_batches = 0;
  uint64_t num_batched_tasks = 0;
};

class LoadMeter {
 public:
  // A task arrives at `now_ns` while `outstanding` tasks (not counting it) are queued or in
  // flight.
  void arrived(int64_t now_ns, uint64_t outstanding) {
    ++num_arrivals_;
    if (outstanding > 0) {
      ++num_busy_arrivals_;
      busy_gap_ns_ += now_ns - last_arrival_ns_;
    }
    last_arrival_ns_ = now_ns;
  }

  // A batch of `num_tasks` tasks is handed out.
  void batched(uint64_t num_tasks) {
    ++num_batches_;
    num_batched_tasks_ += num_tasks;
  }

  LoadSample sample(int64_t now_ns) const {
    LoadSample s;
    s.now_ns = now_ns;
    s.num_arrivals = num_arrivals_;
    s.num_busy_arrivals = num_busy_arrivals_;
    s.busy_gap_ns = busy_gap_ns_;
    s.num_batches = num_batches_;
    s.num_batched_tasks = num_batched_tasks_;
    return s;
  }

 private:
  uint64_t num_arrivals_ = 0;
  uint64_t num_busy_arrivals_ = 0;
  int64_t busy_gap_ns_ = 0;
  uint64_t num_batches_ = 0;
  uint64_t num_batched_tasks_ = 0;
  int64_t last_arrival_ns_ = 0;  // meaningful once a task arrived; a busy arrival has one before
};

}  // namespace naiad

#endif  // NAIAD_LOAD_METER_H_
