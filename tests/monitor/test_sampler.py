"""Which requests the monitor reads (a share, capped per second, on an injected clock), and
that a full queue drops samples instead of holding the caller up."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from monitor_support import Clock, config, write_model_dir

from naiad.monitor.book import MonitorBook
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
