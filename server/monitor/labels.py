"""Ground truth: labels that arrive after the answer, matched to it by request id.

A model's LabelBook keeps the predictions of its sampled answers (`expect`) until a label
comes (`label`) and then scores it: accuracy for classification (the prediction is a class
index), mean absolute and root mean square error for regression. Per version it keeps a
window of the last `label_window` scored rows and the first full window's figure as the
baseline; an accuracy alert is on while the window is that much worse (settings).

Both survive a restart: pending predictions are appended to pending.jsonl and scored labels to
labels.jsonl in the model's state directory, and read back at construction; each file is
rewritten compactly when it grows past a few times what it needs to hold.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from naiad.monitor.settings import MonitorSettings

CLASSIFICATION = "classification"
REGRESSION = "regression"
_COMPACT_FACTOR = 4


@dataclass
class Scores:
    """One version's scored rows: 1.0/0.0 (correct) or the error, newest last."""

    kind: str
    window: deque[float]
    squares: deque[float]
    baseline: float | None = None
    num_scored: int = 0

    def value(self) -> float | None:
        if not self.window:
            return None
        return sum(self.window) / len(self.window)

    def rmse(self) -> float | None:
        if not self.squares:
            return None
        return math.sqrt(sum(self.squares) / len(self.squares))

    def full(self) -> bool:
        return len(self.window) == self.window.maxlen


@dataclass
class Outcome:
    matched: int = 0
    unmatched: int = 0
    invalid: int = 0
    errors: list[str] = field(default_factory=list)
    scored: list[tuple[str, str, Any]] = field(default_factory=list)
    """(id, version, label) of each matched label."""


