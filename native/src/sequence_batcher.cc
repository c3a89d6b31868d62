#include "naiad/sequence_batcher.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

namespace naiad {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
constexpr int64_t kMinWaitNs = 1000;
// A waiter re-reads the clock at least this often, so a moved ManualClock is seen even unpoked.
constexpr int64_t kMaxWaitNs = 100'000'000;

int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void require(bool holds, const char* what) {
  if (!holds) throw std::invalid_argument(what);
}

}  // namespace

void validate(const SequenceOptions& o) {
  require(o.num_instances >= 1, "num_instances must be >= 1");
  require(o.slots_per_instance >= 1, "slots_per_instance must be >= 1");
  require(o.max_batch_size >= 1, "max_batch_size must be >= 1");
  require(o.max_queue_delay_us >= 0, "max_queue_delay_us must be >= 0");
  require(o.minimum_slot_utilization >= 0.0 && o.minimum_slot_utilization <= 1.0,
          "minimum_slot_utilization must be within 0..1");
  require(o.max_sequence_idle_us > 0, "max_sequence_idle_us must be > 0");
  for (uint32_t size : o.preferred_batch_sizes) {
    require(size >= 1 && size <= o.max_batch_size,
            "preferred_batch_sizes must be within 1..max_batch_size");
  }
}

uint32_t SequenceBatch::num_tasks() const {
  uint32_t count = 0;
  for (const SequenceRow& row : rows) count += row.task_id != 0 ? 1 : 0;
  return count;
}

SequenceBatcher::SequenceBatcher(SequenceOptions options, std::shared_ptr<const Clock> clock)
    : options_(std::move(options)), clock_(std::move(clock)) {
  validate(options_);
  require(clock_ != nullptr, "clock must not be null");
  slot_owner_.assign(options_.num_instances,
                     std::vector<std::string>(options_.slots_per_instance));
  live_by_instance_.assign(options_.num_instances, 0);
  released_.assign(options_.num_instances, {});
  busy_.assign(options_.num_instances, false);
}

SequenceEnqueueResult SequenceBatcher::enqueue(const SequenceTaskSpec& task) {
  require(task.task_id != 0, "task_id must be non-zero");
  require(!task.correlation_key.empty(), "correlation_key must not be empty");
  std::lock_guard<std::mutex> lock(mu_);
  require(queued_ids_.count(task.task_id) == 0, "a task with this id is still queued");
  if (closed_) return SequenceEnqueueResult::kClosed;
  const int64_t now_ns = clock_->now_ns();
  maintain_locked(now_ns);
  auto found = sequences_.find(task.correlation_key);
  const bool live = found != sequences_.end() && !found->second.ending;
  if (!task.start && !live) {
    stats_.record_failure(FailureReason::kOther, 1, 0);
    return SequenceEnqueueResult::kNotStarted;
  }
  if (found == sequences_.end()) {
    Sequence fresh;
    fresh.last_active_ns = now_ns;
    if (!place_locked(&fresh)) {
      if (backlog_.size() >= options_.max_backlog_sequences) {
        stats_.record_failure(FailureReason::kRejected, 1, 0);
        return SequenceEnqueueResult::kBacklogFull;
      }
      backlog_.push_back(task.correlation_key);
    }
    const int64_t instance = fresh.instance;
    const uint32_t slot = fresh.slot;
    found = sequences_.emplace(task.correlation_key, std::move(fresh)).first;
    if (instance >= 0) slot_owner_[instance][slot] = task.correlation_key;
  }
  Sequence& sequence = found->second;
  sequence.queue.push_back(
      {task.task_id, task.start, task.end, task.shape_key, now_ns, next_order_++});
  sequence.ending = task.end;
  sequence.last_active_ns = now_ns;
  queued_ids_.insert(task.task_id);
  ++num_pending_;
  cv_.notify_all();
  return SequenceEnqueueResult::kOk;
}

bool SequenceBatcher::place_locked(Sequence* sequence) {
  int64_t best = -1;
  for (uint32_t i = 0; i < options_.num_instances; ++i) {
    if (live_by_instance_[i] == options_.slots_per_instance) continue;
    if (best < 0 || live_by_instance_[i] < live_by_instance_[best]) best = i;
  }
  if (best < 0) return false;
  const std::vector<std::string>& owners = slot_owner_[best];
  const auto free_slot = std::find(owners.begin(), owners.end(), std::string());
  sequence->instance = best;
  sequence->slot = static_cast<uint32_t>(free_slot - owners.begin());
  ++live_by_instance_[best];
  return true;
}

