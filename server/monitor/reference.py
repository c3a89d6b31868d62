"""Reference profiles: what each feature looked like in training data (or in a version's first
requests), stored next to the model's versions as monitor_profile.npz.

Numeric features keep a sample of up to max_reference_rows values per feature (all of them
when the data is smaller, a uniform subsample otherwise), sorted per column: a quantile sketch
that is exact up to that size and whose rank error shrinks as 1/sqrt(rows) beyond, and from
which PSI's bins, KS and the outlier fences all come. Categorical features keep a frequency
table. The file is plain numpy arrays plus one JSON document (no pickle).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from naiad.errors import InvalidArgument
from naiad.monitor.features import CATEGORICAL, NUMERIC, TensorLayout, count_categories
from naiad.monitor.statistics import bin_counts, quantile_edges

OUTLIER_IQRS = 3.0
"""A value beyond this many interquartile ranges outside the quartiles is an outlier (Tukey's
'far out')."""
FORMAT = 1


@dataclass
class NumericReference:
    layout: TensorLayout
    sample: np.ndarray
    """[rows, features], each column sorted ascending."""
    edges: np.ndarray
    """[features, bins-1] PSI bin edges (quantiles of the sample)."""
    counts: np.ndarray
    """[features, bins] the sample's counts in those bins."""
    low: np.ndarray
    high: np.ndarray
    """[features] the outlier fences."""
    columns: np.ndarray
    """[features, rows]: the sample again, one contiguous sorted row per feature (for KS)."""


@dataclass
class CategoricalReference:
    layout: TensorLayout
    tables: list[dict[str, int]]
    """Per feature, category -> count."""


TensorReference = NumericReference | CategoricalReference


@dataclass
class Profile:
    """Every monitored tensor's reference (inputs and outputs alike), and where it came from."""

    tensors: dict[str, TensorReference] = field(default_factory=dict)
    source: str = ""
    num_rows: int = 0


def numeric_reference(layout: TensorLayout, values: np.ndarray, bins: int) -> NumericReference:
    """A reference from [rows, features] float64 values (already subsampled)."""
    if values.shape[0] < 2:
        raise InvalidArgument(f"tensor '{layout.tensor}': a reference needs two rows or more")
    sample = np.sort(values, axis=0)
    edges = quantile_edges(sample, bins)
    with np.errstate(invalid="ignore"):
        q1, q3 = np.quantile(sample, [0.25, 0.75], axis=0)
        iqr = q3 - q1
    return NumericReference(
        layout,
        sample,
        edges,
        bin_counts(sample, edges),
        q1 - OUTLIER_IQRS * iqr,
        q3 + OUTLIER_IQRS * iqr,
        np.ascontiguousarray(sample.T),
    )


def categorical_reference(layout: TensorLayout, values: np.ndarray) -> CategoricalReference:
    tables = [count_categories(values[:, column]) for column in range(values.shape[1])]
    return CategoricalReference(layout, tables)


def subsample(values: np.ndarray, max_rows: int, seed: int = 0) -> np.ndarray:
    if values.shape[0] <= max_rows:
        return values
    rng = np.random.default_rng(seed)
    return values[np.sort(rng.choice(values.shape[0], max_rows, replace=False))]


def save_profile(profile: Profile, path: Path) -> None:
    """Writes `profile` to `path` (through a temporary file, so a reader never sees half)."""
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {"format": FORMAT, "source": profile.source, "rows": profile.num_rows}
    tensors = []
    for number, (name, ref) in enumerate(profile.tensors.items()):
        entry: dict[str, Any] = {
            "tensor": name,
            "kind": ref.layout.kind,
            "names": list(ref.layout.names),
            "summarised": ref.layout.summarised,
        }
        if isinstance(ref, NumericReference):
            arrays[f"sample{number}"] = ref.sample
            entry["array"] = f"sample{number}"
            entry["bins"] = ref.edges.shape[1] + 1
        else:
            entry["tables"] = ref.tables
        tensors.append(entry)
    meta["tensors"] = tensors
    arrays["meta"] = np.array(json.dumps(meta))
    temporary = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(temporary, **arrays)  # type: ignore[arg-type]
    temporary.replace(path)


def load_profile(path: Path) -> Profile:
    """Reads a profile; InvalidArgument naming the file when it is not one."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            if meta.get("format") != FORMAT:
                raise InvalidArgument(f"{path}: profile format {meta.get('format')} unknown")
            profile = Profile(source=str(meta.get("source", "")), num_rows=int(meta["rows"]))
            for entry in meta["tensors"]:
                layout = TensorLayout(
                    entry["tensor"], entry["kind"], tuple(entry["names"]), entry["summarised"]
                )
                if layout.kind == NUMERIC:
                    values = np.asarray(stored[entry["array"]], dtype=np.float64)
                    ref: TensorReference = numeric_reference(layout, values, int(entry["bins"]))
                elif layout.kind == CATEGORICAL:
                    tables = [{str(k): int(v) for k, v in t.items()} for t in entry["tables"]]
                    ref = CategoricalReference(layout, tables)
                else:
                    raise InvalidArgument(f"{path}: unknown feature kind {layout.kind!r}")
                profile.tensors[layout.tensor] = ref
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument(f"{path}: not a naiad monitor profile ({exc})") from exc
    return profile
