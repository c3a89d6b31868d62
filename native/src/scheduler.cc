#include "naiad/scheduler.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>

namespace naiad {
namespace {

// Longest single condition-variable wait; waits re-check the clock after it anyway, and capping
// keeps huge deadlines from overflowing steady_clock arithmetic.
constexpr int64_t kMaxWaitNs = 60LL * 1000 * 1000 * 1000;
constexpr int64_t kMinWaitNs = 1000;
// Batch storage reserved outside the lock; larger batches grow under it.
constexpr uint32_t kMaxReservedTasks = 256;

std::chrono::nanoseconds wait_duration(int64_t wakeup_ns, int64_t now_ns) {
  const int64_t delta_ns = wakeup_ns - now_ns;
  return std::chrono::nanoseconds(std::clamp(delta_ns, kMinWaitNs, kMaxWaitNs));
}

int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t effective_timeout_us(const QueuePolicy& policy, int64_t request_timeout_us) {
  if (policy.allow_timeout_override && request_timeout_us > 0 &&
      (policy.default_timeout_us == 0 || request_timeout_us < policy.default_timeout_us)) {
    return request_timeout_us;
  }
  return policy.default_timeout_us;
}

std::shared_ptr<const Clock> checked(std::shared_ptr<const Clock> clock) {
  if (clock == nullptr) throw std::invalid_argument("clock must not be null");
  return clock;
}

}  // namespace

Scheduler::Scheduler(SchedulerOptions options, std::shared_ptr<const Clock> clock)
    : options_(validated(std::move(options))),
      clock_(checked(std::move(clock))),
      queue_(options_.priority_levels),
      timing_{options_.max_queue_delay_us, options_.max_queue_delay_us} {}

EnqueueResult Scheduler::enqueue(const TaskSpec& task) {
  if (task.rows < 1 || task.rows > options_.max_batch_size) {
    throw std::invalid_argument("task rows " + std::to_string(task.rows) +
                                " outside 1..max_batch_size (" +
                                std::to_string(options_.max_batch_size) + ")");
  }
  if (task.priority > options_.priority_levels) {
    throw std::invalid_argument("priority " + std::to_string(task.priority) + " above " +
                                std::to_string(options_.priority_levels) + " levels");
  }
  if (task.timeout_us < 0) throw std::invalid_argument("timeout_us must be >= 0");

  QueuedTask queued;
  queued.task_id = task.task_id;
  queued.rows = task.rows;
  queued.shape_key = task.shape_key;
  queued.level = task.priority == 0 ? options_.default_priority_level : task.priority;
  const QueuePolicy& policy = options_.queue_policies[queued.level - 1];
  queued.timeout_action = policy.timeout_action;
  const int64_t timeout_us = effective_timeout_us(policy, task.timeout_us);

  bool new_earliest_deadline = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return EnqueueResult::kClosed;
    if (queue_.contains(task.task_id)) {
      throw std::invalid_argument("task id " + std::to_string(task.task_id) + " already queued");
    }
    const int64_t now_ns = clock_->now_ns();
    expire_locked(now_ns);
    if (policy.max_queue_size != 0 && queue_.size_at_level(queued.level) >= policy.max_queue_size) {
      stats_.record_failure(FailureReason::kRejected, 1, 0);
      return EnqueueResult::kQueueFull;
    }
    queued.enqueue_ns = now_ns;
    if (timeout_us > 0) queued.deadline_ns = add_us_saturating(now_ns, timeout_us);
    new_earliest_deadline = queued.deadline_ns < queue_.earliest_deadline_ns();
    load_.arrived(now_ns, queue_.size() + num_in_flight_tasks_);
    queue_.push(queued);
  }
  batch_cv_.notify_one();
  if (new_earliest_deadline) expired_cv_.notify_all();
  return EnqueueResult::kOk;
}

bool Scheduler::cancel(uint64_t task_id) {
  std::lock_guard<std::mutex> lock(mu_);
  QueuedTask removed;
  if (!queue_.remove(task_id, &removed)) return false;
  stats_.record_failure(FailureReason::kCanceled, 1, clock_->now_ns() - removed.enqueue_ns);
  notify_if_drained_locked();
  return true;
}

