"""What one `naiad batch` job is: a typed, validated description, and its fingerprint."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

INPUT_FORMATS = ("parquet", "csv", "jsonl", "npy", "npz")
OUTPUT_FORMATS = ("parquet", "csv", "jsonl")
EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".npy": "npy",
    ".npz": "npz",
}
"""File name endings -> input format, for --input-format left out."""


@dataclass(frozen=True)
class BatchJob:
    """One batch inference job; construction validates it (ValueError says what is wrong)."""

    model: str
    """The model that answers."""
    input: str
    """A file or a folder of files: a local path or a URL (s3://, gs://, memory://, ...)."""
    output: str
    """A folder: numbered part files, the manifest and the rejects go there."""
    model_repository: str = ""
    """Repository directory (local engine and Ray); empty with --url."""
    model_version: str = ""
    """"" = the latest ready version."""
    input_format: str = ""
    """One of INPUT_FORMATS; "" = from the file names."""
    output_format: str = "parquet"
    mapping: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(input name, column names or fnmatch patterns) per mapped input; an unmapped input takes
    the column of its own name, or a single-input model every column not kept."""
    keep_columns: tuple[str, ...] = ()
    """Input columns copied next to the predictions."""
    batch_size: int = 0
    """Rows per request; 0 = the model's max_batch_size (1 row for a model that does not batch)."""
    chunk_rows: int = 16384
    """Rows read, run, written and committed as one unit: the memory budget and resume step."""
    max_in_flight: int = 0
    """Requests queued at once; 0 = enough for every instance to find a full batch waiting."""
    strict: bool = False
    """Stop at the first bad row instead of writing it to the rejects."""
    rejects: str = ""
    """Folder of the rejects; "" = OUTPUT/_rejects."""
    url: str = ""
    """HOST:PORT of a running server to send the rows to instead of a local engine."""
    overwrite: bool = False
    """Start afresh when the output holds another job's (or a finished) manifest."""

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("--model is required")
        if not self.input or not self.output:
            raise ValueError("--input and --output are required")
        if bool(self.url) == bool(self.model_repository):
            raise ValueError("give either --model-repository (local engine) or --url (a server)")
        if self.input_format and self.input_format not in INPUT_FORMATS:
            raise ValueError(
                f"--input-format {self.input_format!r}: one of {', '.join(INPUT_FORMATS)}"
            )
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(
                f"--output-format {self.output_format!r}: one of {', '.join(OUTPUT_FORMATS)}"
            )
        if self.batch_size < 0 or self.max_in_flight < 0:
            raise ValueError("--batch-size and --max-in-flight are >= 0")
        if self.chunk_rows < 1:
            raise ValueError("--chunk-rows is >= 1")
        names = [name for name, _ in self.mapping]
        if len(set(names)) != len(names):
            raise ValueError(f"an input is mapped twice: {names}")
        for name, columns in self.mapping:
            if not name or not columns or not all(columns):
                raise ValueError(f"--map {name}=...: give INPUT=COLUMN[,COLUMN...]")

    def fingerprint(self) -> str:
        """Names what the output holds: a rerun with the same fingerprint resumes the job."""
        fields = {
            "model": self.model,
            "model_version": self.model_version,
            "input": self.input,
            "input_format": self.input_format,
            "output_format": self.output_format,
            "mapping": [[n, list(c)] for n, c in self.mapping],
            "keep_columns": list(self.keep_columns),
            "chunk_rows": self.chunk_rows,
        }
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def rejects_location(self) -> str:
        return self.rejects or join(self.output, "_rejects")


def parse_mapping(items: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`INPUT=COLUMN[,COLUMN...]` items -> BatchJob.mapping; ValueError for a malformed one."""
    mapping = []
    for item in items:
        name, sep, columns = item.partition("=")
        if not sep or not name.strip() or not columns.strip():
            raise ValueError(f"--map {item!r}: give INPUT=COLUMN[,COLUMN...]")
        mapping.append((name.strip(), tuple(c.strip() for c in columns.split(","))))
    return tuple(mapping)


def join(base: str, name: str) -> str:
    """`base`/`name` for paths and URLs alike."""
    return base.rstrip("/") + "/" + name
