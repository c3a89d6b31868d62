// TaskQueue: service order, removal by id, deadlines.

#include "naiad/task_queue.h"

#include <vector>

#include "test_framework.h"

using naiad::QueuedTask;
using naiad::TaskQueue;
using naiad::TimeoutAction;

namespace {

QueuedTask queued(uint64_t task_id, uint32_t level, int64_t deadline_ns = naiad::kNoDeadline,
                  TimeoutAction action = TimeoutAction::kReject) {
  QueuedTask task;
  task.task_id = task_id;
  task.level = level;
  task.deadline_ns = deadline_ns;
  task.timeout_action = action;
  return task;
}

std::vector<uint64_t> order(const TaskQueue& queue) {
  std::vector<uint64_t> ids;
  queue.for_each([&](const QueuedTask& task) {
    ids.push_back(task.task_id);
    return true;
  });
  return ids;
}

}  // namespace

TEST(TaskQueue, ServesLevelsInOrderFifoWithin) {
  TaskQueue queue(2);
  queue.push(queued(1, 2));
  queue.push(queued(2, 1));
  queue.push(queued(3, 2));
  queue.push(queued(4, 1));
  EXPECT_EQ(order(queue), (std::vector<uint64_t>{2, 4, 1, 3}));
  EXPECT_EQ(queue.size_at_level(1), size_t{2});
  EXPECT_TRUE(queue.contains(3));
}

TEST(TaskQueue, RemovesById) {
  TaskQueue queue(1);
  queue.push(queued(1, 1, 50));
  queue.push(queued(2, 1));
  QueuedTask removed;
  EXPECT_TRUE(queue.remove(1, &removed));
  EXPECT_EQ(removed.task_id, uint64_t{1});
  EXPECT_FALSE(queue.remove(1, nullptr));
  EXPECT_EQ(queue.earliest_deadline_ns(), naiad::kNoDeadline);
  EXPECT_EQ(order(queue), (std::vector<uint64_t>{2}));
}

TEST(TaskQueue, ExpireRejectsOrDemotes) {
  TaskQueue queue(2);
  queue.push(queued(1, 1, 100, TimeoutAction::kDelay));
  queue.push(queued(2, 1, 200, TimeoutAction::kReject));
  queue.push(queued(3, 1));
  queue.push(queued(4, 2, 100, TimeoutAction::kDelay));
  queue.push(queued(5, 2));
  EXPECT_EQ(queue.earliest_deadline_ns(), int64_t{100});
  std::vector<QueuedTask> rejected;
  queue.expire(99, &rejected);
  EXPECT_TRUE(rejected.empty());
  queue.expire(200, &rejected);
  ASSERT_EQ(rejected.size(), size_t{1});
  EXPECT_EQ(rejected[0].task_id, uint64_t{2});
  EXPECT_EQ(order(queue), (std::vector<uint64_t>{3, 5, 1, 4}));
  EXPECT_EQ(queue.earliest_deadline_ns(), naiad::kNoDeadline);
  EXPECT_EQ(queue.size_at_level(2), size_t{2});
  EXPECT_TRUE(queue.remove(1, nullptr));  // a delayed task is still removable
  for (uint64_t id : {3, 4, 5}) EXPECT_TRUE(queue.remove(id, nullptr));
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.size_at_level(2), size_t{0});
}
