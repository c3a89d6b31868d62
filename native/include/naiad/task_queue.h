// The waiting tasks of one Scheduler, in service order: priority level 1 first, FIFO within a
// level, and after all of those the tasks whose DELAY queue timeout passed (again by level, then in
// the order they were delayed). Supports removal by id and finding the earliest queue deadline in
// O(log n).
//
// Not thread-safe: the owning Scheduler's mutex guards it.

#ifndef NAIAD_TASK_QUEUE_H_
#define NAIAD_TASK_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <list>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "naiad/scheduler_options.h"

namespace naiad {

inline constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();

struct QueuedTask {
  uint64_t task_id = 0;
  uint32_t rows = 1;
  uint64_t shape_key = 0;
  uint32_t level = 1;  // 1..priority_levels, already resolved from the request's priority
  int64_t enqueue_ns = 0;
  int64_t deadline_ns = kNoDeadline;  // enqueue_ns + effective queue timeout
  TimeoutAction timeout_action = TimeoutAction::kReject;
  bool delayed = false;  // its DELAY timeout passed; deadline_ns is then kNoDeadline
};

class TaskQueue {
 public:
  explicit TaskQueue(uint32_t priority_levels);

  size_t size() const { return by_id_.size(); }
  bool empty() const { return by_id_.empty(); }
  // Tasks of `level` (1-based) waiting, delayed ones included.
  size_t size_at_level(uint32_t level) const { return size_by_level_[level - 1]; }
  bool contains(uint64_t task_id) const { return by_id_.count(task_id) != 0; }

  // Appends `task` behind the tasks of its level. Precondition: !contains(task.task_id) and
  // task.level in 1..priority_levels.
  void push(const QueuedTask& task);

  // Removes the task with `task_id`, copying it into `*removed` when that is non-null. Returns
  // false (and changes nothing) when no such task waits.
  bool remove(uint64_t task_id, QueuedTask* removed);

  // Earliest deadline_ns among waiting tasks, or kNoDeadline.
  int64_t earliest_deadline_ns() const;

  // Applies every deadline <= now_ns: REJECT tasks are removed and appended to `*rejected`; DELAY
  // tasks move behind every task not yet delayed and lose their deadline.
  void expire(int64_t now_ns, std::vector<QueuedTask>* rejected);

  // Calls visit(const QueuedTask&) on each task in service order until it returns false.
  template <typename Visit>
  void for_each(Visit&& visit) const {
    for (const List& list : lists_) {
      for (const QueuedTask& task : list) {
        if (!visit(task)) return;
      }
    }
  }

 private:
  using List = std::list<QueuedTask>;

  size_t list_index(const QueuedTask& task) const {
    return (task.delayed ? num_levels_ : 0) + task.level - 1;
  }

  uint32_t num_levels_;
  // [0, L): waiting tasks of level l at l - 1; [L, 2L): delayed tasks of level l at L + l - 1.
  std::vector<List> lists_;
  std::unordered_map<uint64_t, List::iterator> by_id_;
  std::set<std::pair<int64_t, uint64_t>> deadlines_;  // (deadline_ns, task_id)
  std::vector<size_t> size_by_level_;
};

}  // namespace naiad

#endif  // NAIAD_TASK_QUEUE_H_
