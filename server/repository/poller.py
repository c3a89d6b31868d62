"""A background thread that calls one function every `interval_s` until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Poller:
    """Runs `poll` every `interval_s` seconds on a daemon thread; an exception is logged."""

    def __init__(self, interval_s: float, poll: Callable[[], None]) -> None:
        if interval_s <= 0:
            raise ValueError(f"poll interval must be > 0 seconds, not {interval_s}")
        self._interval_s = interval_s
        self._poll = poll
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="naiad-repository-poll", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Returns once the thread has finished; a poll in progress completes first."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval_s):
            try:
                self._poll()
            except Exception:  # one bad poll must not end polling
                log.exception("model repository poll failed")