void Scheduler::notify_if_drained_locked() {
  if (closed_ && queue_.empty()) expired_cv_.notify_all();
}

void Scheduler::expire_locked(int64_t now_ns) {
  if (queue_.earliest_deadline_ns() > now_ns) return;
  rejected_.clear();
  queue_.expire(now_ns, &rejected_);
  if (rejected_.empty()) return;
  for (const QueuedTask& task : rejected_) {
    stats_.record_failure(FailureReason::kRejected, 1, now_ns - task.enqueue_ns);
    expired_ids_.push_back(task.task_id);
  }
  stats_.record_timed_out(rejected_.size());
  expired_cv_.notify_all();
}

Batch Scheduler::reserved_batch(std::vector<int64_t>* enqueue_ns) const {
  const uint32_t max_tasks =
      options_.batching_enabled ? std::min(options_.max_batch_size, kMaxReservedTasks) : 1;
  Batch batch;
  batch.task_ids.reserve(max_tasks);
  enqueue_ns->reserve(max_tasks);
  return batch;
}

bool Scheduler::take_batch_locked(int64_t now_ns, Batch* batch, std::vector<int64_t>* enqueue_ns) {
  plan_batch(queue_, options_, timing_, now_ns, closed_, &plan_);
  if (!plan_.ready) return false;
  batch->batch_id = next_batch_id_++;
  batch->rows = plan_.rows;
  batch->shape_key = plan_.tasks.front()->shape_key;
  for (const QueuedTask* task : plan_.tasks) {
    batch->task_ids.push_back(task->task_id);
    enqueue_ns->push_back(task->enqueue_ns);
    stats_.record_queued(now_ns - task->enqueue_ns);
  }
  // Removal invalidates plan_.tasks, so it happens once the ids are copied.
  for (uint64_t task_id : batch->task_ids) queue_.remove(task_id, nullptr);
  plan_.tasks.clear();
  notify_if_drained_locked();
  num_in_flight_tasks_ += batch->task_ids.size();
  load_.batched(batch->task_ids.size());
  in_flight_.emplace(batch->batch_id, InFlightBatch{batch->rows, std::move(*enqueue_ns)});
  return true;
}

std::optional<Batch> Scheduler::next_batch() {
  std::vector<int64_t> enqueue_ns;
  Batch batch = reserved_batch(&enqueue_ns);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    const int64_t now_ns = clock_->now_ns();
    expire_locked(now_ns);
    if (take_batch_locked(now_ns, &batch, &enqueue_ns)) {
      const bool more = !queue_.empty();
      lock.unlock();
      // Another waiter may be able to take the next batch (another shape, or a full one).
      if (more) batch_cv_.notify_one();
      return batch;
    }
    // A closed scheduler drains without waiting, so not ready here means nothing is queued.
    if (closed_) return std::nullopt;
    const int64_t wakeup_ns = std::min(plan_.wakeup_ns, queue_.earliest_deadline_ns());
    ++num_waiting_;
    if (wakeup_ns == kNoDeadline) {
      batch_cv_.wait(lock);
    } else {
      batch_cv_.wait_for(lock, wait_duration(wakeup_ns, now_ns));
    }
    --num_waiting_;
  }
}

std::optional<Batch> Scheduler::try_next_batch() {
  std::vector<int64_t> enqueue_ns;
  Batch batch = reserved_batch(&enqueue_ns);
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now_ns = clock_->now_ns();
  expire_locked(now_ns);
  if (!take_batch_locked(now_ns, &batch, &enqueue_ns)) return std::nullopt;
  return batch;
}

int64_t Scheduler::next_wakeup_ns() {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now_ns = clock_->now_ns();
  expire_locked(now_ns);
  plan_batch(queue_, options_, timing_, now_ns, closed_, &plan_);
  const bool ready = plan_.ready;
  plan_.tasks.clear();
  if (ready) return now_ns;
  const int64_t wakeup_ns = std::min(plan_.wakeup_ns, queue_.earliest_deadline_ns());
  return wakeup_ns == kNoDeadline ? -1 : wakeup_ns;
}