void SequenceBatcher::release_locked(const std::string& key) {
  auto found = sequences_.find(key);
  const Sequence& sequence = found->second;
  slot_owner_[sequence.instance][sequence.slot].clear();
  --live_by_instance_[sequence.instance];
  released_[sequence.instance].push_back(sequence.slot);
  sequences_.erase(found);
}

void SequenceBatcher::maintain_locked(int64_t now_ns) {
  std::vector<std::string> idle;
  for (const auto& [key, sequence] : sequences_) {
    if (sequence.instance < 0 || sequence.in_flight || !sequence.queue.empty()) continue;
    if (closed_ || now_ns - sequence.last_active_ns >= options_.max_sequence_idle_us * 1000) {
      idle.push_back(key);
    }
  }
  for (const std::string& key : idle) release_locked(key);
  while (!backlog_.empty()) {
    Sequence& waiting = sequences_.at(backlog_.front());
    if (!place_locked(&waiting)) break;
    slot_owner_[waiting.instance][waiting.slot] = backlog_.front();
    backlog_.pop_front();
  }
}

bool SequenceBatcher::take_batch_locked(uint32_t instance, int64_t now_ns, SequenceBatch* batch,
                                        int64_t* wake_ns) {
  *wake_ns = kNever;
  if (busy_[instance]) return false;
  // Ready slots: a live sequence of this instance, its head request queued, nothing running.
  std::vector<std::pair<uint64_t, uint32_t>> ready;  // (head's enqueue order, slot)
  const std::vector<std::string>& owners = slot_owner_[instance];
  for (uint32_t slot = 0; slot < owners.size(); ++slot) {
    if (owners[slot].empty()) continue;
    const Sequence& sequence = sequences_.at(owners[slot]);
    if (!sequence.in_flight && !sequence.queue.empty()) {
      ready.emplace_back(sequence.queue.front().order, slot);
    }
  }
  if (ready.empty()) return false;
  std::sort(ready.begin(), ready.end());
  const uint64_t shape_key = sequences_.at(owners[ready.front().second]).queue.front().shape_key;
  std::vector<uint32_t> slots;
  for (const auto& [order, slot] : ready) {
    if (sequences_.at(owners[slot]).queue.front().shape_key == shape_key) slots.push_back(slot);
  }
  const bool direct = options_.strategy == SequenceStrategy::kDirect;
  size_t take = direct ? slots.size() : std::min<size_t>(slots.size(), options_.max_batch_size);
  const int64_t oldest_ns = sequences_.at(owners[ready.front().second]).queue.front().enqueue_ns;
  const int64_t due_ns = oldest_ns + options_.max_queue_delay_us * 1000;
  bool close = closed_ || now_ns >= due_ns || slots.size() == live_by_instance_[instance];
  if (direct) {
    const double utilization = static_cast<double>(slots.size()) / options_.slots_per_instance;
    close = close || (options_.minimum_slot_utilization > 0.0 &&
                      utilization >= options_.minimum_slot_utilization);
  } else {
    close = close || take == options_.max_batch_size;
    if (!options_.preferred_batch_sizes.empty()) {
      const uint32_t largest = *std::max_element(options_.preferred_batch_sizes.begin(),
                                                 options_.preferred_batch_sizes.end());
      if (take >= largest) {
        take = largest;
        close = true;
      }
    }
  }
  if (!close) {
    *wake_ns = due_ns;
    return false;
  }
  slots.resize(take);
  if (direct) std::sort(slots.begin(), slots.end());
  batch->batch_id = next_batch_id_++;
  batch->instance = instance;
  batch->shape_key = shape_key;
  batch->released_slots = std::exchange(released_[instance], {});
  InFlight flight{instance, {}, {}, {}};
  if (direct) batch->rows.resize(slots.back() + 1);
  for (uint32_t i = 0; i < slots.size(); ++i) {
    Sequence& sequence = sequences_.at(owners[slots[i]]);
    const QueuedRequest request = sequence.queue.front();
    sequence.queue.pop_front();
    sequence.in_flight = true;
    SequenceRow row{request.task_id, slots[i], request.start, request.end};
    if (direct) {
      batch->rows[slots[i]] = row;
    } else {
      batch->rows.push_back(row);
    }
    flight.keys.push_back(owners[slots[i]]);
    flight.enqueue_ns.push_back(request.enqueue_ns);
    flight.ends.push_back(request.end);
    queued_ids_.erase(request.task_id);
    stats_.record_queued(now_ns - request.enqueue_ns);
  }
  if (direct) {
    for (uint32_t slot = 0; slot < batch->rows.size(); ++slot) batch->rows[slot].slot = slot;
  }
  num_pending_ -= slots.size();
  num_in_flight_tasks_ += slots.size();
  busy_[instance] = true;
  in_flight_.emplace(batch->batch_id, std::move(flight));
  return true;
}

