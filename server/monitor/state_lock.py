"""One process owns a model's monitor state directory (labels, pending predictions, captured
samples): an exclusive, non-blocking flock on `<dir>/.lock`, held for the process's life.

Two servers over one repository (a blue-green pair, benchmark targets) would otherwise both
append to the same files and each count only its own bytes against the sink's cap. The
second one monitors in memory and says so.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger("naiad.monitor")


class StateLocks:
    """The directories this process owns; `own` is idempotent per directory."""

    def __init__(self) -> None:
        self._held: dict[Path, int] = {}

    def own(self, directory: Path) -> bool:
        """Whether this process owns `directory` now (taking it when free)."""
        directory = directory.resolve()
        if directory in self._held:
            return True
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            log.warning("monitor state %s unusable: %s; labels kept in memory only", directory, exc)
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            log.warning(
                "monitor state %s is held by another process: this one keeps labels in memory "
                "and captures no samples (give it its own --monitor-state-dir)",
                directory,
            )
            return False
        self._held[directory] = fd
        return True

    def release(self) -> None:
        for fd in self._held.values():
            os.close(fd)
        self._held.clear()
