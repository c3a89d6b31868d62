"""Capturing what native libraries write to file descriptor 2 during a short call."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@contextmanager
def native_stderr(keep: str) -> Iterator[list[str]]:
    """Redirects fd 2 for the block; afterwards the list holds the captured lines containing
    `keep`, without terminal colour codes. Other captured lines (another thread's output) are
    written back to stderr.

    Meant for calls of milliseconds (provider probes), since it diverts the whole process's
    stderr while it lasts.
    """
    captured: list[str] = []
    with _lock, tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            others: list[str] = []
            for raw in tmp.read().decode("utf-8", errors="replace").splitlines():
                line = _ANSI.sub("", raw).strip()
                if line:
                    (captured if keep in line else others).append(line)
            if others:
                os.write(2, ("\n".join(others) + "\n").encode())