bool SequenceBatcher::instance_drained_locked(uint32_t instance) const {
  if (!backlog_.empty()) return false;
  for (const std::string& key : slot_owner_[instance]) {
    if (!key.empty() && !sequences_.at(key).queue.empty()) return false;
  }
  return true;
}

std::optional<SequenceBatch> SequenceBatcher::next_batch(uint32_t instance) {
  require(instance < options_.num_instances, "unknown instance");
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    const int64_t now_ns = clock_->now_ns();
    maintain_locked(now_ns);
    SequenceBatch batch;
    int64_t wake_ns = kNever;
    if (take_batch_locked(instance, now_ns, &batch, &wake_ns)) return batch;
    if (closed_ && !busy_[instance] && instance_drained_locked(instance)) return std::nullopt;
    // Idle slots free up at their deadline, which may let a backlogged sequence in.
    for (const auto& [key, sequence] : sequences_) {
      if (sequence.instance >= 0 && !sequence.in_flight && sequence.queue.empty()) {
        wake_ns = std::min(wake_ns,
                           sequence.last_active_ns + options_.max_sequence_idle_us * 1000);
      }
    }
    const int64_t wait_ns = wake_ns == kNever ? kMaxWaitNs
                                              : std::clamp(wake_ns - now_ns, kMinWaitNs,
                                                           kMaxWaitNs);
    ++num_waiting_;
    cv_.wait_for(lock, std::chrono::nanoseconds(wait_ns));
    --num_waiting_;
  }
}

std::optional<SequenceBatch> SequenceBatcher::try_next_batch(uint32_t instance) {
  require(instance < options_.num_instances, "unknown instance");
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now_ns = clock_->now_ns();
  maintain_locked(now_ns);
  SequenceBatch batch;
  int64_t wake_ns = kNever;
  if (take_batch_locked(instance, now_ns, &batch, &wake_ns)) return batch;
  return std::nullopt;
}

void SequenceBatcher::finish_batch(uint64_t batch_id, const BatchOutcome& outcome) {
  require(outcome.compute_input_ns >= 0 && outcome.compute_infer_ns >= 0 &&
              outcome.compute_output_ns >= 0,
          "compute durations must be >= 0");
  const int64_t finish_ms = system_now_ms();
  std::lock_guard<std::mutex> lock(mu_);
  auto found = in_flight_.find(batch_id);
  require(found != in_flight_.end(), "batch is unknown or already finished");
  const int64_t now_ns = clock_->now_ns();
  InFlight& flight = found->second;
  std::vector<int64_t> request_ns;
  int64_t total_ns = 0;
  for (size_t i = 0; i < flight.keys.size(); ++i) {
    request_ns.push_back(now_ns - flight.enqueue_ns[i]);
    total_ns += request_ns.back();
    Sequence& sequence = sequences_.at(flight.keys[i]);
    sequence.in_flight = false;
    sequence.last_active_ns = now_ns;
    if (flight.ends[i] && sequence.queue.empty()) release_locked(flight.keys[i]);
  }
  if (outcome.success) {
    stats_.record_success(static_cast<uint32_t>(request_ns.size()), request_ns,
                          outcome.compute_input_ns, outcome.compute_infer_ns,
                          outcome.compute_output_ns);
  } else {
    stats_.record_failure(FailureReason::kBackend, request_ns.size(), total_ns);
  }
  stats_.set_last_inference_ms(finish_ms);
  num_in_flight_tasks_ -= request_ns.size();
  busy_[flight.instance] = false;
  in_flight_.erase(found);
  maintain_locked(now_ns);
  cv_.notify_all();
}

void SequenceBatcher::record_failure(FailureReason reason, uint64_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.record_failure(reason, count, 0);
}

void SequenceBatcher::close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

void SequenceBatcher::poke() {
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

SchedulerStats SequenceBatcher::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  SchedulerStats snapshot = stats_.snapshot();
  snapshot.pending_by_level = {num_pending_};
  snapshot.num_pending = num_pending_;
  snapshot.num_in_flight = num_in_flight_tasks_;
  return snapshot;
}

size_t SequenceBatcher::num_pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return num_pending_;
}

size_t SequenceBatcher::num_live_sequences() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sequences_.size() - backlog_.size();
}

size_t SequenceBatcher::num_backlog_sequences() const {
  std::lock_guard<std::mutex> lock(mu_);
  return backlog_.size();
}

size_t SequenceBatcher::num_waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return num_waiting_;
}

}  // namespace naiad