std::vector<uint64_t> Scheduler::wait_expired() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    const int64_t now_ns = clock_->now_ns();
    expire_locked(now_ns);
    if (!expired_ids_.empty()) return std::exchange(expired_ids_, {});
    // Until the queue drains, a closed scheduler's tasks may still time out.
    if (closed_ && queue_.empty()) return {};
    const int64_t deadline_ns = queue_.earliest_deadline_ns();
    ++num_waiting_;
    if (deadline_ns == kNoDeadline) {
      expired_cv_.wait(lock);
    } else {
      expired_cv_.wait_for(lock, wait_duration(deadline_ns, now_ns));
    }
    --num_waiting_;
  }
}

void Scheduler::finish_batch(uint64_t batch_id, const BatchOutcome& outcome) {
  if (outcome.compute_input_ns < 0 || outcome.compute_infer_ns < 0 ||
      outcome.compute_output_ns < 0) {
    throw std::invalid_argument("compute durations must be >= 0");
  }
  const int64_t finish_ms = system_now_ms();
  std::lock_guard<std::mutex> lock(mu_);
  auto found = in_flight_.find(batch_id);
  if (found == in_flight_.end()) {
    throw std::invalid_argument("batch " + std::to_string(batch_id) +
                                " is unknown or already finished");
  }
  const int64_t now_ns = clock_->now_ns();
  InFlightBatch& batch = found->second;
  std::vector<int64_t>& request_ns = batch.enqueue_ns;  // turned into durations in place
  int64_t total_ns = 0;
  for (int64_t& ns : request_ns) {
    ns = now_ns - ns;
    total_ns += ns;
  }
  if (outcome.success) {
    stats_.record_success(batch.rows, request_ns, outcome.compute_input_ns,
                          outcome.compute_infer_ns, outcome.compute_output_ns);
  } else {
    stats_.record_failure(FailureReason::kBackend, request_ns.size(), total_ns);
  }
  stats_.set_last_inference_ms(finish_ms);
  num_in_flight_tasks_ -= request_ns.size();
  in_flight_.erase(found);
}

void Scheduler::record_cache_hit(int64_t lookup_ns) {
  if (lookup_ns < 0) throw std::invalid_argument("record_cache_hit: negative duration");
  std::lock_guard<std::mutex> lock(mu_);
  stats_.record_cache_hit(lookup_ns);
}

void Scheduler::record_cache_miss(int64_t lookup_ns) {
  if (lookup_ns < 0) throw std::invalid_argument("record_cache_miss: negative duration");
  std::lock_guard<std::mutex> lock(mu_);
  stats_.record_cache_miss(lookup_ns);
}

void Scheduler::record_failure(FailureReason reason, uint64_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.record_failure(reason, count, 0);
}

void Scheduler::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  batch_cv_.notify_all();
  expired_cv_.notify_all();
}

void Scheduler::poke() {
  // Taking the mutex orders this wake-up after any waiter's last look at the clock.
  { std::lock_guard<std::mutex> lock(mu_); }
  batch_cv_.notify_all();
  expired_cv_.notify_all();
}

void Scheduler::set_timing(BatchTiming timing) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t max_us = options_.max_queue_delay_us;
    timing_.delay_us = std::clamp<int64_t>(timing.delay_us, 0, max_us);
    timing_.join_window_us = std::clamp<int64_t>(timing.join_window_us, 0, max_us);
  }
  batch_cv_.notify_all();
}

BatchTiming Scheduler::timing() const {
  std::lock_guard<std::mutex> lock(mu_);
  return timing_;
}

LoadSample Scheduler::load_sample() const {
  std::lock_guard<std::mutex> lock(mu_);
  return load_.sample(clock_->now_ns());
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  SchedulerStats snapshot = stats_.snapshot();
  snapshot.pending_by_level.resize(options_.priority_levels);
  for (uint32_t level = 1; level <= options_.priority_levels; ++level) {
    snapshot.pending_by_level[level - 1] = queue_.size_at_level(level);
  }
  snapshot.num_pending = queue_.size();
  snapshot.num_in_flight = num_in_flight_tasks_;
  return snapshot;
}

size_t Scheduler::num_pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

size_t Scheduler::num_waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return num_waiting_;
}

}  // namespace naiad
