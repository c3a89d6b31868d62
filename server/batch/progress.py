"""How far a job is: a bar (rows, rows/s, ETA) on a terminal, a log line every `interval_s`
otherwise, and the summary at the end. Time comes from an injected clock."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

log = logging.getLogger("naiad.batch")
_BAR_WIDTH = 24


@dataclass
class Totals:
    rows: int = 0
    """Rows read this run (skipped chunks not counted)."""
    written: int = 0
    rejected: int = 0
    skipped_rows: int = 0
    """Rows of chunks an earlier run committed."""


class Progress:
    """Reports `advance` calls. The bar and the ETA come from `total_rows`, or where the input
    does not say how many rows it has (CSV, JSON lines) from the share of `total_bytes` read."""

    def __init__(
        self,
        total_rows: int | None,
        stream: TextIO,
        *,
        total_bytes: int | None = None,
        tty: bool | None = None,
        interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.totals = Totals()
        self._total = total_rows
        self._total_bytes = total_bytes
        self._bytes_done = 0
        self._stream = stream
        self._tty = stream.isatty() if tty is None else tty
        self._interval_s = interval_s
        self._clock = clock
        self._start = clock()
        self._last_report = self._start

    def skipped(self, rows: int) -> None:
        self.totals.skipped_rows += rows

    def advance(self, rows: int, written: int, rejected: int, bytes_done: int = 0) -> None:
        self._bytes_done = max(self._bytes_done, bytes_done)
        self.totals.rows += rows
        self.totals.written += written
        self.totals.rejected += rejected
        now = self._clock()
        if self._tty:
            self._stream.write("\r" + self.line(now))
            self._stream.flush()
        elif now - self._last_report >= self._interval_s:
            self._last_report = now
            log.info("%s", self.line(now))

    def elapsed_s(self) -> float:
        return self._clock() - self._start

    def rate(self, now: float | None = None) -> float:
        elapsed = (self._clock() if now is None else now) - self._start
        return self.totals.rows / elapsed if elapsed > 0 else 0.0

    def line(self, now: float) -> str:
        rate = self.rate(now)
        done = self.totals.rows + self.totals.skipped_rows
        rejected = f"{self.totals.rejected:,} rejected"
        if self._total:
            share = min(1.0, done / self._total)
            left_s = (self._total - done) / rate if rate > 0 else None
            counted = f"{done:,}/{self._total:,} rows"
        elif self._total_bytes and self._bytes_done:
            share = min(1.0, self._bytes_done / self._total_bytes)
            elapsed = now - self._start
            left_s = elapsed * (1 - share) / share if share > 0 else None
            counted = f"{done:,} rows"
        else:
            return f"{done:,} rows, {rate:,.0f} rows/s, {rejected}"
        eta = f"{left_s:,.0f} s" if left_s is not None else "?"
        bar = "#" * int(share * _BAR_WIDTH)
        return (
            f"[{bar:<{_BAR_WIDTH}}] {share:4.0%} {counted}, {rate:,.0f} rows/s, ETA {eta}, "
            f"{rejected}"
        )

    def summary(self) -> dict[str, float | int]:
        elapsed = self.elapsed_s()
        return {
            "rows": self.totals.rows,
            "written": self.totals.written,
            "rejected": self.totals.rejected,
            "skipped_rows": self.totals.skipped_rows,
            "seconds": round(elapsed, 3),
            "rows_per_s": round(self.totals.rows / elapsed, 1) if elapsed > 0 else 0.0,
        }

    def close(self) -> None:
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()


def summary_line(summary: dict[str, float | int]) -> str:
    """The last line a job prints; tests and bench/ read its `key=value` pairs."""
    return "naiad batch done " + " ".join(f"{k}={v}" for k, v in summary.items())
