"""Progress with an injected clock: the bar's rows, rate and ETA on a terminal, log lines at the
interval otherwise, and the summary."""

from __future__ import annotations

import io
import logging

import pytest

from naiad.batch.progress import Progress, summary_line


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bar_shows_rows_rate_and_eta() -> None:
    clock, out = Clock(), io.StringIO()
    progress = Progress(10_000, out, tty=True, clock=clock)
    clock.now += 2.0
    progress.advance(2_000, 1_990, 10)
    line = out.getvalue().split("\r")[-1]
    assert line.startswith("[####    ")
    assert "20% 2,000/10,000 rows, 1,000 rows/s, ETA 8 s, 10 rejected" in line
    progress.skipped(3_000)
    clock.now += 1.0
    progress.advance(1_000, 1_000, 0)
    assert "60% 6,000/10,000 rows, 1,000 rows/s, ETA 4 s" in out.getvalue().split("\r")[-1]


def test_without_a_terminal_a_log_line_each_interval(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    progress = Progress(None, io.StringIO(), tty=False, interval_s=10.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="naiad.batch"):
        for _ in range(5):
            clock.now += 4.0
            progress.advance(100, 100, 0)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["300 rows, 25 rows/s, 0 rejected"]  # at 12 s; the next is due at 22 s
    summary = progress.summary()
    assert summary["rows"] == 500 and summary["rows_per_s"] == 25.0 and summary["seconds"] == 20.0
    assert summary_line(summary).startswith("naiad batch done rows=500 written=500 rejected=0")


def test_without_a_row_count_the_share_of_bytes_read_gives_the_eta() -> None:
    clock, out = Clock(), io.StringIO()
    progress = Progress(None, out, total_bytes=1_000_000, tty=True, clock=clock)
    clock.now += 5.0
    progress.advance(4_000, 4_000, 0, bytes_done=250_000)
    line = out.getvalue().split("\r")[-1]
    assert line.startswith("[######  ")
    assert "25% 4,000 rows, 800 rows/s, ETA 15 s, 0 rejected" in line
