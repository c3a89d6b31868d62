"""The sequence batcher through its binding (the C++ tests in native/tests cover the logic)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from naiad import _native as native


def manual(**fields: object) -> tuple[native.SequenceBatcher, native.ManualClock]:
    clock = native.ManualClock(start_ns=1_000_000_000)
    return native.SequenceBatcher(native.SequenceOptions(**fields), clock), clock  # type: ignore[arg-type]


def wait_until(holds: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """A handshake with a thread (until it is blocked), never a way to let batcher time pass."""
    deadline = time.monotonic() + timeout_s
    while not holds():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s} s")
        time.sleep(0.0005)


def test_options_are_keyword_only_and_validated() -> None:
    opts = native.SequenceOptions(
        strategy=native.SequenceStrategy.OLDEST, num_instances=2, slots_per_instance=3,
        max_batch_size=4, preferred_batch_sizes=[2], max_sequence_idle_us=10,
    )  # fmt: skip
    assert (opts.strategy, opts.num_instances, opts.slots_per_instance) == (
        native.SequenceStrategy.OLDEST, 2, 3,
    )  # fmt: skip
    assert opts.preferred_batch_sizes == [2]
    with pytest.raises(TypeError):
        native.SequenceOptions(native.SequenceStrategy.DIRECT)  # type: ignore[misc]
    with pytest.raises(ValueError, match="preferred_batch_sizes"):
        native.SequenceBatcher(native.SequenceOptions(max_batch_size=2, preferred_batch_sizes=[3]))


def test_results_rows_and_released_slots() -> None:
    batcher, _ = manual(slots_per_instance=2, max_batch_size=2)
    assert batcher.enqueue(1, "ua", False, False) is native.SequenceEnqueueResult.NOT_STARTED
    assert batcher.enqueue(2, "ub", True, True) is native.SequenceEnqueueResult.OK
    batch = batcher.try_next_batch(0)
    assert batch is not None and batch.num_tasks == 1
    assert [(r.task_id, r.slot, r.start, r.end) for r in batch.rows] == [(2, 0, True, True)]
    batcher.finish_batch(batch.batch_id, True, 1, 2, 3)
    assert batcher.num_live_sequences == 0
    batcher.enqueue(3, "uc", True, False)
    batch = batcher.try_next_batch(0)
    assert batch is not None and batch.released_slots == [0]
    stats = batcher.stats()
    assert (stats.success_count, stats.other_failure_count, stats.compute_infer_ns) == (1, 1, 2)
    with pytest.raises(ValueError, match="unknown instance"):
        batcher.try_next_batch(1)


def test_next_batch_releases_the_gil_and_wakes_for_an_idle_release() -> None:
    batcher, clock = manual(max_sequence_idle_us=1_000)
    batcher.enqueue(1, "ua", True, False)
    first = batcher.try_next_batch(0)
    assert first is not None
    batcher.finish_batch(first.batch_id, True)
    batcher.enqueue(2, "ub", True, False)  # waits in the backlog for the only slot
    got: list[native.SequenceBatch | None] = []
    worker = threading.Thread(target=lambda: got.append(batcher.next_batch(0)))
    worker.start()
    wait_until(lambda: batcher.num_waiting == 1, "next_batch blocking")  # this thread runs
    clock.advance_us(1_000)
    batcher.poke()
    worker.join(10)
    assert got and got[0] is not None and got[0].rows[0].task_id == 2
    assert batcher.num_backlog_sequences == 0


def test_close_ends_a_waiting_caller() -> None:
    batcher, _ = manual()
    got: list[native.SequenceBatch | None] = []
    worker = threading.Thread(target=lambda: got.append(batcher.next_batch(0)))
    worker.start()
    wait_until(lambda: batcher.num_waiting == 1, "next_batch blocking")
    batcher.close()
    worker.join(10)
    assert got == [None]
    assert batcher.enqueue(1, "ua", True, False) is native.SequenceEnqueueResult.CLOSED
