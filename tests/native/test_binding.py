"""The scheduler through its Python binding, naiad._native (the C++ tests cover the logic)."""

from __future__ import annotations

import enum
import faulthandler
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from naiad import _native as native

U64_MAX = 2**64 - 1


def options(**fields: object) -> native.SchedulerOptions:
    return native.SchedulerOptions(**fields)  # type: ignore[arg-type]


def manual(**fields: object) -> tuple[native.Scheduler, native.ManualClock]:
    clock = native.ManualClock(start_ns=1_000_000_000)
    return native.Scheduler(options(**fields), clock), clock


def ids(batch: native.Batch | None) -> list[int]:
    return [] if batch is None else batch.task_ids


def wait_until(holds: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Polls `holds` until it is true; fails saying `what` did not happen. For handshakes with
    threads (until num_waiting shows them blocked), never to let scheduler time pass."""
    deadline = time.monotonic() + timeout_s
    while not holds():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s} s")
        time.sleep(0.0005)


@pytest.fixture
def watchdog() -> Iterator[None]:
    """Turns a hang (e.g. a blocking call holding the GIL) into a crash with tracebacks."""
    faulthandler.dump_traceback_later(60, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def test_options_are_keyword_only_with_readable_fields() -> None:
    policy = native.QueuePolicy(
        timeout_action=native.TimeoutAction.DELAY, default_timeout_us=5, max_queue_size=3
    )
    opts = native.SchedulerOptions(
        max_batch_size=8,
        batching_enabled=False,
        max_queue_delay_us=100,
        preferred_batch_sizes=[2, 4],
        preserve_ordering=True,
        priority_levels=1,
        default_priority_level=1,
        queue_policies=[policy],
    )
    assert opts.max_batch_size == 8 and not opts.batching_enabled
    assert opts.preferred_batch_sizes == [2, 4] and opts.preserve_ordering
    assert opts.queue_policies[0].timeout_action is native.TimeoutAction.DELAY
    assert opts.queue_policies[0].allow_timeout_override
    opts.max_queue_delay_us = 7
    assert opts.max_queue_delay_us == 7
    assert native.SchedulerOptions().queue_policies == []
    assert isinstance(native.EnqueueResult.OK, enum.Enum)
    with pytest.raises(TypeError):
        native.SchedulerOptions(8)  # type: ignore[misc]


@pytest.mark.parametrize(
    "fields",
    [
        {"max_batch_size": 0},
        {"priority_levels": 0},
        {"priority_levels": 2, "default_priority_level": 3},
        {"priority_levels": 2, "queue_policies": [native.QueuePolicy()]},
        {"max_batch_size": 4, "preferred_batch_sizes": [8]},
    ],
)
def test_invalid_options_raise_value_error(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        native.Scheduler(options(**fields))


def test_invalid_tasks_raise() -> None:
    scheduler, _ = manual(max_batch_size=4, priority_levels=2)
    with pytest.raises(ValueError):
        scheduler.enqueue(1, 5, 0)
    with pytest.raises(ValueError):
        scheduler.enqueue(1, 1, 0, priority=3)
    with pytest.raises(TypeError):
        scheduler.enqueue(-1, 1, 0)
    assert scheduler.enqueue(1, 1, 0) is native.EnqueueResult.OK
    with pytest.raises(ValueError):
        scheduler.enqueue(1, 1, 0)
    with pytest.raises(ValueError):
        scheduler.finish_batch(12345, True)


def test_full_range_ids_and_shape_keys_round_trip() -> None:
    scheduler, _ = manual(max_batch_size=4)
    scheduler.enqueue(U64_MAX, 2, U64_MAX)
    batch = scheduler.try_next_batch()
    assert batch is not None
    assert batch.task_ids == [U64_MAX] and batch.shape_key == U64_MAX and batch.rows == 2


def test_batch_closes_on_delay_preferred_size_and_shape() -> None:
    scheduler, clock = manual(max_batch_size=8, max_queue_delay_us=100, preferred_batch_sizes=[4])
    assert scheduler.next_wakeup_ns() == -1
    start_ns = clock.now_ns()
    scheduler.enqueue(1, 1, 0xA)
    scheduler.enqueue(2, 1, 0xB)
    scheduler.enqueue(3, 1, 0xA)
    assert scheduler.try_next_batch() is None
    assert scheduler.next_wakeup_ns() == start_ns + 100_000
    clock.advance_us(100)
    assert ids(scheduler.try_next_batch()) == [1, 3]
    assert ids(scheduler.try_next_batch()) == [2]
    for task_id in range(10, 15):
        scheduler.enqueue(task_id, 1, 0)
    assert ids(scheduler.try_next_batch()) == [10, 11, 12, 13]
    assert scheduler.num_pending == 1


def test_priorities_and_disabled_batching() -> None:
    scheduler, _ = manual(max_batch_size=4, batching_enabled=False, priority_levels=2)
    scheduler.enqueue(1, 1, 0, priority=2)
    scheduler.enqueue(2, 1, 0)  # default level 1
    scheduler.enqueue(3, 1, 0, priority=1)
    assert [ids(scheduler.try_next_batch()) for _ in range(4)] == [[2], [3], [1], []]


def test_queue_full_and_timeouts(watchdog: None) -> None:
    reject = native.QueuePolicy(default_timeout_us=100, max_queue_size=2)
    delay = native.QueuePolicy(timeout_action=native.TimeoutAction.DELAY, default_timeout_us=100)
    scheduler, clock = manual(
        max_batch_size=1, priority_levels=2, queue_policies=[reject, delay], max_queue_delay_us=0
    )
    assert scheduler.enqueue(1, 1, 0, priority=1) is native.EnqueueResult.OK
    assert scheduler.enqueue(2, 1, 0, priority=1, timeout_us=50) is native.EnqueueResult.OK
    assert scheduler.enqueue(3, 1, 0, priority=1) is native.EnqueueResult.QUEUE_FULL
    scheduler.enqueue(4, 1, 0, priority=2)
    clock.advance_us(50)
    # wait_expired returns at once once a task is rejected; a hang here is a failure.
    assert scheduler.wait_expired() == [2]  # its own timeout lowered the level's default
    scheduler.enqueue(5, 1, 0, priority=2)
    clock.advance_us(50)
    assert scheduler.wait_expired() == [1]  # not 2 again: each id is returned once
    # Task 4 timed out with DELAY: it stays queued but goes behind task 5.
    assert [ids(scheduler.try_next_batch()) for _ in range(3)] == [[5], [4], []]
    assert scheduler.stats().rejected_count == 3
    assert scheduler.stats().timed_out_count == 2  # the queue-full one did not time out


def test_cancel_and_close(watchdog: None) -> None:
    scheduler, _ = manual(max_batch_size=8, max_queue_delay_us=1_000_000)
    for task_id in (1, 2, 3):
        scheduler.enqueue(task_id, 1, 0)
    assert scheduler.cancel(2) and not scheduler.cancel(2) and not scheduler.cancel(99)
    scheduler.close()
    assert scheduler.enqueue(4, 1, 0) is native.EnqueueResult.CLOSED
    assert ids(scheduler.try_next_batch()) == [1, 3]  # drains without waiting for the delay
    assert scheduler.next_batch() is None
    assert scheduler.wait_expired() == []  # closed and drained: returns at once
    assert scheduler.stats().canceled_count == 1


def test_stats_count_per_request() -> None:
    scheduler, clock = manual(max_batch_size=4, priority_levels=2)
    scheduler.enqueue(1, 1, 0)
    scheduler.enqueue(2, 3, 0)
    scheduler.enqueue(3, 1, 0, priority=2)
    clock.advance_us(300)
    batch = scheduler.try_next_batch()
    assert batch is not None and batch.rows == 4
    in_flight = scheduler.stats()
    assert in_flight.num_in_flight == 2 and in_flight.pending_by_level == [0, 1]
    assert in_flight.num_pending == 1
    clock.advance_us(1700)
    scheduler.finish_batch(batch.batch_id, True, 10, 20_000, 30)
    scheduler.record_failure(native.FailureReason.OTHER, 2)
    stats = scheduler.stats()
    assert stats.success_count == 2 and stats.success_ns == 4_000_000
    assert stats.queue_count == 2 and stats.queue_ns == 600_000
    counts = (stats.compute_input_count, stats.compute_infer_count, stats.compute_output_count)
    assert counts == (2, 2, 2)
    assert (stats.compute_input_ns, stats.compute_infer_ns, stats.compute_output_ns) == (
        20,
        40_000,
        60,
    )
    assert stats.inference_count == 4 and stats.execution_count == 1
    assert stats.other_failure_count == 2 and stats.fail_count == 2 and stats.fail_ns == 0
    assert stats.canceled_count == 0 and stats.backend_failure_count == 0
    assert stats.last_inference_ms > 1_600_000_000_000
    [size_stats] = stats.batch_stats
    assert (size_stats.batch_size, size_stats.count, size_stats.compute_infer_ns) == (4, 1, 20_000)
    request = stats.request_duration_us
    assert len(request.counts) == len(request.bounds) + 1
    assert request.count == 2 and request.sum == 4000.0
    assert request.counts[request.bounds.index(2500.0)] == 2  # 1000 < 2000 <= 2500, not cumulative
    assert sum(stats.queue_duration_us.counts) == 2
    assert stats.compute_infer_duration_us.counts[0] == 2  # 20 us <= 100 us
    sizes = stats.batch_size
    assert sizes.bounds[:4] == [1.0, 2.0, 4.0, 8.0] and sizes.counts[2] == 1 and sizes.sum == 4.0

    scheduler.enqueue(4, 1, 0)
    failed = scheduler.try_next_batch()
    assert failed is not None
    scheduler.finish_batch(failed.batch_id, False)
    stats = scheduler.stats()
    assert failed.task_ids == [4, 3]  # task 3 was still queued, at level 2
    assert stats.backend_failure_count == 2 and stats.compute_infer_count == 2


def test_next_batch_releases_the_gil(watchdog: None) -> None:
    scheduler, _ = manual(max_batch_size=4, max_queue_delay_us=0)
    delivered: list[int] = []

    def consume() -> None:
        while (batch := scheduler.next_batch()) is not None:
            delivered.extend(batch.task_ids)
            scheduler.finish_batch(batch.batch_id, True)

    consumers = [threading.Thread(target=consume, daemon=True) for _ in range(3)]
    for consumer in consumers:
        consumer.start()
    try:
        # The main thread runs Python while all three wait: only possible with the GIL released
        # (held, it would hang here until the watchdog fires).
        wait_until(lambda: scheduler.num_waiting == 3, "three consumers blocked in next_batch")
        for task_id in range(2000):
            result = scheduler.enqueue(task_id, 1 + task_id % 2, task_id % 3)
            assert result is native.EnqueueResult.OK
        # Before close(): each enqueue woke a consumer; nothing else would have.
        wait_until(lambda: len(delivered) == 2000, "every task delivered while open")
    finally:
        scheduler.close()
        for consumer in consumers:
            consumer.join(timeout=30)
    assert not any(consumer.is_alive() for consumer in consumers)
    assert sorted(delivered) == list(range(2000))
    stats = scheduler.stats()
    assert stats.success_count == 2000 and stats.num_pending == 0 and stats.num_in_flight == 0


def test_blocked_next_batch_wakes_on_poke_after_the_clock_moves(watchdog: None) -> None:
    # A 60 s delay: the waiter sleeps that long in real time unless poke() wakes it.
    scheduler, clock = manual(max_batch_size=8, max_queue_delay_us=60_000_000)
    scheduler.enqueue(1, 1, 0)
    got: list[list[int]] = []
    consumer = threading.Thread(target=lambda: got.append(ids(scheduler.next_batch())), daemon=True)
    consumer.start()
    try:
        wait_until(lambda: scheduler.num_waiting == 1, "the consumer blocked in next_batch")
        assert got == []  # the manual clock has not moved
        clock.advance_us(60_000_000)
        scheduler.poke()
        consumer.join(timeout=10)
        assert got == [[1]], "poke() did not wake the consumer"
    finally:
        scheduler.close()  # frees the consumer if poke() did not
        consumer.join(timeout=10)


def test_blocked_wait_expired_wakes_on_deadlines_and_close(watchdog: None) -> None:
    scheduler, clock = manual(max_batch_size=8, max_queue_delay_us=1_000_000)
    expired: list[list[int]] = []

    def reap() -> None:
        expired.append(scheduler.wait_expired())

    reaper = threading.Thread(target=reap, daemon=True)
    reaper.start()
    try:
        wait_until(lambda: scheduler.num_waiting == 1, "the reaper blocked in wait_expired")
        scheduler.enqueue(5, 1, 0, timeout_us=20_000)
        clock.advance_us(20_000)
        scheduler.poke()
        reaper.join(timeout=10)
        assert expired == [[5]]
        closer = threading.Thread(target=reap, daemon=True)
        closer.start()
        wait_until(lambda: scheduler.num_waiting == 1, "the reaper blocked again")
        scheduler.close()
        closer.join(timeout=10)
        assert expired == [[5], []]
    finally:
        scheduler.close()  # frees a reaper still waiting
