"""Writes an imported model as <repo>/<name>/<version>/model.onnx with a complete config.pbtxt.

The config is what naiad itself completes from the ONNX signature (named inputs and outputs,
dims), plus batching (max_batch_size and dynamic_batching) and a warm-up sample: the first
sample row when a sample is given (files under <model>/warmup/), else zeros. It is checked by
the same code `naiad serve` loads it with, before anything is written.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
from google.protobuf import text_format

from naiad.config.complete import complete_config
from naiad.config.convert import build_settings
from naiad.config.parse import CONFIG_FILENAME
from naiad.config.paths import ModelFiles
from naiad.config.signature import signature_of
from naiad.datatypes import BY_CONFIG
from naiad.errors import ModelLoadError
from naiad.importer.sources import ImportFailure
from naiad_protocol._wire import encode_bytes
from naiad_protocol.model_config_pb2 import DataType, ModelConfig

DEFAULT_MAX_BATCH_SIZE = 64
DEFAULT_QUEUE_DELAY_US = 1000
WARMUP_DIR = "warmup"


def build_config(
    model: onnx.ModelProto,
    *,
    name: str,
    dynamic_batch: bool,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    warmup: dict[str, np.ndarray] | None = None,
) -> ModelConfig:
    """The complete config for `model`; `warmup`: one row per input name (batch first)."""
    signature = signature_of(model)
    raw = ModelConfig(name=name, platform="onnxruntime_onnx")
    if dynamic_batch:
        if not signature.can_batch:
            raise ImportFailure(
                "the converted model has a fixed first dimension, so it cannot batch; "
                "import it with --no-dynamic-batch"
            )
        raw.max_batch_size = max_batch_size
        raw.dynamic_batching.max_queue_delay_microseconds = DEFAULT_QUEUE_DELAY_US
    try:
        config = complete_config(raw, signature, name=name)
    except ModelLoadError as exc:
        raise ImportFailure(exc.message) from None
    del config.instance_group[:]  # the server plans instances for the machine it runs on
    sample = config.model_warmup.add(name="imported_sample", batch_size=1, count=1)
    for tensor in config.input:
        entry = sample.inputs[tensor.name]
        entry.data_type = tensor.data_type
        entry.dims.extend(tensor.dims)
        if warmup is not None and tensor.name in warmup:
            entry.input_data_file = tensor.name
        else:
            entry.zero_data = True
    return config


def write_model(
    repository: Path,
    name: str,
    version: int,
    model: onnx.ModelProto,
    config: ModelConfig,
    warmup: dict[str, np.ndarray] | None = None,
) -> Path:
    """Checks `config` as the server would, then writes the version, the config and the
    warm-up files; returns the model file's path."""
    model_dir = repository / name
    with tempfile.TemporaryDirectory() as scratch:
        trial = Path(scratch) / name
        _write(trial, version, model, config, warmup)
        try:
            build_settings(
                config,
                signature_of(model),
                version=version,
                model_path=str(trial / str(version) / "model.onnx"),
                files=ModelFiles(trial, Path(scratch)),
            )
        except ModelLoadError as exc:
            raise ImportFailure(f"the written config would not load: {exc.message}") from None
    return _write(model_dir, version, model, config, warmup)


def _write(
    model_dir: Path,
    version: int,
    model: onnx.ModelProto,
    config: ModelConfig,
    warmup: dict[str, np.ndarray] | None,
) -> Path:
    path = model_dir / str(version) / "model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    (model_dir / CONFIG_FILENAME).write_text(text_format.MessageToString(config))
    for tensor in config.input:
        if warmup is None or tensor.name not in warmup:
            continue
        datatype = BY_CONFIG[DataType.Name(tensor.data_type)]
        row = np.asarray(warmup[tensor.name])[:1].reshape(tuple(tensor.dims))
        if datatype.wire == "BYTES":
            payload = encode_bytes([str(v).encode() for v in row.ravel()])
        else:
            payload = row.astype(datatype.numpy).tobytes()
        (model_dir / WARMUP_DIR).mkdir(exist_ok=True)
        (model_dir / WARMUP_DIR / tensor.name).write_bytes(payload)
    return path
