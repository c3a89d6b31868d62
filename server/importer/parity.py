"""The original model and its ONNX copy on the same sample: how far apart their answers are."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_MAX_ABS_DIFF = 1e-4
"""Largest absolute difference of a numeric output accepted without --force."""


@dataclass(frozen=True)
class OutputParity:
    name: str
    max_abs_diff: float | None
    """Numeric outputs; None for labels compared as values."""
    mean_abs_diff: float | None
    agreement: float
    """Share of rows (labels) or elements (numbers, within the threshold) that agree."""


@dataclass(frozen=True)
class ParityReport:
    rows: int
    outputs: tuple[OutputParity, ...]
    threshold: float

    @property
    def passed(self) -> bool:
        for output in self.outputs:
            if output.max_abs_diff is None:
                if output.agreement < 1.0:
                    return False
            elif not output.max_abs_diff <= self.threshold:  # NaN fails too
                return False
        return True

    def lines(self) -> list[str]:
        shown = [f"parity on {self.rows} sample rows (threshold {self.threshold:g}):"]
        for o in self.outputs:
            if o.max_abs_diff is None:
                shown.append(f"  {o.name}: label agreement {o.agreement:.2%}")
            else:
                shown.append(
                    f"  {o.name}: max abs diff {o.max_abs_diff:.3g}, mean abs diff "
                    f"{o.mean_abs_diff:.3g}, within threshold {o.agreement:.2%}"
                )
        shown.append("  result: " + ("agree" if self.passed else "DISAGREE"))
        return shown


def compare(
    original: dict[str, np.ndarray], converted: dict[str, np.ndarray], threshold: float
) -> ParityReport:
    """Compares every output both answered (by name); labels by value, numbers by difference."""
    outputs = []
    rows = 0
    for name, want in original.items():
        if name not in converted:
            continue
        got = np.asarray(converted[name])
        want = np.asarray(want)
        rows = max(rows, int(want.shape[0]) if want.ndim else 1)
        if want.dtype.kind in "OUSb" or name == "label":
            same = np.asarray(_text(got).ravel() == _text(want).ravel())
            outputs.append(OutputParity(name, None, None, float(same.mean()) if same.size else 1.0))
            continue
        if got.size != want.size:
            outputs.append(OutputParity(name, float("inf"), float("inf"), 0.0))
            continue
        diff = np.abs(got.astype(np.float64).ravel() - want.astype(np.float64).ravel())
        outputs.append(
            OutputParity(
                name,
                float(diff.max()) if diff.size else 0.0,
                float(diff.mean()) if diff.size else 0.0,
                float((diff <= threshold).mean()) if diff.size else 1.0,
            )
        )
    return ParityReport(rows, tuple(outputs), threshold)


def _text(values: np.ndarray) -> np.ndarray:
    """Labels as comparable strings: bytes decoded, numbers as integers when they are."""
    flat = values.ravel()
    if flat.dtype.kind == "O":
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in flat])
    if flat.dtype.kind == "f" and np.all(np.mod(flat, 1) == 0):
        return flat.astype(np.int64).astype(str)
    return flat.astype(str)
