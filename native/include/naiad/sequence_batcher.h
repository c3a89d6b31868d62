// The sequence batcher of one stateful model version: a slot table binding each live sequence to
// one instance and one batch slot, and the batches formed from those slots.
//
// Python request handlers enqueue tasks, each naming its sequence (a correlation key chosen by the
// caller) and whether it starts or ends that sequence; one Python thread per instance pulls that
// instance's batches with next_batch(instance), runs them and reports back with finish_batch().
// Like Scheduler, it never sees tensors and never calls into Python; the blocking call is meant to
// be entered with the GIL released.
//
// Slots. A START of an unknown sequence takes a free slot: the lowest free slot index of the
// instance holding the fewest live sequences. When none is free the sequence waits in the backlog
// (FIFO) until a slot frees up; at most max_backlog_sequences wait there. A sequence keeps its
// slot until its END request has run, or until it has had no request for max_sequence_idle_us
// (measured on the injected clock), and all its requests run on that instance and slot, one at a
// time, in enqueue order.
//
// Batches (one per instance at a time, at most one request per slot):
// - kDirect: row i is slot i; rows = the highest slot taking part + 1, rows of slots without a
//   request are empty (task_id 0; the caller feeds READY = 0 there). The batch closes when the
//   ready slots reach minimum_slot_utilization of the slots, when every live sequence of the
//   instance has a request ready, or when the oldest ready request has waited max_queue_delay_us.
// - kOldest: rows are packed, oldest head request first, up to max_batch_size. The batch closes
//   at max_batch_size rows, at the largest preferred_batch_size (it then takes that many), or
//   when the oldest ready request has waited max_queue_delay_us.
// In both, only requests with the oldest ready request's shape_key share its batch.
//
// Every enqueued task ends exactly once, in a batch. Accepted requests are never dropped: a
// sequence's state depends on every one of them, so there is no cancel.
//
// Thread-safe; one mutex guards all state. Operations scan the slot table, which holds
// num_instances * slots_per_instance sequences (plus the backlog), so they cost O(slots).

#ifndef NAIAD_SEQUENCE_BATCHER_H_
#define NAIAD_SEQUENCE_BATCHER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "naiad/clock.h"
#include "naiad/scheduler.h"
#include "naiad/scheduler_stats.h"

namespace naiad {

enum class SequenceStrategy { kDirect, kOldest };

struct SequenceOptions {
  SequenceStrategy strategy = SequenceStrategy::kDirect;
  uint32_t num_instances = 1;       // >= 1
  uint32_t slots_per_instance = 1;  // >= 1; direct: max_batch_size, oldest: candidates
  uint32_t max_batch_size = 1;      // >= 1; rows of an oldest batch (direct: slots_per_instance)
  int64_t max_queue_delay_us = 0;   // >= 0
  std::vector<uint32_t> preferred_batch_sizes;  // oldest only; each in 1..max_batch_size
  double minimum_slot_utilization = 0.0;        // direct only; 0..1
  int64_t max_sequence_idle_us = 1000000;       // > 0
  uint32_t max_backlog_sequences = 1024;        // new sequences waiting for a slot
};

// Throws std::invalid_argument naming the first field out of its range.
void validate(const SequenceOptions& options);

struct SequenceTaskSpec {
  uint64_t task_id = 0;  // unique among queued tasks, non-zero
  std::string correlation_key;  // the sequence; non-empty
  bool start = false;
  bool end = false;
  uint64_t shape_key = 0;
};

enum class SequenceEnqueueResult {
  kOk,
  kNotStarted,   // not a START, and the sequence is not live: nothing was queued
  kBacklogFull,  // a new sequence, every slot taken and the backlog full: UNAVAILABLE
  kClosed,       // close() was called
};

struct SequenceRow {
  uint64_t task_id = 0;  // 0: an empty row (direct only)
  uint32_t slot = 0;     // the slot whose state this row reads and writes
  bool start = false;
  bool end = false;
};

struct SequenceBatch {
  uint64_t batch_id = 0;
  uint32_t instance = 0;
  std::vector<SequenceRow> rows;
  uint64_t shape_key = 0;
  // Slots of this instance freed since its previous batch by END or idleness; their state may go.
  std::vector<uint32_t> released_slots;
  uint32_t num_tasks() const;
};

class SequenceBatcher {
 public:
  // Throws std::invalid_argument for invalid options or a null clock.
  SequenceBatcher(SequenceOptions options, std::shared_ptr<const Clock> clock);
  SequenceBatcher(const SequenceBatcher&) = delete;
  SequenceBatcher& operator=(const SequenceBatcher&) = delete;

