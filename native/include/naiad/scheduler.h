// The dynamic-batching scheduler of one model version.
//
// Python request handlers enqueue tasks (a task is one inference request: an id, its rows, a key
// of its non-batch shapes, a priority and a queue timeout); Python instance threads pull batches
// with next_batch(), run them, and report back with finish_batch(). The scheduler never sees
// tensors and never calls into Python: every call comes from a caller's thread, and the blocking
// ones (next_batch, wait_expired) are meant to be entered with the GIL released.
//
// A batch is formed only when an instance asks for one, so while every instance is busy tasks
// accumulate and the next batch is fuller; see batch_planner.h for the closing rules. Queue
// timeouts are enforced whether or not anyone asks for batches: enqueue, next_batch,
// try_next_batch, next_wakeup_ns and wait_expired apply every deadline that has passed, and a
// thread parked in wait_expired() applies each one when it passes.
//
// Every enqueued task ends exactly once: in a batch (then success or backend failure through
// finish_batch), canceled, or rejected by a queue timeout (its id then comes out of
// wait_expired()).
//
// Thread-safe: every method may be called from any thread. One mutex guards all state.
// Destroying a Scheduler while a thread is still inside one of its methods is undefined: close()
// it and join the threads first.

#ifndef NAIAD_SCHEDULER_H_
#define NAIAD_SCHEDULER_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "naiad/batch_planner.h"
#include "naiad/clock.h"
#include "naiad/load_meter.h"
#include "naiad/scheduler_options.h"
#include "naiad/scheduler_stats.h"
#include "naiad/task_queue.h"

namespace naiad {

enum class EnqueueResult {
  kOk,
  kQueueFull,  // the level's max_queue_size was reached; try later (UNAVAILABLE). Counted rejected.
  kClosed,     // close() was called; the scheduler takes no more tasks.
};

// One request as the scheduler sees it.
struct TaskSpec {
  // Unique among queued tasks; chosen by the caller.
  uint64_t task_id = 0;
  // Its batch dimension, 1..max_batch_size (1 when the model does not batch).
  uint32_t rows = 1;
  // Hash of its non-batch shapes; tasks with different keys never share a batch.
  uint64_t shape_key = 0;
  // Level 1..priority_levels (1 served first); 0: default_priority_level.
  uint32_t priority = 0;
  // The request's own queue timeout (its `timeout` parameter); 0: none.
  int64_t timeout_us = 0;
};

// A batch handed to exactly one caller of next_batch()/try_next_batch().
struct Batch {
  uint64_t batch_id = 0;
  std::vector<uint64_t> task_ids;  // in batch order
  uint32_t rows = 0;               // sum of the tasks' rows
  uint64_t shape_key = 0;
};

// What the instance that ran a batch reports back. Durations are the whole batch's, >= 0.
struct BatchOutcome {
  bool success = true;
  int64_t compute_input_ns = 0;
  int64_t compute_infer_ns = 0;
  int64_t compute_output_ns = 0;
};

class Scheduler {
 public:
  // Throws std::invalid_argument when `options` are invalid (see scheduler_options.h) or `clock`
  // is null. The scheduler shares ownership of `clock`.
  Scheduler(SchedulerOptions options, std::shared_ptr<const Clock> clock);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues `task` and wakes one thread blocked in next_batch(), if any. Never blocks beyond the
  // mutex. Returns kOk, kQueueFull (answer UNAVAILABLE; the caller may retry later) or kClosed.
  // Throws std::invalid_argument, queuing nothing, when rows is 0 or above max_batch_size,
  // priority is above priority_levels, timeout_us < 0, or a task with the same id is still
  // queued. The effective queue timeout is the level's default_timeout_us, replaced by
  // task.timeout_us when the level allows overrides and the task's is > 0 and lower (or the
  // default is 0).
  EnqueueResult enqueue(const TaskSpec& task);

  // Removes a still-queued task, counting it CANCELED. Returns false, changing nothing, when the
  // task is unknown, already in a batch, or already expired.
  bool cancel(uint64_t task_id);

  // Blocks until a batch closes for this caller and returns it; the caller owns it and must
  // report it with finish_batch(). Returns nullopt once the scheduler is closed and no task is
  // queued. Several threads may wait at once; each batch goes to exactly one of them. Wakes on
  // enqueue, on the head's delay running out, on queue deadlines, on close and on poke().
  std::optional<Batch> next_batch();

  // The decision next_batch() would make at clock->now_ns(), without blocking: a batch, or nullopt
  // when none closes now (or the scheduler is closed and empty).
  std::optional<Batch> try_next_batch();

