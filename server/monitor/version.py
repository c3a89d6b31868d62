"""One model version's monitor: layouts, references, windows, confidence and the last verdict.

Fed by the book's worker thread, one sampled request at a time (`observe`), and read by
reports and /metrics (`snapshot`, `evaluate`); a lock keeps the two apart. A tensor whose
reference the profile lacks takes its first `reference_rows` rows as the reference.
Distribution-like outputs (or logits, when the settings say so) add two derived tensors:
`<output>.confidence` (numeric: the top class's probability) and `<output>.class`
(categorical: the top class), so that confidence drift and prediction drift are features too.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np

from naiad.monitor.drift import Verdict, categorical_drift, numeric_drift, verdict
from naiad.monitor.features import CATEGORICAL, NUMERIC, TensorLayout, layout_for, rows_of
from naiad.monitor.reference import (
    CategoricalReference,
    NumericReference,
    Profile,
    TensorReference,
    categorical_reference,
    numeric_reference,
    subsample,
)
from naiad.monitor.settings import MonitorSettings
from naiad.monitor.statistics import (
    is_distribution,
    max_probability,
    normalised_entropy,
    softmax,
)
from naiad.monitor.window import Window
from naiad.rollout.stats import Histogram

CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
_MIN_TIMED_ROWS = 30


@dataclass
class Sample:
    """One sampled request as the monitor reads it (arrays are the request's own)."""

    model: str
    version: str
    id: str
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    batched: bool
    time_s: float


@dataclass
class Observation:
    """What one sample showed: why to capture it, and what the model predicted per row."""

    reasons: list[str] = field(default_factory=list)
    predictions: list[float | int] | None = None
    confidence: list[float] | None = None


@dataclass
class ConfidenceStats:
    histogram: Histogram = field(default_factory=lambda: Histogram(CONFIDENCE_BUCKETS))
    entropy_total: float = 0.0


class VersionMonitor:
    def __init__(
        self,
        model: str,
        version: str,
        settings: MonitorSettings,
        profile: Profile | None,
        input_names: set[str],
    ) -> None:
        self.model = model
        self.version = version
        self.settings = settings
        self.inputs = input_names
        self.references: dict[str, TensorReference] = dict(profile.tensors) if profile else {}
        self.sources = {name: profile.source for name in self.references} if profile else {}
        self.layouts: dict[str, TensorLayout] = {
            name: ref.layout for name, ref in self.references.items()
        }
        self.windows: dict[str, Window] = {}
        self.confidence: dict[str, ConfidenceStats] = {}
        self.num_samples = 0
        self.num_rows = 0
        self.num_skipped = 0
        """Sampled tensors whose shape no longer fit their layout."""
        self.last = Verdict()
        self.last_time_s = -math.inf
        self._bootstrap: dict[str, list[np.ndarray]] = {}
        self._since_evaluation = 0
        self.lock = threading.Lock()

    def observe(self, samples: list[Sample], draws: list[float]) -> list[Observation]:
        """Adds samples of this version to the windows (or the bootstrap reference), all of
        their rows at once; re-evaluates drift every evaluate_every_rows. `draws` (0..1, one
        per sample) decide the capture_share. One Observation per sample, in order."""
        settings = self.settings
        seen = [Observation() for _ in samples]
        now_s = samples[-1].time_s
        with self.lock:
            self.num_samples += len(samples)
            tables, owners = self._tables(samples, seen)
            outliers = np.zeros(len(samples), dtype=bool)
            for name, rows in tables.items():
                owner = owners[name]
                reference = self.references.get(name)
                if reference is None:
                    # The reference takes exactly its rows; what is left of these samples is
                    # the window's, however the worker happened to group them.
                    rows = self._grow_reference(name, rows)
                    owner = owner[owner.shape[0] - rows.shape[0] :]
                    reference = self.references.get(name)
                    if reference is None or rows.shape[0] == 0:
                        continue
                window = self.windows.get(name)
                if window is None:
                    dtype = object if reference.layout.kind == CATEGORICAL else np.float64
                    window = Window(rows.shape[1], settings.window_rows, dtype)
                    self.windows[name] = window
                window.add(rows, now_s)
                if settings.capture_outliers and isinstance(reference, NumericReference):
                    beyond = ((rows < reference.low) | (rows > reference.high)).any(axis=1)
                    outliers[owner[beyond]] = True
            if tables:
                num_rows = next(iter(tables.values())).shape[0]
                self.num_rows += num_rows
                self._since_evaluation += num_rows
            due = now_s - self.last_time_s >= settings.min_evaluate_interval_s
            if self._since_evaluation >= settings.evaluate_every_rows and due:
                self._evaluate(now_s)
        floor = settings.capture_below_confidence
        for one, outlier, draw in zip(seen, outliers.tolist(), draws, strict=True):
            if one.confidence is not None and floor > 0 and min(one.confidence) < floor:
                one.reasons.append("low_confidence")
            if outlier:
                one.reasons.append("outlier")
            if draw < settings.capture_share:
                one.reasons.append("share")
        return seen

    def evaluate(self, now_s: float) -> Verdict:
        """Drift of every tensor with a reference and a full window, now."""
        with self.lock:
            return self._evaluate(now_s)

    def _evaluate(self, now_s: float) -> Verdict:
        settings = self.settings
        found = []
        for name, window in self.windows.items():
            rows = window.rows(now_s, settings.window_s)
            needed = _MIN_TIMED_ROWS if settings.window_s > 0 else settings.window_rows
            if rows.shape[0] < min(needed, settings.window_rows):
                continue
            reference = self.references[name]
            if isinstance(reference, NumericReference):
                found.extend(numeric_drift(reference, rows, settings))
            else:
                found.extend(categorical_drift(reference, rows, settings))
        self.last = verdict(found, self.inputs, settings)
        self.last_time_s = now_s
        self._since_evaluation = 0
        return self.last

    def _tables(
        self, samples: list[Sample], seen: list[Observation]
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Every tensor's rows of all samples stacked, and per row the sample it came from."""
        parts: dict[str, list[np.ndarray]] = {}
        counts: dict[str, list[tuple[int, int]]] = {}
        outputs: dict[str, None] = {}
        for number, sample in enumerate(samples):
            outputs.update(dict.fromkeys(sample.outputs))
            for group in (sample.inputs, sample.outputs):
                for name, data in group.items():
                    layout = self.layouts.get(name)
                    if layout is None:
                        layout = layout_for(
                            name,
                            data,
                            sample.batched,
                            name in self.settings.categorical,
                            self.settings.max_features,
                            self.settings.features.get(name, ()),
                        )
                        self.layouts[name] = layout
                    rows = rows_of(layout, data, sample.batched)
                    if rows is None:
                        self.num_skipped += 1
                        continue
                    parts.setdefault(name, []).append(rows)
                    counts.setdefault(name, []).append((number, rows.shape[0]))
        tables = {n: p[0] if len(p) == 1 else np.concatenate(p, axis=0) for n, p in parts.items()}
        owners = {n: np.repeat([i for i, _ in c], [k for _, k in c]) for n, c in counts.items()}
        for name in outputs:
            rows = tables.get(name)
            if rows is not None and self.layouts[name].kind == NUMERIC:
                self._derive(name, rows, counts[name], tables, owners, seen)
        return tables, owners

    def _derive(
        self,
        name: str,
        rows: np.ndarray,
        counts: list[tuple[int, int]],
        tables: dict[str, np.ndarray],
        owners: dict[str, np.ndarray],
        seen: list[Observation],
    ) -> None:
        mode = self.settings.confidence
        if mode == "off" or self.layouts[name].summarised or rows.shape[1] < 2:
            if rows.shape[1] >= 1:
                _per_sample(seen, counts, "predictions", rows[:, 0])  # a regression's answer
            return
        if mode == "logits":
            probabilities = softmax(rows)
        elif is_distribution(rows):
            probabilities = rows
        else:
            return
        top = max_probability(probabilities)
        classes = probabilities.argmax(axis=1)
        stats = self.confidence.setdefault(name, ConfidenceStats())
        _observe_all(stats.histogram, top)
        stats.entropy_total += float(normalised_entropy(probabilities).sum())
        for derived, values, kind, feature in (
            (f"{name}.confidence", top[:, None], NUMERIC, "max_probability"),
            (f"{name}.class", classes[:, None].astype(object), CATEGORICAL, "argmax"),
        ):
            self.layouts.setdefault(derived, TensorLayout(derived, kind, (feature,)))
            tables[derived] = values
            owners[derived] = owners[name]
        _per_sample(seen, counts, "predictions", classes)
        _per_sample(seen, counts, "confidence", top)

    def _grow_reference(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Adds `rows` to the bootstrap reference of `name`, building it once it holds
        reference_rows; returns the rows beyond those (empty while it is still growing)."""
        parts = self._bootstrap.setdefault(name, [])
        missing = self.settings.reference_rows - sum(p.shape[0] for p in parts)
        parts.append(rows[:missing])
        rest = rows[missing:]
        total = sum(p.shape[0] for p in parts)
        if total < self.settings.reference_rows:
            return rest
        values = subsample(np.concatenate(parts, axis=0), self.settings.max_reference_rows)
        layout = self.layouts[name]
        if layout.kind == NUMERIC:
            ref: TensorReference = numeric_reference(layout, values, self.settings.bins)
        else:
            ref = categorical_reference(layout, values)
        self.references[name] = ref
        self.sources[name] = f"first {total} rows served"
        del self._bootstrap[name]
        return rest

    def profile(self, source: str) -> Profile:
        """The references built so far, as a profile (what `naiad profile` saves)."""
        with self.lock:
            return Profile(dict(self.references), source, self.num_rows)

    def reference_rows(self, name: str) -> int:
        ref = self.references.get(name)
        if isinstance(ref, NumericReference):
            return int(ref.sample.shape[0])
        if isinstance(ref, CategoricalReference):
            return sum(ref.tables[0].values()) if ref.tables else 0
        return sum(p.shape[0] for p in self._bootstrap.get(name, []))


def _observe_all(histogram: Histogram, values: np.ndarray) -> None:
    # Histogram.observe's buckets (bisect_left) for a whole batch at once.
    index = np.searchsorted(np.asarray(histogram.bounds), values, side="left")
    added = np.bincount(index, minlength=len(histogram.counts))
    histogram.counts = [c + int(a) for c, a in zip(histogram.counts, added.tolist(), strict=True)]
    histogram.num += int(values.shape[0])
    histogram.total += float(values[np.isfinite(values)].sum())


def _per_sample(
    seen: list[Observation], counts: list[tuple[int, int]], field_name: str, values: np.ndarray
) -> None:
    # The first output that gives predictions (or confidence) is the one labels score.
    start = 0
    for number, count in counts:
        if getattr(seen[number], field_name) is None:
            setattr(seen[number], field_name, values[start : start + count].tolist())
        start += count
