"""Which requests the monitor reads: a share of them, capped per second under heavy traffic.

`admit` runs on the event loop for every request of a watched model, so it is a coin, at
most a token-bucket refill, and two counter increments; the share actually sampled is what
naiad_monitor_sampled_ratio exports.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Gate:
    """`ratio`: the share offered to the monitor; `max_per_s`: at most this many per second
    (a bucket holding one second of them; 0: no cap). `clock` in seconds."""

    def __init__(
        self, ratio: float, max_per_s: float, clock: Callable[[], float], rng: random.Random
    ) -> None:
        self.ratio = ratio
        self.max_per_s = max_per_s
        self._clock = clock
        self._random = rng.random
        self._tokens = max_per_s
        self._refilled_s = clock()
        self.num_seen = 0
        self.num_sampled = 0

    def admit(self) -> bool:
        self.num_seen += 1
        if self.ratio < 1.0 and self._random() >= self.ratio:
            return False
        if self.max_per_s > 0:
            now = self._clock()
            tokens = self._tokens + (now - self._refilled_s) * self.max_per_s
            self._tokens = min(self.max_per_s, tokens)
            self._refilled_s = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
        self.num_sampled += 1
        return True

    @property
    def sampled_ratio(self) -> float:
        """The share of requests seen so far that were sampled (1 before any)."""
        return self.num_sampled / self.num_seen if self.num_seen else 1.0
