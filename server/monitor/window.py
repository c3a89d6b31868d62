"""A sliding window of rows: the last `capacity` rows added, optionally only those younger
than a number of seconds. One slice assignment per add, whatever the batch size."""

from __future__ import annotations

import numpy as np


class Window:
    """Rows [capacity, width] in a ring; `dtype` float64 (numeric) or object (categorical).

    Not thread-safe: the monitor's worker thread owns it.
    """

    def __init__(self, width: int, capacity: int, dtype: type | np.dtype) -> None:
        self.capacity = capacity
        self._values = np.empty((capacity, width), dtype=dtype)
        self._times = np.zeros(capacity, dtype=np.float64)
        self._next = 0
        self._filled = 0
        self.num_added = 0
        """Rows ever added (a full window keeps counting)."""

    def add(self, rows: np.ndarray, now_s: float) -> None:
        if rows.shape[0] > self.capacity:
            rows = rows[-self.capacity :]
        count = rows.shape[0]
        end = self._next + count
        if end <= self.capacity:
            self._values[self._next : end] = rows
            self._times[self._next : end] = now_s
        else:
            split = self.capacity - self._next
            self._values[self._next :] = rows[:split]
            self._values[: count - split] = rows[split:]
            self._times[self._next :] = now_s
            self._times[: count - split] = now_s
        self._next = end % self.capacity
        self._filled = min(self.capacity, self._filled + count)
        self.num_added += count

    def rows(self, now_s: float, max_age_s: float = 0.0) -> np.ndarray:
        """The rows in the window now (a copy, oldest first), within `max_age_s` when set."""
        if self._filled < self.capacity:
            values, times = self._values[: self._filled], self._times[: self._filled]
        else:
            values = np.roll(self._values, -self._next, axis=0)
            times = np.roll(self._times, -self._next)
        if max_age_s > 0:
            return values[times >= now_s - max_age_s]
        return values.copy()

    def __len__(self) -> int:
        return self._filled
