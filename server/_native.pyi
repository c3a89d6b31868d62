"""Type stub for naiad._native, the native dynamic-batching scheduler (native/binding.cc).

One Scheduler per model version. Times are int nanoseconds on the scheduler's clock unless a name
says otherwise. Task ids, batch ids and shape keys are ints in 0..2**64-1. C++ argument errors
raise ValueError; a value out of its C++ type's range raises TypeError.
"""

import enum

from typing_extensions import Buffer

class Clock:
    def now_ns(self) -> int: ...

class SteadyClock(Clock):
    def __init__(self) -> None: ...

class ManualClock(Clock):
    """Moves only when told to; thread-safe. Moving it wakes no one: call Scheduler.poke() after
    moving it when threads are blocked in next_batch()/wait_expired()."""

    def __init__(self, start_ns: int = 0) -> None: ...
    def advance_ns(self, delta_ns: int) -> None: ...
    def advance_us(self, delta_us: int) -> None: ...
    def set_ns(self, now_ns: int) -> None: ...

class EnqueueResult(enum.Enum):
    OK = 0
    QUEUE_FULL = 1
    """The level's max_queue_size was reached (answer UNAVAILABLE); counted as rejected."""
    CLOSED = 2

class TimeoutAction(enum.Enum):
    REJECT = 0
    DELAY = 1

class FailureReason(enum.Enum):
    REJECTED = 0
    CANCELED = 1
    BACKEND = 2
    OTHER = 3

class QueuePolicy:
    timeout_action: TimeoutAction
    default_timeout_us: int
    allow_timeout_override: bool
    max_queue_size: int
    def __init__(
        self,
        *,
        timeout_action: TimeoutAction = ...,
        default_timeout_us: int = 0,
        allow_timeout_override: bool = True,
        max_queue_size: int = 0,
    ) -> None: ...

class SchedulerOptions:
    """Validated when a Scheduler is built (ValueError). Attribute reads of the list fields return
    copies: assign a whole new list to change one."""

    max_batch_size: int
    batching_enabled: bool
    max_queue_delay_us: int
    preferred_batch_sizes: list[int]
    preserve_ordering: bool
    priority_levels: int
    default_priority_level: int
    queue_policies: list[QueuePolicy]
    """One per level (index = level - 1), or empty: every level gets QueuePolicy()."""
    def __init__(
        self,
        *,
        max_batch_size: int = 1,
        batching_enabled: bool = True,
        max_queue_delay_us: int = 0,
        preferred_batch_sizes: list[int] = ...,
        preserve_ordering: bool = False,
        priority_levels: int = 1,
        default_priority_level: int = 1,
        queue_policies: list[QueuePolicy] = ...,
    ) -> None: ...

class Batch:
    @property
    def batch_id(self) -> int: ...
    @property
    def task_ids(self) -> list[int]:
        """In batch order."""
    @property
    def rows(self) -> int: ...
    @property
    def shape_key(self) -> int: ...

class Histogram:
    """Fixed buckets. counts has len(bounds) + 1 entries and is NOT cumulative: counts[i] holds
    values v with bounds[i-1] < v <= bounds[i], counts[-1] those above bounds[-1]."""

    @property
    def bounds(self) -> list[float]: ...
    @property
    def counts(self) -> list[int]: ...
    @property
    def sum(self) -> float: ...
    @property
    def count(self) -> int: ...

class BatchStats:
    """Successful batches of one size (rows); durations summed over batches."""

    @property
    def batch_size(self) -> int: ...
    @property
    def count(self) -> int: ...
    @property
    def compute_input_ns(self) -> int: ...
    @property
    def compute_infer_ns(self) -> int: ...
    @property
    def compute_output_ns(self) -> int: ...

class Stats:
    """A snapshot. Durations are per request: each request of a batch is attributed its batch's
    compute durations, so the three compute_*_count are always equal."""

    @property
    def success_count(self) -> int: ...
    @property
    def success_ns(self) -> int:
        """Summed enqueue -> finish_batch time of successful requests."""
    @property
    def fail_count(self) -> int:
        """rejected + canceled + backend + other failures."""
    @property
    def fail_ns(self) -> int: ...
    @property
    def queue_count(self) -> int:
        """Requests that entered a batch."""
    @property
    def queue_ns(self) -> int: ...
    @property
    def compute_input_count(self) -> int: ...
    @property
    def compute_input_ns(self) -> int: ...
    @property
    def compute_infer_count(self) -> int: ...
    @property
    def compute_infer_ns(self) -> int: ...
    @property
    def compute_output_count(self) -> int: ...
    @property
    def compute_output_ns(self) -> int: ...
    @property
    def cache_hit_count(self) -> int:
        """Requests answered from the response cache (also in success and queue)."""
    @property
    def cache_hit_ns(self) -> int:
        """Summed lookup and copy-out time of cache hits."""
    @property
    def cache_miss_count(self) -> int:
        """Requests of a cached model that missed the cache."""
    @property
    def cache_miss_ns(self) -> int:
        """Summed lookup and insert time of cache misses."""
    @property
    def inference_count(self) -> int:
        """Rows of successful requests (cache hits excluded)."""
    @property
    def execution_count(self) -> int:
        """Successful batches."""
    @property
    def last_inference_ms(self) -> int:
        """Wall-clock ms since the epoch at the last finish_batch; 0 if none."""
    @property
    def rejected_count(self) -> int:
        """Queue full, queue timeout (REJECT), record_failure(REJECTED)."""
    @property
    def timed_out_count(self) -> int:
        """The part of rejected_count that waited past its queue timeout (REJECT action)."""
    @property
    def canceled_count(self) -> int: ...
    @property
    def backend_failure_count(self) -> int: ...
    @property
    def other_failure_count(self) -> int: ...
    @property
    def pending_by_level(self) -> list[int]:
        """Queued tasks per priority level; index = level - 1."""
    @property
    def num_pending(self) -> int: ...
    @property
    def num_in_flight(self) -> int:
        """Tasks in batches handed out and not yet finished."""
    @property
    def batch_stats(self) -> list[BatchStats]:
        """Sorted by batch_size."""
    @property
    def request_duration_us(self) -> Histogram:
        """Successful requests, enqueue -> finish_batch."""
    @property
    def queue_duration_us(self) -> Histogram: ...
    @property
    def compute_infer_duration_us(self) -> Histogram:
        """One observation per successful request."""
    @property
    def batch_size(self) -> Histogram:
        """Rows of successful batches."""

