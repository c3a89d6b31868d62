"""Which requests the monitor reads (a share, capped per second, on an injected clock), and
that a full queue drops samples instead of holding the caller up."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import numpy as np
from monitor_support import Clock, answers, book_for, config, data, feed, write_model_dir

from naiad.monitor.book import MonitorBook
from naiad.monitor.inbox import SampleInbox
from naiad.monitor.sampler import Gate
from naiad.monitor.version import Sample


def test_the_cap_admits_one_second_of_samples_then_refills_with_time() -> None:
    clock = Clock()
    gate = Gate(1.0, 10.0, clock, random.Random(0))
    assert sum(gate.admit() for _ in range(15)) == 10
    clock.now += 0.5
    assert sum(gate.admit() for _ in range(15)) == 5
    clock.now += 100.0  # a long pause refills no more than one second's worth
    assert sum(gate.admit() for _ in range(30)) == 10
    assert gate.num_seen == 60 and gate.sampled_ratio == 25 / 60


def test_the_ratio_samples_its_share_without_a_cap() -> None:
    gate = Gate(0.25, 0.0, Clock(), random.Random(1))
    admitted = sum(gate.admit() for _ in range(10000))
    assert 2300 < admitted < 2700 and gate.sampled_ratio == admitted / 10000


def test_a_full_queue_drops_and_counts(tmp_path: Path) -> None:
    book = MonitorBook(None, tmp_path / ".state", clock=Clock(), max_queue=2)
    book.configure("m", write_model_dir(tmp_path, reference_rows=0), config())
    sample = Sample("m", "1", "", {"INPUT0": np.zeros((1, 8), np.float32)}, {}, True, 0.0)
    assert [book.offer(sample) for _ in range(3)] == [True, True, False]  # no worker yet
    assert book.num_dropped == 1
    book.start()
    book.drain()  # the worker takes what was queued
    book.stop()
    assert book.model("m").versions["1"].num_samples == 2


def test_samples_read_together_keep_their_own_rows(tmp_path: Path) -> None:
    """The worker stacks queued samples of one version; what each showed stays its own."""
    book = book_for(tmp_path, "window_rows = 50\n")
    rng = np.random.default_rng(3)
    samples = []
    for number in range(20):
        part = data(1 + number % 3, rng)
        if number == 7:
            part["INPUT0"][-1, 4] = 50.0  # far beyond the reference's quartiles
        samples.append(Sample("m", "1", f"r{number}", part, answers(part), True, 0.0))
    seen = book.process_many(samples)
    assert [len(o.predictions or []) for o in seen if o] == [1 + n % 3 for n in range(20)]
    assert [n for n, o in enumerate(seen) if o and "outlier" in o.reasons] == [7]
    for one, sample in zip(seen, samples, strict=True):
        assert (
            one is not None
            and one.predictions == answers(sample.inputs)["OUTPUT0"].argmax(axis=1).tolist()
        )
    assert book.model("m").versions["1"].num_rows == sum(1 + n % 3 for n in range(20))


def test_the_first_rows_build_the_reference_however_the_worker_groups_them(tmp_path: Path) -> None:
    """A bootstrap reference takes exactly reference_rows; the rest of the same batch of
    samples fills the window, so drift is scored as it would be one request at a time."""
    settings = "reference_rows = 100\nwindow_rows = 100\nevaluate_every_rows = 50\n"
    rng = np.random.default_rng(6)
    parts = [data(1, rng) for _ in range(300)]
    for grouping in ("one batch", "one at a time"):
        book = book_for(tmp_path / grouping, settings, reference_rows=0)
        samples = [
            Sample("m", "1", f"r{n}", part, answers(part), True, 0.0)
            for n, part in enumerate(parts)
        ]
        if grouping == "one batch":
            book.process_many(samples)
        else:
            for sample in samples:
                book.process(sample)
        version = book.model("m").versions["1"]
        assert version.sources["INPUT0"] == "first 100 rows served", grouping
        assert version.reference_rows("INPUT0") == 100, grouping
        assert {f.feature for f in version.last.features if f.tensor == "INPUT0"}, grouping


def test_drift_is_evaluated_at_most_once_per_interval(tmp_path: Path) -> None:
    clock = Clock()
    settings = "window_rows = 50\nevaluate_every_rows = 50\nmin_evaluate_interval_s = 2.0\n"
    book = book_for(tmp_path, settings, clock=clock)
    rng = np.random.default_rng(4)
    feed(book, data(100, rng))
    version = book.model("m").versions["1"]
    first = version.last_time_s
    assert first == clock.now
    feed(book, data(100, rng))  # due by rows, not by time
    assert version.last_time_s == first
    clock.now += 2.0
    feed(book, data(50, rng))
    assert version.last_time_s == clock.now


def test_the_inbox_holds_its_cap_and_hands_over_oldest_first() -> None:
    inbox: SampleInbox[int] = SampleInbox(3, collect_s=0.0)
    assert [inbox.offer(n) for n in range(4)] == [True, True, True, False]
    assert inbox.collect(2) == [0, 1]
    assert inbox.offer(9)
    assert inbox.collect(10) == [2, 9]
    assert inbox.collect(10) == []  # nothing queued: an empty hand-over, not the end
    inbox.close()
    assert inbox.collect(10) is None


def test_drain_wakes_a_worker_that_would_otherwise_sleep() -> None:
    # a collect interval far beyond the test's timeout: only drain's wake-up can end it
    inbox: SampleInbox[int] = SampleInbox(10, collect_s=3600.0)
    taken: list[int] = []

    def worker() -> None:
        while (items := inbox.collect(10)) is not None:
            taken.extend(items)
            inbox.processed(len(items))

    thread = threading.Thread(target=worker)
    thread.start()
    for n in range(5):
        inbox.offer(n)
    inbox.drain()
    assert taken == [0, 1, 2, 3, 4]
    inbox.close()
    thread.join(timeout=10)
    assert not thread.is_alive()
