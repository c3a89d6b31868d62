"""model_warmup: input tensors for each warm-up sample, and running them on an instance."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from naiad import datatypes
from naiad.config.settings import ModelSettings, WarmupInput, WarmupSample, WarmupSource
from naiad.errors import ModelLoadError
from naiad.runtime.model import Model
from naiad_protocol._wire import decode_bytes

_SEED = 0
DEFAULT_WARMUP_MAX_ROWS = 64
"""The default warm-up's largest batch: big enough to allocate for typical batches, small
enough to cost little memory on a model with a large max_batch_size."""

log = logging.getLogger("naiad.runtime")


def warmup_inputs(sample: WarmupSample, settings: ModelSettings) -> dict[str, np.ndarray]:
    """The sample's inputs as arrays, with the batch dimension (sample.batch_size) first when
    the model batches, and the input's config `reshape` applied.

    zero: zeros (empty strings for BYTES); random: uniform values (seeded, so runs repeat);
    file: the file's raw bytes, as Triton's input_data_file (BYTES: 4-byte little-endian length
    then the bytes, per element). The config pass checked the sample against the model; what
    can still fail is the data file, and that raises ModelLoadError naming the input.
    """
    arrays = {}
    for name, data in sample.inputs.items():
        batch = (sample.batch_size,) if settings.batches else ()
        where = f"model '{settings.name}' warm-up sample '{sample.name}' input '{name}'"
        array = _values(data, (*batch, *data.dims), where)
        spec = settings.input(name)
        if spec is not None and spec.reshape is not None:
            # The model sees config `reshape`, as it does for requests.
            array = array.reshape(*batch, *spec.reshape)
        arrays[name] = array
    return arrays


def run_warmup(model: Model, settings: ModelSettings) -> None:
    """Runs every warm-up sample `count` times on `model`; ModelLoadError names a failing one."""
    output_names = [o.name for o in settings.outputs]
    for sample in settings.warmup:
        inputs = warmup_inputs(sample, settings)
        for _ in range(sample.count):
            try:
                model.run(inputs, output_names)
            except Exception as exc:
                raise ModelLoadError(
                    f"model '{settings.name}' version {settings.version}: warm-up sample "
                    f"'{sample.name}' failed: {exc}"
                ) from exc
        log.info(
            "model '%s' version %d: warm-up '%s' ran %d time(s) on %s",
            settings.name,
            settings.version,
            sample.name,
            sample.count,
            model.description,
        )


def default_samples(settings: ModelSettings) -> list[WarmupSample]:
    """The warm-up of a model whose config has no model_warmup: two zero runs at batch 1 and
    two random runs at the largest batch (at most DEFAULT_WARMUP_MAX_ROWS rows), variable dims
    as 1. A new version then takes traffic with its allocations and kernels already made."""
    samples = [_generated("default warm-up (zero)", 1, WarmupSource.ZERO, settings, count=2)]
    rows = min(settings.max_batch_size, DEFAULT_WARMUP_MAX_ROWS)
    if settings.batches and rows > 1:
        samples.append(
            _generated("default warm-up (random)", rows, WarmupSource.RANDOM, settings, count=2)
        )
    return samples


def run_default_warmup(model: Model, settings: ModelSettings) -> bool:
    """Runs `default_samples` on `model`; False (logged, not raised) when the model cannot run
    generated inputs, since such a model needs model_warmup with real data to warm up."""
    output_names = [o.name for o in settings.outputs]
    for sample in default_samples(settings):
        try:
            arrays = warmup_inputs(sample, settings)
            for _ in range(sample.count):
                model.run(arrays, output_names)
        except Exception as exc:  # noqa: BLE001 - generated data may not suit every model
            log.info(
                "model '%s' version %d: %s skipped: %s",
                settings.name, settings.version, sample.name, exc,
            )  # fmt: skip
            return False
    return True


def run_cost_ns(model: Model, settings: ModelSettings, runs: int = 15) -> int | None:
    """Median time of one run at batch 1 on zero inputs (variable dims as 1), or None when
    the model cannot run such an input."""
    sample = _generated("cost probe", 1, WarmupSource.ZERO, settings)
    output_names = [o.name for o in settings.outputs]
    try:
        arrays = warmup_inputs(sample, settings)
        model.run(arrays, output_names)
        times = []
        for _ in range(runs):
            start = time.perf_counter_ns()
            model.run(arrays, output_names)
            times.append(time.perf_counter_ns() - start)
    except Exception:  # noqa: BLE001 - a model that needs real data is simply not probed
        return None
    return sorted(times)[len(times) // 2]


def _values(data: WarmupInput, shape: tuple[int, ...], where: str) -> np.ndarray:
    if data.source is WarmupSource.ZERO:
        return _zeros(data.datatype, shape)
    if data.source is WarmupSource.RANDOM:
        return _random(data.datatype, shape, np.random.default_rng(_SEED))
    assert data.path is not None  # the config pass gives every FILE input its path
    return _from_file(data.datatype, shape, data.path, where)


def _zeros(dtype: datatypes.DataType, shape: tuple[int, ...]) -> np.ndarray:
    if dtype.wire == "BYTES":
        return np.full(shape, b"", dtype=object)
    return np.zeros(shape, dtype=dtype.numpy)


def _random(
    dtype: datatypes.DataType, shape: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    if dtype.wire == "BYTES":
        digits = rng.integers(0, 10**6, size=shape)
        return np.vectorize(lambda v: str(v).encode(), otypes=[object])(digits)
    if dtype.wire == "BOOL":
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dtype.numpy.kind in "iu":
        # Small non-negative values: valid as indices for Gather-like ops in most models.
        return rng.integers(0, 8, size=shape).astype(dtype.numpy)
    return rng.random(size=shape).astype(dtype.numpy)


def _from_file(
    dtype: datatypes.DataType, shape: tuple[int, ...], path: Path, where: str
) -> np.ndarray:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{where}: cannot read input_data_file: {exc}") from None
    count = int(np.prod(shape))
    if dtype.wire == "BYTES":
        try:
            return decode_bytes(data, count).reshape(shape)
        except ValueError as exc:
            raise ModelLoadError(
                f"{where}: {path} does not hold {count} BYTES element(s): {exc}"
            ) from None
    expected = count * dtype.itemsize
    if len(data) != expected:
        raise ModelLoadError(
            f"{where}: {path} has {len(data)} bytes, shape {list(shape)} of {dtype.wire} "
            f"needs {expected}"
        )
    return np.frombuffer(data, dtype=dtype.numpy).reshape(shape).copy()


def _generated(
    name: str, rows: int, source: WarmupSource, settings: ModelSettings, count: int = 1
) -> WarmupSample:
    inputs = {
        spec.name: WarmupInput(spec.datatype, tuple(max(d, 1) for d in spec.dims), source)
        for spec in settings.inputs
        if not spec.optional
    }
    return WarmupSample(name=name, batch_size=rows, inputs=inputs, count=count)