  // When try_next_batch()'s answer could next change with no new enqueue: now when a batch would
  // close now, else the earlier of the head's delay running out and the earliest queue deadline;
  // -1 when only a new task (or close) can change it.
  int64_t next_wakeup_ns();

  // Blocks until at least one task has been rejected by its queue timeout and returns the ids of
  // all such tasks not yet returned (each id is returned once); returns at once when there are
  // some already. Returns an empty vector only when the scheduler is closed and no task is queued,
  // so a caller that loops until then has collected every task rejected while the queue drained.
  std::vector<uint64_t> wait_expired();

  // Reports the outcome of a batch handed out earlier. On success every request of the batch is
  // counted a success and attributed the batch's compute durations; otherwise each is counted a
  // BACKEND failure. Throws std::invalid_argument for an unknown or already finished batch id, or
  // a negative duration.
  void finish_batch(uint64_t batch_id, const BatchOutcome& outcome);

  // Counts a request answered from the response cache (never enqueued), or one that missed it;
  // see SchedulerStats::cache_hit. Throws std::invalid_argument for a negative duration.
  void record_cache_hit(int64_t lookup_ns);
  void record_cache_miss(int64_t lookup_ns);

  // Counts `count` requests that failed outside the scheduler (e.g. validation before enqueue).
  void record_failure(FailureReason reason, uint64_t count = 1);

  // Stops accepting tasks (enqueue returns kClosed). Queued tasks still form batches, now without
  // waiting for the delay, and may still time out, until drained; then next_batch() returns
  // nullopt. Wakes every waiter. Idempotent.
  void close();

  // Wakes every thread blocked in next_batch() or wait_expired() so that it re-reads the clock.
  // Only tests need it, after advancing a ManualClock: a waiter sleeps in real time until the
  // deadline it last computed, so it would notice a moved ManualClock only then. Production never
  // needs it, since a SteadyClock's deadlines wake waiters by themselves.
  void poke();

  // How long batches wait from now on (see BatchTiming), each field clamped to
  // 0..options().max_queue_delay_us: the configured delay is a bound a policy may shorten, never
  // exceed. Wakes next_batch() waiters, since a shorter wait may close a batch now. Both fields
  // start at max_queue_delay_us, which makes the join window moot.
  void set_timing(BatchTiming timing);
  BatchTiming timing() const;

  // Arrival counters since construction (see load_meter.h), for a delay policy.
  LoadSample load_sample() const;

  SchedulerStats stats() const;
  size_t num_pending() const;
  // Threads blocked in next_batch() or wait_expired() right now. Lets a test act only once a
  // thread is really waiting, instead of sleeping and hoping it is.
  size_t num_waiting() const;
  const SchedulerOptions& options() const { return options_; }

 private:
  struct InFlightBatch {
    uint32_t rows = 0;
    std::vector<int64_t> enqueue_ns;  // one per task
  };

  // Applies queue deadlines <= now_ns: rejected tasks are counted and their ids kept for
  // wait_expired(). Requires mu_.
  void expire_locked(int64_t now_ns);

  // Plans at now_ns; when a batch closes, takes its tasks out of the queue into `*batch` and
  // returns true. `*batch` arrives empty, its storage reserved by the caller outside the lock.
  // Requires mu_.
  bool take_batch_locked(int64_t now_ns, Batch* batch, std::vector<int64_t>* enqueue_ns);

  // Once the scheduler is closed and its queue empty, wakes wait_expired() so it can return.
  // Requires mu_.
  void notify_if_drained_locked();

  // A fresh batch with storage reserved for the largest possible batch.
  Batch reserved_batch(std::vector<int64_t>* enqueue_ns) const;

  const SchedulerOptions options_;
  const std::shared_ptr<const Clock> clock_;

  mutable std::mutex mu_;
  std::condition_variable batch_cv_;    // next_batch() waiters
  std::condition_variable expired_cv_;  // wait_expired() waiters
  TaskQueue queue_;
  BatchPlan plan_;                        // scratch for take_batch_locked
  std::vector<QueuedTask> rejected_;      // scratch for expire_locked
  std::vector<uint64_t> expired_ids_;     // rejected by timeout, not yet taken
  std::unordered_map<uint64_t, InFlightBatch> in_flight_;
  uint64_t num_in_flight_tasks_ = 0;
  BatchTiming timing_;  // each field in 0..options_.max_queue_delay_us
  LoadMeter load_;
  uint64_t next_batch_id_ = 1;
  size_t num_waiting_ = 0;
  bool closed_ = false;
  StatsRecorder stats_;
};

}  // namespace naiad

#endif  // NAIAD_SCHEDULER_H_