class LoadSample:
    """Arrival counters since the scheduler was built (native/include/naiad/load_meter.h)."""

    @property
    def now_ns(self) -> int:
        """The scheduler's clock when the sample was taken."""
    @property
    def num_arrivals(self) -> int: ...
    @property
    def num_busy_arrivals(self) -> int:
        """Arrivals that found at least one task queued or in flight."""
    @property
    def busy_gap_ns(self) -> int:
        """Sum, over those arrivals, of the time since the arrival before each."""
    @property
    def num_batches(self) -> int:
        """Batches handed out."""
    @property
    def num_batched_tasks(self) -> int:
        """Tasks in those batches."""

class BatchTiming:
    """How long a batch that is not full waits (native/include/naiad/batch_planner.h)."""

    @property
    def delay_us(self) -> int:
        """The head may wait this long."""
    @property
    def join_window_us(self) -> int:
        """The batch also closes once its newest task waited this long with none joining."""

class Scheduler:
    """Thread-safe. Contracts in full: native/include/naiad/scheduler.h."""

    def __init__(self, options: SchedulerOptions, clock: Clock | None = None) -> None:
        """clock None: a SteadyClock. Raises ValueError for invalid options."""
    def enqueue(
        self,
        task_id: int,
        rows: int,
        shape_key: int,
        priority: int = 0,
        timeout_us: int = 0,
    ) -> EnqueueResult:
        """Never blocks; wakes one thread blocked in next_batch(), if any. priority 0: the
        default level. timeout_us 0: the level's default.
        Raises ValueError for rows outside 1..max_batch_size, priority above priority_levels,
        timeout_us < 0, or a task_id still queued."""
    def cancel(self, task_id: int) -> bool:
        """True if the task was still queued (now removed, counted CANCELED)."""
    def next_batch(self) -> Batch | None:
        """Blocks with the GIL released until a batch closes for this caller; None once closed
        and drained."""
    def try_next_batch(self) -> Batch | None:
        """next_batch's decision now, without blocking."""
    def next_wakeup_ns(self) -> int:
        """When try_next_batch's answer could next change without a new task; -1: never."""
    def wait_expired(self) -> list[int]:
        """Blocks with the GIL released until tasks are rejected by their queue timeout; returns
        their ids (at once when some are already). [] only once closed and drained."""
    def finish_batch(
        self,
        batch_id: int,
        success: bool,
        compute_input_ns: int = 0,
        compute_infer_ns: int = 0,
        compute_output_ns: int = 0,
    ) -> None:
        """Raises ValueError for an unknown or already finished batch, or a negative duration."""
    def record_failure(self, reason: FailureReason, count: int = 1) -> None:
        """Counts requests that failed before reaching the queue."""
    def record_cache_hit(self, lookup_ns: int) -> None:
        """Counts a request answered from the response cache: a success that never queued."""
    def record_cache_miss(self, lookup_ns: int) -> None:
        """Counts a request that missed the response cache (lookup and insert time)."""
    def close(self) -> None:
        """Stops accepting; queued tasks still batch, without waiting for the delay, and may
        still time out."""
    def poke(self) -> None:
        """Wakes blocked threads so they re-read a ManualClock; production never needs it, since
        a SteadyClock's deadlines wake waiters themselves."""
    def stats(self) -> Stats: ...
    def set_timing(self, delay_us: int, join_window_us: int) -> None:
        """How long batches wait from now on; each clamped to 0..max_queue_delay_us (the
        configured delay bounds both). Wakes next_batch() waiters."""
    @property
    def timing(self) -> BatchTiming:
        """The timing in force; both fields start at options.max_queue_delay_us."""
    def load_sample(self) -> LoadSample: ...
    @property
    def num_pending(self) -> int: ...
    @property
    def num_waiting(self) -> int:
        """Threads blocked in next_batch() or wait_expired() now; tests wait for it before they
        act on a blocked thread."""

