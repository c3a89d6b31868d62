// Options of one Scheduler (one per model version), converted once from the model's typed
// settings by Python and validated once, when the Scheduler is constructed.

#ifndef NAIAD_SCHEDULER_OPTIONS_H_
#define NAIAD_SCHEDULER_OPTIONS_H_

#include <cstdint>
#include <vector>

namespace naiad {

// What happens to a queued task whose queue timeout passes.
enum class TimeoutAction {
  kReject,  // removed from the queue and reported through wait_expired()
  kDelay,   // stays queued but loses its place: served after every task that has not timed out
};

// How one priority level's queue treats waiting tasks (config ModelQueuePolicy).
struct QueuePolicy {
  TimeoutAction timeout_action = TimeoutAction::kReject;
  // Queue timeout applied to every task of the level; 0 = none.
  int64_t default_timeout_us = 0;
  // A task's own timeout_us may lower default_timeout_us, or set one where the default is 0; it
  // can never raise it.
  bool allow_timeout_override = true;
  // Tasks of this level that may wait at once; enqueue answers QUEUE_FULL beyond it. 0 = unbounded.
  uint32_t max_queue_size = 0;
};

// Most priority levels a scheduler takes: each level is a queue with its own policy, so a count
// from an untrusted config must not become an allocation of its own size.
inline constexpr uint32_t kMaxPriorityLevels = 1024;

struct SchedulerOptions {
  // Most rows (sum of the tasks' batch dimensions) in one batch. >= 1.
  uint32_t max_batch_size = 1;
  // false: every batch holds exactly one task (models without dynamic_batching); queues, limits,
  // timeouts and statistics still apply.
  bool batching_enabled = true;
  // How long the head task may wait for a fuller batch. 0: a batch closes as soon as an instance
  // asks for one.
  int64_t max_queue_delay_us = 0;
  // Batch sizes (rows) worth closing a batch for before the delay expires; each in
  // 1..max_batch_size. Empty: none.
  std::vector<uint32_t> preferred_batch_sizes;
  // true: a batch is a contiguous run of the queue's order; a task with another shape key ends it.
  bool preserve_ordering = false;
  // Levels are 1..priority_levels; level 1 is served first. In 1..kMaxPriorityLevels.
  uint32_t priority_levels = 1;
  // Level of tasks enqueued with priority 0. In 1..priority_levels.
  uint32_t default_priority_level = 1;
  // One policy per level, index = level - 1. Empty: every level gets QueuePolicy{}.
  std::vector<QueuePolicy> queue_policies;
};

// Throws std::invalid_argument naming the first bad field. Returns `options` with queue_policies
// filled to priority_levels entries and preferred_batch_sizes sorted and deduplicated.
SchedulerOptions validated(SchedulerOptions options);

}  // namespace naiad

#endif  // NAIAD_SCHEDULER_OPTIONS_H_
