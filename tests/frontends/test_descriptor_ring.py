"""The native DescriptorRing through its binding, over a real shared region: order across
wrap-around, a full ring, layout checks and eventfd wake-ups."""

from __future__ import annotations

import mmap
import os

import pytest

from naiad.frontends.region import RegionLayout, SharedRegion
from naiad.native import DescriptorRing


def _pending_wakes(fd: int) -> int:
    try:
        return os.eventfd_read(fd)
    except BlockingIOError:
        return 0


@pytest.fixture
def sides():  # type: ignore[no-untyped-def]
    """(engine side, front-end side) of one region, as two processes would map it."""
    engine = SharedRegion.create(RegionLayout(num_slots=4, slot_bytes=4096))
    front = SharedRegion(engine.fds, engine.layout, front_end=True, initialize=False)
    yield engine, front
    front.close()
    engine.close()


def test_descriptors_keep_their_order_across_wrap_around(sides) -> None:  # type: ignore[no-untyped-def]
    engine, front = sides
    capacity = front.requests.capacity
    sent = 0
    received = []
    for _ in range(5):  # 5 rounds of capacity - 1 pass the end of the ring several times
        for _ in range(capacity - 1):
            assert front.requests.push(sent, 1, sent % 4, 10, 20 + sent)
            sent += 1
        received += engine.requests.pop(capacity)
    assert [item[0] for item in received] == list(range(sent))
    assert received[7] == (7, 1, 0, 3, 10, 27)
    assert engine.requests.size == 0


def test_a_full_ring_refuses_and_keeps_what_it_holds(sides) -> None:  # type: ignore[no-untyped-def]
    engine, front = sides
    capacity = front.responses.capacity
    for request_id in range(capacity):
        assert engine.responses.push(request_id, 3, 0, 0, 0)
    assert not engine.responses.push(999, 3, 0, 0, 0)
    assert front.responses.size == capacity
    assert front.responses.pop(1) == [(0, 3, 0, 0, 0, 0)]
    assert engine.responses.push(1000, 3, 0, 0, 0)
    assert [item[0] for item in front.responses.pop(capacity)][-1] == 1000


def test_push_wakes_the_consumer_only_after_it_announced_sleep(sides) -> None:  # type: ignore[no-untyped-def]
    engine, front = sides
    front.requests.push(1, 1, 0, 0, 0)
    assert _pending_wakes(engine.wake_fd) == 0  # the engine is busy: no system call
    assert not engine.requests.prepare_wait()  # something waits: pop again, do not sleep
    engine.requests.pop()
    assert engine.requests.prepare_wait()
    front.requests.push(2, 1, 0, 0, 0)
    front.requests.push(3, 1, 0, 0, 0)
    assert _pending_wakes(engine.wake_fd) == 1  # one wake-up for the burst
    assert [item[0] for item in engine.requests.pop()] == [2, 3]


def test_attaching_checks_the_layout() -> None:
    memory = mmap.mmap(-1, DescriptorRing.bytes_for(8))
    ring = DescriptorRing(memory, offset=0, capacity=8, initialize=True)
    with pytest.raises(ValueError, match="does not hold a ring"):
        DescriptorRing(memory, offset=0, capacity=4, initialize=False)
    with pytest.raises(ValueError, match="smaller"):
        DescriptorRing(memory, offset=64, capacity=8, initialize=False)
    with pytest.raises(ValueError, match="at least 1"):
        DescriptorRing(memory, offset=0, capacity=0, initialize=True)
    del ring
    memory.close()


def test_slot_views_address_separate_memory(sides) -> None:  # type: ignore[no-untyped-def]
    engine, front = sides
    front.request_slot(1)[:3] = b"abc"
    front.response_slot(1)[:3] = b"xyz"
    assert bytes(engine.request_slot(1)[:3]) == b"abc"
    assert bytes(engine.response_slot(1)[:3]) == b"xyz"
    assert bytes(engine.request_slot(0)[:3]) == b"\0\0\0"
    assert len(engine.request_slot(3)) == 4096
