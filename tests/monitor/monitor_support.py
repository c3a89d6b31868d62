"""Shared pieces of the monitor tests: a model's config, a reference data set with known
distributions, a numpy stand-in for the model's answers, and a book fed in-process."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from naiad.monitor.book import MonitorBook
from naiad.monitor.profiling import build_profile
from naiad.monitor.reference import save_profile
from naiad.monitor.settings import PROFILE_FILE, MonitorSettings
from naiad.monitor.version import Sample
from naiad_protocol.model_config_pb2 import ModelConfig

NUM_FEATURES = 8
COLORS = np.array([b"red", b"green", b"blue"], dtype=object)
COLOR_SHARES = (0.5, 0.3, 0.2)
WEIGHTS = np.random.default_rng(99).normal(size=(NUM_FEATURES, 3))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def config(max_batch_size: int = 64) -> ModelConfig:
    found = ModelConfig(name="m", max_batch_size=max_batch_size)
    found.input.add(name="INPUT0", data_type=11, dims=[NUM_FEATURES])
    found.input.add(name="COLOR", data_type=13, dims=[1])
    found.output.add(name="OUTPUT0", data_type=11, dims=[3])
    return found


def data(rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Fresh rows of the reference distribution: INPUT0 ~ N(0, 1) per feature, COLOR in
    COLOR_SHARES."""
    return {
        "INPUT0": rng.normal(size=(rows, NUM_FEATURES)).astype(np.float32),
        "COLOR": rng.choice(COLORS, size=(rows, 1), p=COLOR_SHARES),
    }


def answers(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What the model answers: a softmax over three classes of a fixed linear map."""
    logits = inputs["INPUT0"].astype(np.float64) @ WEIGHTS
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return {"OUTPUT0": (e / e.sum(axis=1, keepdims=True)).astype(np.float32)}


def write_model_dir(
    root: Path, settings: str = "", reference_rows: int = 5000, seed: int = 0
) -> Path:
    """<root>/m with a monitor.toml holding `settings` and, when reference_rows, a profile.
    The clock stands still in these tests, so drift is evaluated by rows alone."""
    model_dir = root / "m"
    (model_dir / "1").mkdir(parents=True, exist_ok=True)
    still = "" if "min_evaluate_interval_s" in settings else "min_evaluate_interval_s = 0.0\n"
    (model_dir / "monitor.toml").write_text(still + settings)
    if reference_rows:
        inputs = data(reference_rows, np.random.default_rng(seed))
        profile = build_profile(inputs, answers(inputs), MonitorSettings(), "training data")
        save_profile(profile, model_dir / PROFILE_FILE)
    return model_dir


def book_for(
    root: Path, settings: str = "", reference_rows: int = 5000, clock: Clock | None = None
) -> MonitorBook:
    model_dir = write_model_dir(root, settings, reference_rows)
    book = MonitorBook(None, root / ".state", clock=clock or Clock())
    book.configure("m", model_dir, config())
    return book


def feed(
    book: MonitorBook,
    inputs: dict[str, np.ndarray],
    batch: int = 50,
    version: str = "1",
    first_id: int = 0,
) -> None:
    """Sends `inputs` through book.process in requests of `batch` rows, ids counting up."""
    rows = next(iter(inputs.values())).shape[0]
    for number, start in enumerate(range(0, rows, batch)):
        part = {k: v[start : start + batch] for k, v in inputs.items()}
        book.process(
            Sample("m", version, f"r{first_id + number}", part, answers(part), True, book.now())
        )
