"""What monitoring does for one model: a typed, validated MonitorSettings.

Defaults come from the server (`naiad serve --monitor ...`); a model's `monitor.toml`, next to
its config.pbtxt, overrides them field by field. Every field is a top-level key of the file:

    sample_ratio = 0.5
    window_rows = 1000
    categorical = ["COLOR"]
    [features]
    INPUT0 = ["age", "income", "score"]
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from naiad.errors import InvalidArgument

SETTINGS_FILE = "monitor.toml"
PROFILE_FILE = "monitor_profile.npz"


@dataclass(frozen=True)
class MonitorSettings:
    """One model's monitoring. Thresholds default to what Evidently and NannyML users know."""

    enabled: bool = True
    sample_ratio: float = 1.0
    """Share (0..1) of requests whose tensors the monitor reads."""
    max_samples_per_s: float = 100.0
    """Cap on sampled requests per second under heavy traffic (0: no cap); the ratio actually
    sampled is exported as naiad_monitor_sampled_ratio, the cap itself as
    naiad_monitor_max_samples_per_s_setting. At 100 a second (one-row requests) a fresh
    500-row window fills every 5 s, as often as drift is evaluated (min_evaluate_interval_s),
    so a higher cap buys no fresher verdict; it only makes the window span less time and
    costs the worker more. A bootstrap reference of 1000 rows takes 10 s. Lower it for a
    cheaper monitor with slower windows; 0 reads every request."""
    reference_rows: int = 1000
    """Without a profile (monitor_profile.npz), the first rows a version answers become its
    reference."""
    max_reference_rows: int = 10000
    """Rows a profile keeps (a uniform subsample beyond): KS and quantiles are exact up to it."""
    window_rows: int = 500
    """Rows in the sliding window compared with the reference."""
    window_s: float = 0.0
    """Also drop rows older than this from the window (0: by count only)."""
    evaluate_every_rows: int = 250
    """Drift is recomputed each time this many new rows entered a full window..."""
    min_evaluate_interval_s: float = 5.0
    """...and at most once in this many seconds (a third of Prometheus' default scrape
    interval), so that its cost (about 12 ms of CPU for a 64-feature model) stays bounded
    however heavy the sampled traffic."""
    bins: int = 10
    """Quantile bins of PSI."""
    psi_threshold: float = 0.2
    """A numeric feature drifts at PSI >= this (0.1 moderate, 0.2 significant, NannyML's)."""
    ks_pvalue: float = 0.0
    """Also alert when KS's p-value falls below this (0: KS only reported; Evidently's
    small-data default is 0.05, which over many features alerts often by chance)."""
    js_threshold: float = 0.1
    """A categorical feature drifts at Jensen–Shannon distance >= this (Evidently's)."""
    drift_share: float = 0.5
    """The model drifts when at least this share of its input features drift (Evidently's)."""
    max_features: int = 128
    """A wider tensor is watched by per-row summaries (mean, std, min, max) instead."""
    categorical: tuple[str, ...] = ()
    """Numeric inputs to treat as categories (BYTES and BOOL always are)."""
    features: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Feature names per tensor (default: column numbers, or a profile's names)."""
    confidence: str = "auto"
    """auto: outputs whose rows are probability vectors; logits: softmax first; off."""
    capture_below_confidence: float = 0.5
    """Captured samples: answers whose confidence is below this (0: none)."""
    capture_outliers: bool = True
    """Captured samples: rows with a value beyond 3 interquartile ranges of the reference."""
    capture_share: float = 0.0
    """Captured samples: this share (0..1) of sampled requests, whatever they hold."""
    max_captures_per_s: float = 20.0
    """Captured samples written per second, at most (0: no cap): an uncertain model would
    otherwise have nearly every sampled request written out."""
    max_sink_bytes: int = 64 * 2**20
    """The captured-sample files of a model together never exceed this."""
    max_sink_file_bytes: int = 8 * 2**20
    """One sink file is closed and a new one started before passing this."""
    label_window: int = 500
    """Labelled answers in the accuracy / error window."""
    max_accuracy_drop: float = 0.1
    """Accuracy alert when windowed accuracy falls this far below the first full window's."""
    min_accuracy: float = 0.0
    """Accuracy alert below this, whatever the baseline (0: off)."""
    max_pending_labels: int = 100000
    """Sampled answers kept waiting for a label (oldest forgotten first)."""
    alert_command: str = ""
    """Run (through the shell) when a drift or accuracy alert starts; the alert as JSON on
    stdin and in NAIAD_ALERT."""
    alert_webhook: str = ""
    """POSTed the alert as JSON when it starts."""

    def __post_init__(self) -> None:
        for name in ("sample_ratio", "capture_share", "drift_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidArgument(f"monitor setting {name} must be within 0..1, not {value}")
        for name in ("reference_rows", "window_rows", "evaluate_every_rows", "label_window"):
            if getattr(self, name) < 1:
                raise InvalidArgument(f"monitor setting {name} must be at least 1")
        if self.max_reference_rows < 2:
            raise InvalidArgument("monitor setting max_reference_rows must be at least 2")
        if not 2 <= self.bins <= 100:
            raise InvalidArgument("monitor setting bins must be within 2..100")
        if self.confidence not in ("auto", "logits", "off"):
            raise InvalidArgument("monitor setting confidence is auto, logits or off")
        if self.max_sink_file_bytes > self.max_sink_bytes or self.max_sink_file_bytes < 1024:
            raise InvalidArgument("monitor setting max_sink_file_bytes: 1 KiB..max_sink_bytes")
        negative = [
            n
            for n in (
                "max_samples_per_s",
                "window_s",
                "psi_threshold",
                "js_threshold",
                "min_evaluate_interval_s",
                "max_captures_per_s",
            )
            if getattr(self, n) < 0
        ]
        if negative:
            raise InvalidArgument(f"monitor setting {negative[0]} must not be negative")

    def with_values(self, values: dict[str, Any], source: str) -> MonitorSettings:
        """These settings overridden by `values` (a monitor.toml's table); InvalidArgument
        naming `source` for an unknown key or a value of the wrong type."""
        known = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for key, value in values.items():
            if key not in known:
                raise InvalidArgument(f"{source}: unknown monitor setting '{key}'")
            current = getattr(self, key)
            if key == "features":
                if not isinstance(value, dict) or not all(
                    isinstance(v, list) and all(isinstance(s, str) for s in v)
                    for v in value.values()
                ):
                    raise InvalidArgument(f"{source}: [features] maps tensors to name lists")
                value = {k: tuple(v) for k, v in value.items()}
            elif key == "categorical":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise InvalidArgument(f"{source}: categorical is a list of tensor names")
                value = tuple(value)
            elif isinstance(current, bool):
                if not isinstance(value, bool):
                    raise InvalidArgument(f"{source}: {key} is true or false")
            elif isinstance(current, float) and isinstance(value, int | float):
                value = float(value)
            elif not isinstance(value, type(current)) or isinstance(value, bool):
                kind = type(current).__name__
                raise InvalidArgument(f"{source}: {key} must be a {kind}, not {value!r}")
            changes[key] = value
        return dataclasses.replace(self, **changes)


def read_settings(model_dir: Path, defaults: MonitorSettings | None) -> MonitorSettings | None:
    """The model's settings: `defaults` overridden by its monitor.toml; None when the model is
    not monitored (no file and no server-wide defaults). InvalidArgument for a bad file."""
    path = model_dir / SETTINGS_FILE
    if not path.is_file():
        return defaults
    try:
        values = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidArgument(f"{path}: {exc}") from exc
    settings = (defaults or MonitorSettings()).with_values(values, str(path))
    return settings if settings.enabled else None
