"""A file whose parsed contents follow the file: re-read when its mtime or size changes."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger("naiad.security")

T = TypeVar("T")

RECHECK_S = 1.0
"""How often a lookup may stat the file; a changed file takes effect within this."""


class WatchedFile(Generic[T]):
    """Holds `parse(text)` of a file, re-parsed when the file changes (checked at most every
    `recheck_s` on `current()`) or when `reload()` is called (SIGHUP).

    A change that does not parse is logged and the previous contents stay in force: a bad edit
    must not lock every caller out. At construction a file that does not parse raises
    ValueError.
    """

    def __init__(
        self,
        path: str | Path,
        parse: Callable[[str], T],
        *,
        recheck_s: float = RECHECK_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._parse = parse
        self._recheck_s = recheck_s
        self._clock = clock
        self._next_check = clock() + recheck_s
        self._stamp = self._stat()
        try:
            self._value = parse(self.path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"cannot read {self.path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ValueError(f"{self.path}: {exc}") from None

    def current(self) -> T:
        """The contents in force, after re-reading the file if it changed."""
        now = self._clock()
        if now >= self._next_check:
            self._next_check = now + self._recheck_s
            if self._stat() != self._stamp:
                self.reload()
        return self._value

    def reload(self) -> bool:
        """Re-reads the file now; False (and the old contents kept) when it does not parse."""
        stamp = self._stat()
        try:
            value = self._parse(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            self._stamp = stamp  # do not retry a bad file on every lookup
            log.error("keeping the previous %s: %s", self.path, exc)
            return False
        self._stamp = stamp
        self._value = value
        log.info("reloaded %s", self.path)
        return True

    def _stat(self) -> tuple[int, int, int, int] | None:
        # The inode catches a swapped file (a Kubernetes Secret's ..data link), ctime an edit
        # that kept size and mtime (cp -p, rsync -t).
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size
