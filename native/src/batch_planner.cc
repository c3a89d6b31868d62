#include "naiad/batch_planner.h"

#include <algorithm>

#include "naiad/clock.h"

namespace naiad {
namespace {

// Cuts `plan` to the longest prefix whose rows equal a preferred size, or else to the longest
// prefix within the largest preferred size (never below the head alone).
void cut_to_preferred(const std::vector<uint32_t>& preferred_sorted, BatchPlan* plan) {
  const uint32_t largest = preferred_sorted.back();
  size_t exact_len = 0;
  size_t within_len = 1;
  uint32_t exact_rows = 0;
  uint32_t within_rows = plan->tasks.front()->rows;
  uint32_t rows = 0;
  for (size_t i = 0; i < plan->tasks.size(); ++i) {
    rows += plan->tasks[i]->rows;
    if (std::binary_search(preferred_sorted.begin(), preferred_sorted.end(), rows)) {
      exact_len = i + 1;
      exact_rows = rows;
    }
    if (rows <= largest) {
      within_len = i + 1;
      within_rows = rows;
    }
  }
  if (exact_len > 0) {
    plan->tasks.resize(exact_len);
    plan->rows = exact_rows;
  } else {
    plan->tasks.resize(within_len);
    plan->rows = within_rows;
  }
}

}  // namespace

void plan_batch(const TaskQueue& queue, const SchedulerOptions& options, BatchTiming timing,
                int64_t now_ns, bool drain, BatchPlan* plan) {
  plan->ready = false;
  plan->tasks.clear();
  plan->rows = 0;
  plan->wakeup_ns = kNoDeadline;
  if (queue.empty()) return;

  const QueuedTask* head = nullptr;
  bool full = false;  // nothing more can join: no room, or (preserve_ordering) another shape next
  queue.for_each([&](const QueuedTask& task) {
    if (head == nullptr) {
      head = &task;
    } else if (task.shape_key != head->shape_key) {
      if (!options.preserve_ordering) return true;
      full = true;
      return false;
    } else if (plan->rows + task.rows > options.max_batch_size) {
      full = true;
      return false;
    }
    plan->tasks.push_back(&task);
    plan->rows += task.rows;
    if (!options.batching_enabled || plan->rows == options.max_batch_size) {
      full = true;
      return false;
    }
    return true;
  });

  const std::vector<uint32_t>& preferred = options.preferred_batch_sizes;
  if (!preferred.empty() && plan->rows >= preferred.back()) {
    cut_to_preferred(preferred, plan);
    plan->ready = true;
    return;
  }
  if (full || drain || timing.delay_us == 0 || timing.join_window_us == 0) {
    plan->ready = true;
    return;
  }
  int64_t newest_ns = head->enqueue_ns;
  for (const QueuedTask* task : plan->tasks) newest_ns = std::max(newest_ns, task->enqueue_ns);
  const int64_t close_ns = std::min(add_us_saturating(head->enqueue_ns, timing.delay_us),
                                    add_us_saturating(newest_ns, timing.join_window_us));
  if (now_ns >= close_ns) {
    plan->ready = true;
    return;
  }
  plan->wakeup_ns = close_ns;
}

}  // namespace naiad
