"""Output label files (config `label_filename`): read once at load, kept in the TensorSpec.

Triton's format: one label per line, line i naming class index i of the output's last
dimension; the file lies in the model's directory. Classification answers (the
`classification` parameter of a requested output) append the label to each "score:index".
"""

from __future__ import annotations

import dataclasses

from naiad.config.paths import ModelFiles, confined
from naiad.config.problems import Problems
from naiad.config.settings import TensorSpec
from naiad_protocol.model_config_pb2 import ModelConfig

MAX_LABEL_FILE_BYTES = 16 * 1024 * 1024
"""A label file larger than this is refused rather than read into every version's settings."""


def with_labels(
    config: ModelConfig, outputs: tuple[TensorSpec, ...], files: ModelFiles, problems: Problems
) -> tuple[TensorSpec, ...]:
    """`outputs` with the labels of each output whose config names a label_filename."""
    filenames = {t.name: t.label_filename for t in config.output if t.label_filename}
    if not filenames:
        return outputs
    labelled = []
    for spec in outputs:
        filename = filenames.get(spec.name)
        labels = _read(spec.name, filename, files, problems) if filename else ()
        labelled.append(dataclasses.replace(spec, labels=labels) if labels else spec)
    return tuple(labelled)


def _read(output: str, filename: str, files: ModelFiles, problems: Problems) -> tuple[str, ...]:
    what = f"output '{output}' label_filename"
    path = confined(
        filename,
        base=files.model_dir,
        root=files.root,
        what=what,
        place="the model directory",
        problems=problems,
    )
    if path is None:
        return ()
    try:
        if path.stat().st_size > MAX_LABEL_FILE_BYTES:
            problems.add(f"{what} '{filename}' is larger than {MAX_LABEL_FILE_BYTES} bytes")
            return ()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.add(f"{what} '{filename}' does not exist in the model directory")
        return ()
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(f"{what} '{filename}' cannot be read: {exc}")
        return ()
    labels = tuple(line.rstrip("\r") for line in text.split("\n"))
    # A final newline ends the last label; it does not add an empty one.
    return labels[:-1] if labels and labels[-1] == "" else labels
