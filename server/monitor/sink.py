"""Captured samples: one JSON object per line in rotated files that together never pass a cap.

Files are samples-000001.jsonl, samples-000002.jsonl, ... in one directory. A record goes to
the newest file unless it would push that file past `max_file_bytes`, then to a new one; the
oldest files are deleted first so that the directory's total never passes `max_bytes`. A
record larger than a whole file is dropped (and counted). What was written survives a restart:
a new sink continues the numbering and counts the files already there towards the cap.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("naiad.monitor")
_NAME = re.compile(r"^samples-(\d{6,})\.jsonl$")


class SampleSink:
    """Not thread-safe: the monitor's worker thread owns it."""

    def __init__(self, directory: Path, max_bytes: int, max_file_bytes: int) -> None:
        if max_file_bytes > max_bytes:
            raise ValueError("a sink file may not be larger than the whole sink")
        self.directory = directory
        self.max_bytes = max_bytes
        self.max_file_bytes = max_file_bytes
        self.num_written = 0
        self.num_dropped = 0
        directory.mkdir(parents=True, exist_ok=True)
        self._files: list[tuple[int, Path, int]] = sorted(
            (int(m[1]), p, p.stat().st_size)
            for p in directory.iterdir()
            if (m := _NAME.match(p.name)) is not None
        )

    @property
    def total_bytes(self) -> int:
        return sum(size for _, _, size in self._files)

    def files(self) -> list[Path]:
        return [path for _, path, _ in self._files]

    def write(self, record: dict[str, Any]) -> bool:
        """Appends one record; False (and counted) when it cannot fit a file."""
        line = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
        if len(line) > self.max_file_bytes:
            self.num_dropped += 1
            return False
        if not self._files or self._files[-1][2] + len(line) > self.max_file_bytes:
            number = self._files[-1][0] + 1 if self._files else 1
            self._files.append((number, self.directory / f"samples-{number:06d}.jsonl", 0))
        while self.total_bytes + len(line) > self.max_bytes and len(self._files) > 1:
            _, oldest, _ = self._files.pop(0)
            oldest.unlink(missing_ok=True)
        number, path, size = self._files[-1]
        try:
            with open(path, "ab") as file:
                file.write(line)
        except OSError as exc:
            log.warning("captured sample not written to %s: %s", path, exc)
            self.num_dropped += 1
            return False
        self._files[-1] = (number, path, size + len(line))
        self.num_written += 1
        return True
