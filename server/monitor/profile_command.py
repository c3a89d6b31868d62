"""`naiad profile MODEL_DIR --data FILE`: a reference profile of training data, written next to
the model's versions (monitor_profile.npz), which the server then compares live traffic with.

The model runs in-process on the data (Engine over the model's repository, no server), so
that the profile holds its outputs, predicted classes and confidence as well as the inputs;
--inputs-only skips that, and the server then takes each version's first answers as the
outputs' reference.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path

import numpy as np

from naiad.config.problems import type_name
from naiad.datatypes import from_config
from naiad.engine.context import INTERNAL
from naiad.engine.engine import Engine
from naiad.engine.loader import load_served_model
from naiad.engine.request import InferInput, InferRequest
from naiad.errors import InvalidArgument, NaiadError
from naiad.monitor.datafiles import read_data
from naiad.monitor.profiling import build_profile
from naiad.monitor.reference import save_profile
from naiad.monitor.settings import PROFILE_FILE, MonitorSettings, read_settings
from naiad.repository.manager import ModelRepository
from naiad_protocol.model_config_pb2 import ModelConfig

DESCRIPTION = """Profile training data for drift monitoring.

  naiad profile models/fraud --data train.parquet
  naiad profile models/fraud --data train.npz --version 3 --out /tmp/profile.npz

Reads the data (npz keyed by input name, npy, csv with a header, parquet), runs the model on
it, and writes monitor_profile.npz into MODEL_DIR: per feature a quantile sketch (numeric) or
a frequency table (categorical), for inputs and outputs. The model's monitor.toml, if any,
supplies feature names, categorical inputs and the reference size.
"""

_BATCH_ROWS = 256


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", help="the model's directory in the repository")
    parser.add_argument("--data", required=True, help=".npz, .npy, .csv or .parquet")
    parser.add_argument("--out", default=None, help=f"default: MODEL_DIR/{PROFILE_FILE}")
    parser.add_argument("--version", default="", help="the version to run (default: latest)")
    parser.add_argument(
        "--inputs-only", action="store_true", help="profile the inputs without running the model"
    )


def run(args: argparse.Namespace) -> int:
    try:
        path, summary = asyncio.run(profile(Path(args.model_dir), Path(args.data), args))
    except NaiadError as exc:
        print(f"naiad profile: {exc.message}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    for line in summary:
        print(f"  {line}")
    return 0


async def profile(model_dir: Path, data: Path, args: argparse.Namespace) -> tuple[Path, list[str]]:
    """Writes the profile; returns its path and one summary line per tensor."""
    settings = read_settings(model_dir, MonitorSettings()) or MonitorSettings()
    repository = ModelRepository(
        str(model_dir.parent), factory=load_served_model, control_mode="explicit"
    )
    await asyncio.to_thread(repository.start)
    try:
        engine = Engine(repository)
        await engine.load(model_dir.name, None, {}, INTERNAL)
        config = engine.config(model_dir.name, args.version, INTERNAL)
        inputs, names = read_data(data, [i.name for i in config.input])
        inputs = _typed(inputs, config)
        outputs: dict[str, np.ndarray] = {}
        if not args.inputs_only:
            outputs = await _answers(engine, model_dir.name, args.version, inputs, config)
    finally:
        await asyncio.to_thread(repository.stop)
    features = {**names, **settings.features}
    settings = dataclasses.replace(settings, features=features)
    rows = next(iter(inputs.values())).shape[0]
    source = f"{data.name}: {rows} rows" + ("" if args.inputs_only else " and the model's answers")
    found = build_profile(inputs, outputs, settings, source)
    out = Path(args.out) if args.out else model_dir / PROFILE_FILE
    save_profile(found, out)
    summary = [
        f"{name}: {ref.layout.kind}, {len(ref.layout.names)} feature(s)"
        for name, ref in found.tensors.items()
    ]
    return out, summary


def _typed(inputs: dict[str, np.ndarray], config: ModelConfig) -> dict[str, np.ndarray]:
    typed = {}
    for spec in config.input:
        dtype = from_config(type_name(spec.data_type))
        value = inputs[spec.name]
        shape = (value.shape[0], *spec.dims) if spec.dims and -1 not in spec.dims else value.shape
        try:
            typed[spec.name] = value.astype(dtype.numpy).reshape(shape)
        except (ValueError, TypeError) as exc:
            raise InvalidArgument(
                f"input '{spec.name}' does not fit {list(spec.dims)}: {exc}"
            ) from None
    return typed


async def _answers(
    engine: Engine, name: str, version: str, inputs: dict[str, np.ndarray], config: ModelConfig
) -> dict[str, np.ndarray]:
    rows = next(iter(inputs.values())).shape[0]
    step = max(1, min(config.max_batch_size, _BATCH_ROWS)) if config.max_batch_size else 1
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, rows, step):
        tensors = []
        for spec in config.input:
            dtype = from_config(type_name(spec.data_type))
            value = inputs[spec.name][start : start + step]
            if not config.max_batch_size:
                value = value[0]
            tensors.append(InferInput(spec.name, dtype, tuple(value.shape), value))
        request = InferRequest(name, version, f"profile-{start}", tensors)
        answer = await engine.submit(request, INTERNAL)
        for output in answer.outputs:
            data = output.data if config.max_batch_size else output.data[None, ...]
            parts.setdefault(output.name, []).append(data)
    return {k: np.concatenate(v, axis=0) for k, v in parts.items()}