class LabelBook:
    """One model's pending predictions and per-version scores; the worker thread and the
    admin endpoint both call it, under the book's lock."""

    def __init__(self, settings: MonitorSettings, state_dir: Path | None) -> None:
        self.settings = settings
        self._dir = state_dir
        self.pending: OrderedDict[str, tuple[str, list[float | int]]] = OrderedDict()
        self.scores: dict[str, Scores] = {}
        self._pending_lines = 0
        self._label_lines = 0
        if state_dir is not None:
            state_dir.mkdir(parents=True, exist_ok=True)
            self._replay()

    def expect_many(self, answers: list[tuple[str, str, list[float | int]]]) -> None:
        """Remembers each (request id, version, per-row predictions) until its label comes;
        answers without an id cannot be labelled and are skipped."""
        kept = [(i, v, p) for i, v, p in answers if i]
        if not kept:
            return
        for request_id, version, predictions in kept:
            self._remember(request_id, version, predictions)
        self._append("pending.jsonl", [{"id": i, "v": v, "p": p} for i, v, p in kept])
        self._pending_lines += len(kept)
        if self._pending_lines > _COMPACT_FACTOR * self.settings.max_pending_labels:
            self._rewrite_pending()

    def label(self, items: list[tuple[str, Any]]) -> Outcome:
        """Scores each (request id, label); a label is a number or one number per row."""
        outcome = Outcome()
        written: list[dict[str, Any]] = []
        for request_id, label in items:
            found = self.pending.get(request_id)
            if found is None:
                outcome.unmatched += 1
                continue
            version, predictions = found
            problem = self._score(version, predictions, label)
            if problem is not None:
                outcome.invalid += 1
                if len(outcome.errors) < 10:
                    outcome.errors.append(f"id {request_id!r}: {problem}")
                continue
            del self.pending[request_id]
            outcome.matched += 1
            outcome.scored.append((request_id, version, label))
            written.append({"id": request_id, "v": version, "p": predictions, "l": label})
        self._append("labels.jsonl", written)
        self._label_lines += len(written)
        if self._label_lines > _COMPACT_FACTOR * self.settings.label_window * max(
            1, len(self.scores)
        ):
            self._rewrite_labels()
        return outcome

    def alert(self, version: str) -> str | None:
        """Why the version's accuracy alerts now, or None."""
        scores = self.scores.get(version)
        if scores is None or not scores.full() or scores.baseline is None:
            return None
        value = scores.value()
        assert value is not None
        drop = self.settings.max_accuracy_drop
        if scores.kind == CLASSIFICATION:
            if self.settings.min_accuracy > 0 and value < self.settings.min_accuracy:
                return f"accuracy {value:.3f} below {self.settings.min_accuracy}"
            if drop > 0 and value < scores.baseline - drop:
                return f"accuracy {value:.3f} fell more than {drop} below {scores.baseline:.3f}"
            return None
        if drop > 0 and value > scores.baseline * (1.0 + drop) and value > 0:
            return f"mean absolute error {value:.4g} above {scores.baseline:.4g} by over {drop:.0%}"
        return None

    def _remember(self, request_id: str, version: str, predictions: list[float | int]) -> None:
        self.pending[request_id] = (version, predictions)
        self.pending.move_to_end(request_id)
        while len(self.pending) > self.settings.max_pending_labels:
            self.pending.popitem(last=False)

    def _score(self, version: str, predictions: list[float | int], label: Any) -> str | None:
        labels = label if isinstance(label, list) else [label]
        if len(labels) != len(predictions):
            return f"{len(labels)} labels for an answer of {len(predictions)} rows"
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in labels):
            return "a label is a number (a class index or a target value) or a list of them"
        kind = CLASSIFICATION if all(isinstance(p, int) for p in predictions) else REGRESSION
        scores = self.scores.get(version)
        if scores is None:
            size = self.settings.label_window
            scores = Scores(kind, deque(maxlen=size), deque(maxlen=size))
            self.scores[version] = scores
        for predicted, truth in zip(predictions, labels, strict=True):
            if kind == CLASSIFICATION:
                scores.window.append(1.0 if int(truth) == predicted else 0.0)
            else:
                error = abs(float(truth) - float(predicted))
                scores.window.append(error)
                scores.squares.append(error * error)
            scores.num_scored += 1
            if scores.baseline is None and scores.full():
                scores.baseline = scores.value()
        return None

    def _replay(self) -> None:
        labelled: set[str] = set()
        for record in self._read("labels.jsonl"):
            if record.get("baseline") is not None:
                size = self.settings.label_window
                kind = str(record["kind"])
                scores = Scores(kind, deque(maxlen=size), deque(maxlen=size), record["baseline"])
                self.scores[str(record["v"])] = scores
            elif "l" in record:
                self._score(str(record["v"]), record["p"], record["l"])
                labelled.add(str(record.get("id")))
                self._label_lines += 1
        for record in self._read("pending.jsonl"):
            if "p" in record and str(record["id"]) not in labelled:
                self._remember(str(record["id"]), str(record["v"]), record["p"])
                self._pending_lines += 1

    def _rewrite_pending(self) -> None:
        lines = [{"id": i, "v": v, "p": p} for i, (v, p) in self.pending.items()]
        self._rewrite("pending.jsonl", lines)
        self._pending_lines = len(lines)

    def _rewrite_labels(self) -> None:
        # Keep each version's baseline, then its window as scored rows would rebuild it.
        lines: list[dict[str, Any]] = []
        tail = self._read("labels.jsonl")
        for version, scores in self.scores.items():
            lines.append({"v": version, "kind": scores.kind, "baseline": scores.baseline})
        keep = self.settings.label_window * max(1, len(self.scores))
        lines.extend(r for r in tail[-keep:] if "l" in r)
        self._rewrite("labels.jsonl", lines)
        self._label_lines = len(lines)

    def _append(self, name: str, records: list[dict[str, Any]]) -> None:
        if self._dir is None or not records:
            return
        with open(self._dir / name, "a", encoding="utf-8") as file:
            file.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))

    def _rewrite(self, name: str, records: list[dict[str, Any]]) -> None:
        if self._dir is None:
            return
        temporary = self._dir / (name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as file:
            for record in records:
                file.write(json.dumps(record, separators=(",", ":")) + "\n")
        temporary.replace(self._dir / name)

    def _read(self, name: str) -> list[dict[str, Any]]:
        if self._dir is None or not (self._dir / name).is_file():
            return []
        records = []
        for line in (self._dir / name).read_text(encoding="utf-8").splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            if isinstance(value, dict):
                records.append(value)
        return records
