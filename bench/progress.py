"""The live status line on stderr while a run measures (only on a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Rewrites one stderr line in place; silent when stderr is not a terminal or when off."""

    def __init__(self, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.started = time.monotonic()
        self._shown = False

    def __call__(self, text: str) -> None:
        if not self.enabled:
            return
        if not text:
            self.clear()
            return
        elapsed = time.monotonic() - self.started
        self.stream.write(f"\r\x1b[K[{elapsed:6.1f}s] {text}")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
