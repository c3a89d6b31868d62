#include "naiad/task_queue.h"

namespace naiad {

TaskQueue::TaskQueue(uint32_t priority_levels)
    : num_levels_(priority_levels),
      lists_(2 * static_cast<size_t>(priority_levels)),
      size_by_level_(priority_levels, 0) {}

void TaskQueue::push(const QueuedTask& task) {
  List& list = lists_[list_index(task)];
  list.push_back(task);
  by_id_.emplace(task.task_id, std::prev(list.end()));
  if (task.deadline_ns != kNoDeadline) deadlines_.emplace(task.deadline_ns, task.task_id);
  ++size_by_level_[task.level - 1];
}

bool TaskQueue::remove(uint64_t task_id, QueuedTask* removed) {
  auto found = by_id_.find(task_id);
  if (found == by_id_.end()) return false;
  List::iterator it = found->second;
  if (removed != nullptr) *removed = *it;
  if (it->deadline_ns != kNoDeadline) deadlines_.erase({it->deadline_ns, task_id});
  --size_by_level_[it->level - 1];
  lists_[list_index(*it)].erase(it);
  by_id_.erase(found);
  return true;
}

int64_t TaskQueue::earliest_deadline_ns() const {
  return deadlines_.empty() ? kNoDeadline : deadlines_.begin()->first;
}

void TaskQueue::expire(int64_t now_ns, std::vector<QueuedTask>* rejected) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now_ns) {
    const uint64_t task_id = deadlines_.begin()->second;
    List::iterator it = by_id_.at(task_id);
    if (it->timeout_action == TimeoutAction::kReject) {
      rejected->push_back(*it);
      remove(task_id, nullptr);
      continue;
    }
    deadlines_.erase(deadlines_.begin());
    List& from = lists_[list_index(*it)];
    it->delayed = true;
    it->deadline_ns = kNoDeadline;
    List& to = lists_[list_index(*it)];
    // splice keeps the node, so the iterator in by_id_ stays valid.
    to.splice(to.end(), from, it);
  }
}

}  // namespace naiad
