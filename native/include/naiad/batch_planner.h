// Batch formation as a pure decision: given the waiting tasks, the options and the time, which
// tasks (if any) form the batch handed out now. The Scheduler calls it under its mutex when an
// instance asks for work; it neither changes the queue nor reads a clock, so every closing rule is
// testable on its own.

#ifndef NAIAD_BATCH_PLANNER_H_
#define NAIAD_BATCH_PLANNER_H_

#include <cstdint>
#include <vector>

#include "naiad/scheduler_options.h"
#include "naiad/task_queue.h"

namespace naiad {

// How long a batch that is not full waits for more tasks; a policy may shorten both at run time
// (Scheduler::set_timing), never beyond max_queue_delay_us.
struct BatchTiming {
  // The head may wait this long for a fuller batch.
  int64_t delay_us = 0;
  // The batch also closes once its newest task has waited this long with no other joining.
  int64_t join_window_us = 0;
};

struct BatchPlan {
  // true: `tasks` is the batch to hand out now.
  bool ready = false;
  // The batch's tasks in batch order (valid while the queue is unchanged); the candidate batch
  // when not ready.
  std::vector<const QueuedTask*> tasks;
  uint32_t rows = 0;
  // When not ready: the time at which the head's delay or the join window runs out (the decision changes
  // then even with no new task), or kNoDeadline when only a new task can change it (an empty
  // queue). Queue deadlines are not included; the Scheduler adds those.
  int64_t wakeup_ns = kNoDeadline;
};

// Decides the batch at `now_ns`, waiting as `timing` says. The queue must hold no task whose deadline is <= now_ns (call
// TaskQueue::expire first). `drain`: the scheduler is closed, so a batch closes without waiting for
// the delay. The candidate batch starts at the first task in service order (the head) and takes
// the following tasks with the head's shape key while their rows fit max_batch_size, stopping at
// the first one that does not fit; tasks with another shape key are skipped, or, with
// preserve_ordering, end the batch. It closes when any of:
//   batching is disabled (the batch is the head alone);
//   rows reach the largest preferred size (the batch is then cut to the longest prefix whose rows
//     equal a preferred size, or else to the longest prefix within the largest preferred size);
//   rows == max_batch_size, or the next task of the head's shape would not fit;
//   preserve_ordering and a task of another shape follows (nothing more can join);
//   the head has waited timing.delay_us (at once when it is 0), the batch's newest task has
//   waited timing.join_window_us, or `drain`.
// Reuses `plan`'s storage; never throws.
void plan_batch(const TaskQueue& queue, const SchedulerOptions& options, BatchTiming timing,
                int64_t now_ns, bool drain, BatchPlan* plan);

}  // namespace naiad

#endif  // NAIAD_BATCH_PLANNER_H_
