"""A window compared with its reference: one FeatureDrift per feature, and the model's
verdict (Evidently's dataset drift: the share of input features that drift)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from naiad.monitor.features import count_categories
from naiad.monitor.reference import CategoricalReference, NumericReference
from naiad.monitor.settings import MonitorSettings
from naiad.monitor.statistics import (
    bin_counts,
    chi_square,
    jensen_shannon,
    ks_pvalue,
    ks_statistic,
    psi,
)

PSI = "psi"
KS = "ks"
JENSEN_SHANNON = "jensen_shannon"
CHI_SQUARE = "chi_square"
MAX_PLOTTED_CATEGORIES = 20


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's comparison; `scores` by method (psi, ks, jensen_shannon, chi_square)."""

    tensor: str
    feature: str
    kind: str
    scores: dict[str, float]
    pvalues: dict[str, float]
    alert: bool
    method: str
    """The method whose threshold decides `alert`."""
    num_rows: int
    new_categories: tuple[str, ...] = ()
    """Categories of the window the reference never saw (up to 10)."""
    plot: dict[str, list[Any]] = field(default_factory=dict)
    """What a report draws: bin `edges` (numeric) or `categories`, and the `reference` and
    `current` shares in each."""


@dataclass(frozen=True)
class Verdict:
    features: list[FeatureDrift] = field(default_factory=list)
    drifted_share: float = 0.0
    """Among input features."""
    drifted: bool = False

    def alerting(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.alert]


def numeric_drift(
    reference: NumericReference, current: np.ndarray, settings: MonitorSettings
) -> list[FeatureDrift]:
    """Per column of `current` [rows, features]: PSI on the reference's bins and KS."""
    counts = bin_counts(current, reference.edges)
    psis = psi(reference.counts, counts)
    ref_shares = reference.counts / reference.counts.sum(axis=1, keepdims=True)
    cur_shares = counts / max(current.shape[0], 1)
    ks = ks_statistic(reference.columns, current)
    pvalues = ks_pvalue(ks, reference.sample.shape[0], current.shape[0])
    found = []
    for column, name in enumerate(reference.layout.names):
        score, p = float(psis[column]), float(pvalues[column])
        alert = score >= settings.psi_threshold
        method = PSI
        if settings.ks_pvalue > 0 and p < settings.ks_pvalue:
            alert, method = True, KS
        found.append(
            FeatureDrift(
                reference.layout.tensor,
                name,
                reference.layout.kind,
                {PSI: score, KS: float(ks[column])},
                {KS: p},
                alert,
                method,
                current.shape[0],
                plot={
                    "edges": _finite(reference.edges[column]),
                    "reference": _rounded(ref_shares[column]),
                    "current": _rounded(cur_shares[column]),
                },
            )
        )
    return found


def _finite(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values.tolist()]


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]


def categorical_drift(
    reference: CategoricalReference, current: np.ndarray, settings: MonitorSettings
) -> list[FeatureDrift]:
    """Per column: Jensen–Shannon distance and chi-square over the union of categories."""
    found = []
    for column, name in enumerate(reference.layout.names):
        table = reference.tables[column]
        seen = count_categories(current[:, column])
        categories = sorted(set(table) | set(seen))
        ref_counts = np.array([table.get(c, 0) for c in categories], dtype=np.float64)
        cur_counts = np.array([seen.get(c, 0) for c in categories], dtype=np.float64)
        distance = jensen_shannon(ref_counts, cur_counts)
        statistic, p = chi_square(ref_counts / max(ref_counts.sum(), 1.0), cur_counts)
        new = tuple(c for c in categories if c not in table)[:10]
        found.append(
            FeatureDrift(
                reference.layout.tensor,
                name,
                reference.layout.kind,
                {JENSEN_SHANNON: distance, CHI_SQUARE: statistic},
                {CHI_SQUARE: p},
                distance >= settings.js_threshold,
                JENSEN_SHANNON,
                current.shape[0],
                new,
                plot=_category_plot(categories, ref_counts, cur_counts),
            )
        )
    return found


def _category_plot(
    categories: list[str], reference: np.ndarray, current: np.ndarray
) -> dict[str, list[Any]]:
    ref = reference / max(reference.sum(), 1.0)
    cur = current / max(current.sum(), 1.0)
    top = np.argsort(-(ref + cur), kind="stable")[:MAX_PLOTTED_CATEGORIES]
    return {
        "categories": [categories[i] for i in top],
        "reference": _rounded(ref[top]),
        "current": _rounded(cur[top]),
    }


def verdict(features: list[FeatureDrift], inputs: set[str], settings: MonitorSettings) -> Verdict:
    """The model drifts when at least settings.drift_share of its input features drift."""
    watched = [f for f in features if f.tensor in inputs]
    share = sum(f.alert for f in watched) / len(watched) if watched else 0.0
    return Verdict(features, share, bool(watched) and share >= settings.drift_share)