def signal_eventfd(fd: int) -> None:
    """Adds 1 to an eventfd's counter without releasing the GIL (os.eventfd_write releases it,
    handing the GIL to the thread it wakes); errors such as a closed descriptor are ignored."""

class SequenceStrategy(enum.Enum):
    DIRECT = 0
    OLDEST = 1

class SequenceEnqueueResult(enum.Enum):
    OK = 0
    NOT_STARTED = 1
    """Not a START, and the sequence is not live; counted as an OTHER failure."""
    BACKLOG_FULL = 2
    """A new sequence found every slot taken and the backlog full; counted as rejected."""
    CLOSED = 3

class SequenceOptions:
    """Validated when a SequenceBatcher is built (ValueError)."""

    @property
    def strategy(self) -> SequenceStrategy: ...
    @property
    def num_instances(self) -> int: ...
    @property
    def slots_per_instance(self) -> int: ...
    @property
    def max_batch_size(self) -> int: ...
    @property
    def max_queue_delay_us(self) -> int: ...
    @property
    def preferred_batch_sizes(self) -> list[int]: ...
    @property
    def minimum_slot_utilization(self) -> float: ...
    @property
    def max_sequence_idle_us(self) -> int: ...
    @property
    def max_backlog_sequences(self) -> int: ...
    def __init__(
        self,
        *,
        strategy: SequenceStrategy = ...,
        num_instances: int = 1,
        slots_per_instance: int = 1,
        max_batch_size: int = 1,
        max_queue_delay_us: int = 0,
        preferred_batch_sizes: list[int] = ...,
        minimum_slot_utilization: float = 0.0,
        max_sequence_idle_us: int = 1000000,
        max_backlog_sequences: int = 1024,
    ) -> None: ...

class SequenceRow:
    @property
    def task_id(self) -> int:
        """0 for an empty (padding) row of a direct batch."""
    @property
    def slot(self) -> int: ...
    @property
    def start(self) -> bool: ...
    @property
    def end(self) -> bool: ...

class SequenceBatch:
    @property
    def batch_id(self) -> int: ...
    @property
    def instance(self) -> int: ...
    @property
    def rows(self) -> list[SequenceRow]: ...
    @property
    def shape_key(self) -> int: ...
    @property
    def released_slots(self) -> list[int]:
        """Slots of this instance freed (END or idle) since its previous batch."""
    @property
    def num_tasks(self) -> int: ...

class SequenceBatcher:
    """Thread-safe. Contracts in full: native/include/naiad/sequence_batcher.h."""

    def __init__(self, options: SequenceOptions, clock: Clock | None = None) -> None: ...
    def enqueue(
        self, task_id: int, correlation_key: str, start: bool, end: bool, shape_key: int = 0
    ) -> SequenceEnqueueResult: ...
    def next_batch(self, instance: int) -> SequenceBatch | None:
        """Blocks with the GIL released; None once closed and drained for this instance."""
    def try_next_batch(self, instance: int) -> SequenceBatch | None: ...
    def finish_batch(
        self,
        batch_id: int,
        success: bool,
        compute_input_ns: int = 0,
        compute_infer_ns: int = 0,
        compute_output_ns: int = 0,
    ) -> None: ...
    def record_failure(self, reason: FailureReason, count: int = 1) -> None: ...
    def close(self) -> None: ...
    def poke(self) -> None: ...
    def stats(self) -> Stats: ...
    @property
    def num_pending(self) -> int: ...
    @property
    def num_live_sequences(self) -> int: ...
    @property
    def num_backlog_sequences(self) -> int: ...
    @property
    def num_waiting(self) -> int: ...

class DescriptorRing:
    """A single-producer single-consumer ring of 32-byte descriptors in shared memory (see
    naiad/descriptor_ring.h). One process pushes, the other pops; `memory` stays exported (and
    cannot be closed) while the ring lives."""

    def __init__(
        self, memory: Buffer, *, offset: int, capacity: int, initialize: bool, wake_fd: int = -1
    ) -> None:
        """`initialize`: lay the ring out (the creating side); else check the layout (ValueError
        when it does not match). `wake_fd`: the consumer's eventfd, written by push() when the
        consumer announced that it sleeps; -1 on the consumer's side."""
    @staticmethod
    def bytes_for(capacity: int) -> int: ...
    def push(
        self,
        request_id: int,
        kind: int,
        slot: int,
        header_bytes: int,
        total_bytes: int,
        status: int = 0,
    ) -> bool:
        """Appends one descriptor; False (nothing written) when the ring is full."""
    def pop(self, max: int = 256) -> list[tuple[int, int, int, int, int, int]]:
        """Up to `max` descriptors, oldest first, as (request_id, kind, status, slot,
        header_bytes, total_bytes)."""
    def prepare_wait(self) -> bool:
        """Announces that the consumer is about to wait on its eventfd; False (announcement
        withdrawn) when descriptors already wait, so the consumer pops again instead."""
    @property
    def size(self) -> int: ...
    @property
    def capacity(self) -> int: ...
