"""Inbox: answers posted from worker threads settle on their own loop, in order, once."""

from __future__ import annotations

import asyncio
import gc
import os
import threading

import pytest

from naiad.engine.delivery import Inbox, inbox_for, settle
from naiad.native import signal_eventfd


async def test_posts_from_threads_settle_on_the_loop_in_order() -> None:
    loop = asyncio.get_running_loop()
    inbox = inbox_for(loop)
    assert inbox_for(loop) is inbox
    futures = [loop.create_future() for _ in range(6)]
    settled_on: list[str] = []
    for f in futures:
        f.add_done_callback(lambda _: settled_on.append(threading.current_thread().name))

    def worker() -> None:
        inbox.post(futures[:3], [0, 1, 2])
        inbox.post(futures[3:], [3, 4, ValueError("bad row")])

    thread = threading.Thread(target=worker, name="worker")
    thread.start()
    thread.join()
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert results[:5] == [0, 1, 2, 3, 4]
    assert isinstance(results[5], ValueError)
    assert settled_on == [threading.current_thread().name] * 6


async def test_a_future_whose_caller_left_is_skipped() -> None:
    loop = asyncio.get_running_loop()
    gone, waiting = loop.create_future(), loop.create_future()
    gone.cancel()
    settle([gone, waiting], ["late", "answer"])
    assert gone.cancelled() and waiting.result() == "answer"


def test_posting_to_a_closed_loop_is_dropped() -> None:
    loop = asyncio.new_event_loop()
    inbox = Inbox(loop)
    future = loop.create_future()
    loop.close()
    inbox.post([future], ["answer"])  # nobody waits: no error, nothing queued
    assert not future.done()


def test_the_eventfd_closes_with_its_loop() -> None:
    loop = asyncio.new_event_loop()
    inbox = Inbox(loop)
    fd = inbox._fd
    os.fstat(fd)  # open
    loop.close()
    del loop
    gc.collect()
    assert inbox.loop is None
    with pytest.raises(OSError):
        os.fstat(fd)
    inbox.post([], [])  # the loop is gone: nothing is written to the closed descriptor


def test_signal_eventfd_adds_one_and_ignores_a_closed_descriptor() -> None:
    fd = os.eventfd(0, os.EFD_NONBLOCK)
    try:
        signal_eventfd(fd)
        signal_eventfd(fd)
        assert os.eventfd_read(fd) == 2
    finally:
        os.close(fd)
    signal_eventfd(fd)  # closed: ignored, no exception
