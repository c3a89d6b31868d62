"""How a tensor becomes monitored features: a [rows, features] matrix, one column each.

A row is one sample: the first dimension of a batching model's tensor, the whole tensor of a
model without batching. A [batch, n] tensor gives n features; higher ranks are flattened; a
tensor wider than `max_features` is watched by four per-row summaries (mean, std, min, max).
BYTES and BOOL tensors (and those the settings name) are categorical: each column a
category per row, values kept as they arrived. NaN becomes +inf in numeric columns, so that
missing values show as a shift above every real value rather than vanish.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

NUMERIC = "numeric"
CATEGORICAL = "categorical"
SUMMARIES = ("mean", "std", "min", "max")


@dataclass(frozen=True)
class TensorLayout:
    """How one tensor of one model version is read: its kind and its feature names."""

    tensor: str
    kind: str
    names: tuple[str, ...]
    summarised: bool = False


def layout_for(
    tensor: str,
    data: np.ndarray,
    batched: bool,
    categorical: bool,
    max_features: int,
    names: tuple[str, ...] = (),
) -> TensorLayout:
    """The layout of `tensor` as first seen in `data`; `names` overrides column numbers."""
    width = _width(data, batched)
    kind = CATEGORICAL if categorical or data.dtype == object or data.dtype == bool else NUMERIC
    if width > max_features:
        if kind == NUMERIC:
            return TensorLayout(tensor, kind, SUMMARIES, summarised=True)
        width = max_features
    if names and len(names) == width:
        return TensorLayout(tensor, kind, tuple(names))
    return TensorLayout(tensor, kind, tuple(str(i) for i in range(width)))


def _width(data: np.ndarray, batched: bool) -> int:
    if batched:
        return int(np.prod(data.shape[1:], dtype=np.int64)) if data.ndim > 1 else 1
    return int(data.size)


def rows_of(layout: TensorLayout, data: np.ndarray, batched: bool) -> np.ndarray | None:
    """`data` as [rows, len(layout.names)]: float64 for numeric, object for categorical; None
    when its width no longer fits the layout (a tensor of another shape)."""
    rows = data.reshape(data.shape[0] if batched and data.ndim else 1, -1)
    if layout.kind == CATEGORICAL:
        if rows.shape[1] < len(layout.names):
            return None
        return np.asarray(rows[:, : len(layout.names)], dtype=object)
    values = rows.astype(np.float64, copy=False)
    if layout.summarised:
        with np.errstate(invalid="ignore"):
            values = np.stack([values.mean(1), values.std(1), values.min(1), values.max(1)], axis=1)
    elif values.shape[1] != len(layout.names):
        return None
    if not np.isfinite(values).all():
        values = np.where(np.isnan(values), np.inf, values)
    return values


def count_categories(column: np.ndarray) -> dict[str, int]:
    """category_key -> count over one categorical column (np.unique: no Python-level loop
    over the elements; Counter where the values do not order, e.g. mixed types)."""
    try:
        keys, counts = np.unique(column, return_counts=True)
        pairs = zip(keys.tolist(), counts.tolist(), strict=True)
    except TypeError:
        pairs = Counter(column.tolist()).items()  # type: ignore[assignment]
    found: dict[str, int] = {}
    for key, count in pairs:
        name = category_key(key)
        found[name] = found.get(name, 0) + int(count)
    return found


def category_key(value: object) -> str:
    """How a category shows in reports and profiles: bytes as text, anything else as str."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.bool_ | bool):
        return "true" if value else "false"
    return str(value)
