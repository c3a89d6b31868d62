"""A reference profile from arrays: the same layouts, derived outputs and references the
server builds from its first requests, built from a whole data set at once."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from naiad.errors import InvalidArgument
from naiad.monitor.reference import Profile
from naiad.monitor.settings import MonitorSettings
from naiad.monitor.version import Sample, VersionMonitor


def build_profile(
    inputs: dict[str, np.ndarray],
    outputs: dict[str, np.ndarray],
    settings: MonitorSettings,
    source: str,
) -> Profile:
    """A profile of every tensor in `inputs` and `outputs` (each [rows, ...], rows aligned);
    numeric features keep up to settings.max_reference_rows rows. InvalidArgument when the
    tensors disagree on the row count or hold fewer than two rows."""
    counts = {name: int(a.shape[0]) if a.ndim else 1 for name, a in {**inputs, **outputs}.items()}
    if not counts:
        raise InvalidArgument("a profile needs at least one tensor")
    rows = set(counts.values())
    if len(rows) != 1:
        raise InvalidArgument(f"tensors disagree on the number of rows: {counts}")
    num_rows = rows.pop()
    if num_rows < 2:
        raise InvalidArgument("a profile needs two rows or more")
    all_rows = dataclasses.replace(settings, reference_rows=num_rows, capture_outliers=False)
    monitor = VersionMonitor("profile", "", all_rows, None, set(inputs))
    monitor.observe([Sample("profile", "", "", inputs, outputs, True, time.monotonic())], [1.0])
    return monitor.profile(source)
