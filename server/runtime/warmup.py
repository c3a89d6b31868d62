"""model_warmup: input tensors for each warm-up sample, and running them on an instance."""

from __future__ import annotations

import logging
import struct
import time
from pathlib import Path

import numpy as np

from naiad import datatypes
from naiad.config.settings import ModelSettings, WarmupSample
from naiad.errors import ModelLoadError, NaiadError
from naiad.runtime.model import Model

_SEED = 0

log = logging.getLogger("naiad.runtime")


def warmup_inputs(sample: WarmupSample, settings: ModelSettings) -> dict[str, np.ndarray]:
    """The sample's inputs as arrays, with the batch dimension (sample.batch_size) first when
    the model batches, and the input's config `reshape` applied.

    zero: zeros (empty strings for BYTES); random: uniform values (seeded, so runs repeat);
    file: the file's raw bytes, as Triton's input_data_file (BYTES: 4-byte little-endian length
    then the bytes, per element). A relative file path is looked up in `<model dir>/warmup/`.
    """
    arrays = {}
    for name, (wire, dims, source, file) in sample.inputs.items():
        where = f"model '{settings.name}' warm-up sample '{sample.name}' input '{name}'"
        spec = settings.input(name)
        if spec is None:
            raise ModelLoadError(f"{where}: the model has no such input")
        if any(d < 0 for d in dims):
            raise ModelLoadError(f"{where}: dims {list(dims)} must all be fixed")
        try:
            dtype = datatypes.from_wire(wire)
        except NaiadError as exc:
            raise ModelLoadError(f"{where}: {exc.message}") from None
        shape = tuple(dims)
        if settings.batches:
            shape = (sample.batch_size, *shape)
        if source == "zero":
            arrays[name] = _zeros(dtype, shape)
        elif source == "random":
            arrays[name] = _random(dtype, shape, np.random.default_rng(_SEED))
        elif source == "file":
            arrays[name] = _from_file(dtype, shape, _locate(file, settings), where)
        else:
            raise ModelLoadError(f"{where}: unknown data source '{source}'")
        if spec.reshape is not None:
            # The model sees config `reshape`, as it does for requests.
            batch = shape[:1] if settings.batches else ()
            try:
                arrays[name] = arrays[name].reshape(*batch, *spec.reshape)
            except ValueError:
                raise ModelLoadError(
                    f"{where}: dims {list(dims)} do not fit reshape {list(spec.reshape)}"
                ) from None
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


def run_cost_ns(model: Model, settings: ModelSettings, runs: int = 15) -> int | None:
    """Median time of one run at batch 1 on zero inputs (variable dims as 1), or None when
    the model cannot run such an input."""
    inputs = {
        spec.name: (spec.datatype.wire, tuple(max(d, 1) for d in spec.dims), "zero", "")
        for spec in settings.inputs
        if not spec.optional
    }
    sample = WarmupSample(name="cost probe", batch_size=1, inputs=inputs)
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


def _locate(file: str, settings: ModelSettings) -> Path:
    path = Path(file)
    if path.is_absolute():
        return path
    # <repo>/<model>/<version>/model.onnx -> <repo>/<model>/warmup/<file>
    return Path(settings.model_path).parent.parent / "warmup" / path


def _from_file(
    dtype: datatypes.DataType, shape: tuple[int, ...], path: Path, where: str
) -> np.ndarray:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{where}: cannot read input_data_file: {exc}") from None
    count = int(np.prod(shape))
    if dtype.wire == "BYTES":
        return np.array(_split_bytes(data, count, where), dtype=object).reshape(shape)
    expected = count * dtype.itemsize
    if len(data) != expected:
        raise ModelLoadError(
            f"{where}: {path} has {len(data)} bytes, shape {list(shape)} of {dtype.wire} "
            f"needs {expected}"
        )
    return np.frombuffer(data, dtype=dtype.numpy).reshape(shape).copy()


def _split_bytes(data: bytes, count: int, where: str) -> list[bytes]:
    items, offset = [], 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise ModelLoadError(f"{where}: truncated BYTES element length in input_data_file")
        (size,) = struct.unpack_from("<I", data, offset)
        offset += 4
        items.append(data[offset : offset + size])
        offset += size
    if offset != len(data) or len(items) != count:
        raise ModelLoadError(
            f"{where}: input_data_file holds {len(items)} BYTES element(s), {count} expected"
        )
    return items