  // Queues `task` behind the earlier requests of its sequence. Never blocks beyond the mutex.
  // A START of a live sequence restarts it in the same slot (after its queued requests); a
  // non-START after an END that is still queued or running is kNotStarted. Rejections are
  // counted (kNotStarted: OTHER, kBacklogFull: REJECTED). Throws std::invalid_argument for a
  // zero or duplicate task id or an empty key.
  SequenceEnqueueResult enqueue(const SequenceTaskSpec& task);

  // Blocks until a batch of `instance` closes and returns it; the caller must finish_batch() it
  // before asking for the instance's next one. Returns nullopt once closed and no request that
  // could run on this instance is queued. Throws std::invalid_argument for an unknown instance.
  std::optional<SequenceBatch> next_batch(uint32_t instance);

  // next_batch's decision at clock->now_ns(), without blocking.
  std::optional<SequenceBatch> try_next_batch(uint32_t instance);

  // Reports a batch: its requests are counted success (with the durations) or BACKEND failure;
  // a sequence whose END ran frees its slot. Throws std::invalid_argument for an unknown batch.
  void finish_batch(uint64_t batch_id, const BatchOutcome& outcome);

  // Counts requests that failed before enqueue (e.g. a bad input).
  void record_failure(FailureReason reason, uint64_t count = 1);

  // Stops accepting tasks; queued ones still run, batches close without waiting, and slots of
  // sequences with nothing queued are freed at once so the backlog drains. Idempotent.
  void close();

  // Wakes blocked next_batch() callers so they re-read the clock (after a ManualClock moved).
  void poke();

  SchedulerStats stats() const;
  size_t num_pending() const;
  size_t num_live_sequences() const;   // holding a slot
  size_t num_backlog_sequences() const;
  size_t num_waiting() const;          // threads blocked in next_batch()
  const SequenceOptions& options() const { return options_; }

 private:
  struct QueuedRequest {
    uint64_t task_id;
    bool start;
    bool end;
    uint64_t shape_key;
    int64_t enqueue_ns;
    uint64_t order;  // enqueue order among all tasks: ties of enqueue_ns go to the first
  };
  struct Sequence {
    int64_t instance = -1;  // -1 while in the backlog
    uint32_t slot = 0;
    std::deque<QueuedRequest> queue;
    bool in_flight = false;
    bool ending = false;  // its last enqueued request carries END
    int64_t last_active_ns = 0;
  };
  struct InFlight {
    uint32_t instance;
    std::vector<std::string> keys;  // one per task
    std::vector<int64_t> enqueue_ns;
    std::vector<bool> ends;
  };

  // Frees idle slots, gives free slots to the backlog. Requires mu_.
  void maintain_locked(int64_t now_ns);
  void release_locked(const std::string& key);
  bool take_batch_locked(uint32_t instance, int64_t now_ns, SequenceBatch* batch,
                         int64_t* wake_ns);
  bool instance_drained_locked(uint32_t instance) const;
  bool place_locked(Sequence* sequence);

  const SequenceOptions options_;
  const std::shared_ptr<const Clock> clock_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, Sequence> sequences_;
  std::deque<std::string> backlog_;
  // slot_owner_[instance][slot]: the key holding it, empty when free.
  std::vector<std::vector<std::string>> slot_owner_;
  std::vector<uint32_t> live_by_instance_;
  std::vector<std::vector<uint32_t>> released_;
  std::vector<bool> busy_;  // an instance holding an unfinished batch
  std::unordered_map<uint64_t, InFlight> in_flight_;
  std::unordered_set<uint64_t> queued_ids_;
  uint64_t next_batch_id_ = 1;
  uint64_t next_order_ = 0;
  size_t num_pending_ = 0;
  size_t num_in_flight_tasks_ = 0;
  size_t num_waiting_ = 0;
  bool closed_ = false;
  StatsRecorder stats_;
};

}  // namespace naiad

#endif  // NAIAD_SEQUENCE_BATCHER_H_
