"""The job's checkpoint: which chunks are committed, kept in OUTPUT/_naiad_manifest.json.

A chunk is committed in this order: its part file (and rejects file) is written under a
temporary name and renamed into place, then the manifest listing it is rewritten the same way.
A process killed anywhere in between leaves either a chunk the manifest lists, whole, or files
the manifest does not list; a rerun deletes the latter and runs those chunks again, under the
same names. So after any number of kills and reruns the output holds every row exactly once:
the part files the manifest lists. A finished job's manifest says `done`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from naiad.batch.store import Folder

MANIFEST = "_naiad_manifest.json"
PART_PREFIX = "part-"


@dataclass
class ChunkRecord:
    rows: int
    """Rows read."""
    written: int
    """Rows in the part file."""
    rejected: int


@dataclass
class Manifest:
    fingerprint: str
    files: list[list[Any]]
    """[path, size] of every input file, in chunk-numbering order."""
    chunks: dict[str, ChunkRecord] = field(default_factory=dict)
    files_done: set[int] = field(default_factory=set)
    done: bool = False
    summary: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        document = {
            "fingerprint": self.fingerprint,
            "files": self.files,
            "chunks": {k: vars(v) for k, v in sorted(self.chunks.items())},
            "files_done": sorted(self.files_done),
            "done": self.done,
            "summary": self.summary,
        }
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        document = json.loads(data)
        return cls(
            document["fingerprint"],
            document["files"],
            {k: ChunkRecord(**v) for k, v in document["chunks"].items()},
            set(document["files_done"]),
            document["done"],
            document.get("summary", {}),
        )


class Checkpoint:
    """The manifest of one output folder, loaded (or started) once, committed per chunk.

    ValueError when the folder holds another job's output and `overwrite` is not set.
    """

    def __init__(
        self,
        output: Folder,
        rejects: Folder,
        fingerprint: str,
        files: list[list[Any]],
        *,
        overwrite: bool,
    ) -> None:
        self._output = output
        self._rejects = rejects
        output.make()
        rejects.make()
        output.remove_temporaries()
        rejects.remove_temporaries()
        previous = self._load()
        if previous is not None and not overwrite:
            if previous.fingerprint != fingerprint:
                raise ValueError(
                    f"{output.root} holds the output of another job (model, input, mapping or "
                    "chunk size differ): use --overwrite, or another --output"
                )
            if previous.files != files:
                raise ValueError(
                    f"the input files changed since {output.root} was started: "
                    "use --overwrite to start again"
                )
        if previous is None or overwrite:
            previous = Manifest(fingerprint, files)
        self.manifest = previous
        self.resumed = bool(previous.chunks)
        self._remove_uncommitted(everything=overwrite)
        if overwrite:
            self._write()

    def committed(self, chunk_name: str) -> bool:
        return chunk_name in self.manifest.chunks

    def file_done(self, file_index: int) -> bool:
        return file_index in self.manifest.files_done

    def commit(self, chunk_name: str, record: ChunkRecord, *, last_of_file: int | None) -> None:
        """Lists a chunk whose files are in place; durable when this returns."""
        self.manifest.chunks[chunk_name] = record
        if last_of_file is not None:
            self.manifest.files_done.add(last_of_file)
        self._write()

    def finish(self, summary: dict[str, Any]) -> None:
        self.manifest.done = True
        self.manifest.summary = summary
        self._write()

    def _write(self) -> None:
        data = self.manifest.to_json()
        self._output.write_atomic(MANIFEST, lambda f: f.write(data))

    def _load(self) -> Manifest | None:
        if not self._output.exists(MANIFEST):
            return None
        try:
            return Manifest.from_json(self._output.read_bytes(MANIFEST))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{self._output.path(MANIFEST)} is damaged ({exc}): use --overwrite"
            ) from None

    def _remove_uncommitted(self, *, everything: bool) -> None:
        for folder in (self._output, self._rejects):
            for name in folder.names():
                if not name.startswith(PART_PREFIX):
                    continue
                # part-<file>-<chunk>.<ext> locally, part-<file>-ray-<block>.<ext> on Ray
                chunk = "-".join(name[len(PART_PREFIX) :].split(".", 1)[0].split("-")[:2])
                if everything or chunk not in self.manifest.chunks:
                    folder.delete(name)
