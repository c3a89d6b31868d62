"""The one module importing the native extension; the one place config becomes its options."""

from __future__ import annotations

from naiad import _native
from naiad._native import (
    Batch,
    BatchTiming,
    DescriptorRing,
    EnqueueResult,
    FailureReason,
    Histogram,
    LoadSample,
    ManualClock,
    Scheduler,
    SchedulerOptions,
    SequenceBatch,
    SequenceBatcher,
    SequenceEnqueueResult,
    SequenceOptions,
    SequenceRow,
    Stats,
    SteadyClock,
    signal_eventfd,
)
from naiad.config.sequence_settings import SequencePolicy, SequenceStrategy
from naiad.config.settings import BatchingPolicy, TimeoutAction

__all__ = [
    "Batch",
    "BatchTiming",
    "DescriptorRing",
    "EnqueueResult",
    "FailureReason",
    "Histogram",
    "LoadSample",
    "ManualClock",
    "Scheduler",
    "SchedulerOptions",
    "SequenceBatch",
    "SequenceBatcher",
    "SequenceEnqueueResult",
    "SequenceOptions",
    "SequenceRow",
    "Stats",
    "SteadyClock",
    "scheduler_options",
    "sequence_options",
    "signal_eventfd",
]

_TIMEOUT_ACTIONS = {
    TimeoutAction.REJECT: _native.TimeoutAction.REJECT,
    TimeoutAction.DELAY: _native.TimeoutAction.DELAY,
}


def scheduler_options(policy: BatchingPolicy, max_batch_size: int) -> SchedulerOptions:
    """Turns a model's batching policy into the native scheduler's options.

    A model that does not batch (max_batch_size 0) still queues: each task is one row.
    """
    levels = max(1, policy.priority_levels)
    queue_policies = []
    for level in range(1, levels + 1):
        qp = policy.queue_policy(level)
        queue_policies.append(
            _native.QueuePolicy(
                timeout_action=_TIMEOUT_ACTIONS[qp.timeout_action],
                default_timeout_us=qp.default_timeout_us,
                allow_timeout_override=qp.allow_timeout_override,
                max_queue_size=qp.max_queue_size,
            )
        )
    return SchedulerOptions(
        max_batch_size=max(1, max_batch_size),
        batching_enabled=policy.enabled and max_batch_size > 0,
        max_queue_delay_us=policy.max_queue_delay_us,
        preferred_batch_sizes=list(policy.preferred_batch_sizes),
        preserve_ordering=policy.preserve_ordering,
        priority_levels=levels,
        default_priority_level=min(max(1, policy.default_priority_level), levels),
        queue_policies=queue_policies,
    )


def sequence_options(
    policy: SequencePolicy, max_batch_size: int, num_instances: int
) -> SequenceOptions:
    """The native batcher's options for a policy: direct has max_batch_size slots per instance
    (1 when the model does not batch), oldest max_candidate_sequences."""
    batch = max(1, max_batch_size)
    direct = policy.strategy is SequenceStrategy.DIRECT
    return SequenceOptions(
        strategy=_native.SequenceStrategy.DIRECT if direct else _native.SequenceStrategy.OLDEST,
        num_instances=num_instances,
        slots_per_instance=batch if direct else policy.max_candidate_sequences,
        max_batch_size=batch,
        max_queue_delay_us=policy.max_queue_delay_us,
        preferred_batch_sizes=list(policy.preferred_batch_sizes),
        minimum_slot_utilization=policy.minimum_slot_utilization,
        max_sequence_idle_us=policy.max_sequence_idle_us,
        max_backlog_sequences=policy.max_backlog_sequences,
    )
