"""Scenario models: generated ONNX MLPs in a cache-dir repository, and model signatures.

Nothing binary is committed and nothing is downloaded: models are built from seeded random
weights the first time a scenario needs them, keyed by their parameters.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import json_format, text_format

from bench import rollout_variant
from bench.scenario import ModelSpec, TargetSpec, target_model
from naiad_client import Client
from naiad_protocol import model_config_pb2 as mc
from naiad_protocol._wire import BY_CONFIG, BY_ONNX, BY_WIRE


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    dims: tuple[int, ...]
    """Without the batch dimension when the model batches; -1 = variable."""


@dataclass(frozen=True)
class Signature:
    """What the harness needs to know about the model under load."""

    name: str
    max_batch_size: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    repository: str | None = None
    onnx_path: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_json(text: str) -> Signature:
        data = json.loads(text)
        data["inputs"] = tuple(
            TensorSpec(t["name"], t["datatype"], tuple(t["dims"])) for t in data["inputs"]
        )
        data["outputs"] = tuple(
            TensorSpec(t["name"], t["datatype"], tuple(t["dims"])) for t in data["outputs"]
        )
        return Signature(**data)


def cache_dir() -> Path:
    """Where generated repositories live: $NAIAD_BENCH_CACHE or ~/.cache/naiad-bench."""
    root = os.environ.get("NAIAD_BENCH_CACHE") or Path.home() / ".cache" / "naiad-bench"
    return Path(root)


def build_mlp(path: Path, num_in: int, hidden: tuple[int, ...], num_out: int, seed: int) -> None:
    """Writes an FP32 MLP (MatMul+Add+Relu per hidden layer) with a variable batch dim."""
    import onnx  # heavy; only needed when a model is built or read
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    widths = [num_in, *hidden, num_out]
    nodes, weights = [], []
    current = "INPUT0"
    for i, (fan_in, fan_out) in enumerate(zip(widths, widths[1:], strict=False)):
        w = (rng.standard_normal((fan_in, fan_out), dtype=np.float32) / np.sqrt(fan_in)).astype(
            np.float32
        )
        b = np.zeros(fan_out, dtype=np.float32)
        weights += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        last = i == len(widths) - 2
        nodes.append(helper.make_node("MatMul", [current, f"w{i}"], [f"mm{i}"]))
        nodes.append(helper.make_node("Add", [f"mm{i}", f"b{i}"], ["OUTPUT0" if last else f"a{i}"]))
        if not last:
            nodes.append(helper.make_node("Relu", [f"a{i}"], [f"r{i}"]))
            current = f"r{i}"
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, ["batch", num_in])],
        [helper.make_tensor_value_info("OUTPUT0", TensorProto.FLOAT, ["batch", num_out])],
        initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def config_text(spec: ModelSpec, signature: Signature) -> str:
    """config.pbtxt for a generated model: its signature plus the scenario's extra fields."""
    config = mc.ModelConfig(
        name=spec.name, platform="onnxruntime_onnx", max_batch_size=spec.max_batch_size
    )
    for t in signature.inputs:
        config.input.add(name=t.name, data_type=_config_type(t.datatype), dims=t.dims)
    for t in signature.outputs:
        config.output.add(name=t.name, data_type=_config_type(t.datatype), dims=t.dims)
    json_format.ParseDict(spec.config, config)
    return text_format.MessageToString(config)


def _config_type(datatype: str) -> int:
    return mc.DataType.Value(BY_WIRE[datatype].config)


def generated_signature(spec: ModelSpec, repository: Path | None = None) -> Signature:
    """The signature of a generated MLP (known without building it)."""
    onnx_path = repository / spec.name / "1" / "model.onnx" if repository else None
    return Signature(
        name=spec.name,
        max_batch_size=spec.max_batch_size,
        inputs=(TensorSpec("INPUT0", "FP32", (spec.num_in,)),),
        outputs=(TensorSpec("OUTPUT0", "FP32", (spec.num_out,)),),
        repository=str(repository) if repository else None,
        onnx_path=str(onnx_path) if onnx_path else None,
    )


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def _cached_onnx(spec: ModelSpec, root: Path) -> Path:
    """The MLP's ONNX file, built once per shape and seed whatever config it is served with."""
    path = root / "onnx" / f"mlp-{_key(spec.num_in, spec.hidden, spec.num_out, spec.seed)}.onnx"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        build_mlp(partial, spec.num_in, spec.hidden, spec.num_out, spec.seed)
        partial.replace(path)  # atomic: a crash never leaves half a model under the real name
    return path


def naiad_executable() -> str:
    """The ``naiad`` console script: beside this Python first, then on PATH."""
    beside = Path(sys.executable).parent / "naiad"
    found = str(beside) if beside.exists() else shutil.which("naiad")
    if not found:
        raise RuntimeError("naiad is not installed (no 'naiad' beside python or on PATH)")
    return found


def _cached_quantized(fp32_path: Path, mode: str) -> Path:
    """The INT8 copy ``naiad quantize --mode MODE`` makes of an FP32 model, made once."""
    path = fp32_path.with_name(f"{fp32_path.stem}-int8-{mode}.onnx")
    if not path.exists():
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.onnx")
        command = [naiad_executable(), "quantize", str(fp32_path), str(partial), "--mode", mode]
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-2000:]}")
        partial.replace(path)
    return path


def ensure_generated(spec: ModelSpec, root: Path | None = None) -> Signature:
    """Builds the scenario's model repository in the cache unless it is already there."""
    root = root or cache_dir()
    key = _key(spec.name, spec.num_in, spec.hidden, spec.num_out, spec.seed, spec.max_batch_size)
    suffix = f"-int8-{spec.quantize}" if spec.quantize else ""
    suffix += f"-rollout-{_key(spec.rollout)}" if spec.rollout else ""
    repository = root / f"{spec.name}-{key}-{_key(spec.config)}{suffix}"
    signature = generated_signature(spec, repository)
    if (repository / spec.name / "config.pbtxt").exists():
        return signature
    onnx_path = _cached_onnx(spec, root)
    if spec.quantize:
        onnx_path = _cached_quantized(onnx_path, spec.quantize)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        version_dir = staging / spec.name / "1"
        version_dir.mkdir(parents=True)
        try:
            os.link(onnx_path, version_dir / "model.onnx")
        except OSError:
            shutil.copyfile(onnx_path, version_dir / "model.onnx")
        (staging / spec.name / "config.pbtxt").write_text(config_text(spec, signature))
        if spec.rollout:
            rollout_variant.add_candidate(staging / spec.name, onnx_path, spec.rollout)
        staging.rename(repository)
    except OSError:
        if not repository.exists():  # else another run built it first, which is as good
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return signature


def repository_signature(spec: ModelSpec) -> Signature:
    """The signature of a model in an existing repository: config.pbtxt first, else the ONNX
    graph (batching assumed when config.pbtxt says so)."""
    import onnx

    model_dir = Path(spec.repository or ".") / spec.name
    versions = sorted((int(p.name) for p in model_dir.iterdir() if p.name.isdigit()), reverse=True)
    if not versions:
        raise FileNotFoundError(f"no version directory under {model_dir}")
    onnx_path = model_dir / (spec.version or str(versions[0])) / "model.onnx"
    config = mc.ModelConfig()
    if (model_dir / "config.pbtxt").exists():
        text_format.Parse((model_dir / "config.pbtxt").read_text(), config)
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    drop = 1 if config.max_batch_size > 0 else 0
    inputs = _from_config(config.input) or _from_graph(
        [v for v in graph.input if v.name not in initializers], drop
    )
    outputs = _from_config(config.output) or _from_graph(graph.output, drop)
    return Signature(
        spec.name, config.max_batch_size, inputs, outputs, spec.repository, str(onnx_path)
    )


def _from_config(tensors: Any) -> tuple[TensorSpec, ...]:
    specs = []
    for t in tensors:
        datatype = BY_CONFIG[mc.DataType.Name(t.data_type)].wire
        specs.append(TensorSpec(t.name, datatype, tuple(t.dims)))
    return tuple(specs)


def _from_graph(values: Any, drop: int) -> tuple[TensorSpec, ...]:
    specs = []
    for v in values:
        shape = v.type.tensor_type.shape.dim
        dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in shape)
        datatype = BY_ONNX[v.type.tensor_type.elem_type].wire
        specs.append(TensorSpec(v.name, datatype, dims[drop:]))
    return tuple(specs)


def signature_for(spec: ModelSpec, url: str | None = None) -> Signature:
    """The model's signature, generating the model into the cache first when needed; with no
    generator and no repository, asked from the server at ``url``."""
    if spec.generate == "mlp":
        return ensure_generated(spec)
    if spec.repository:
        return repository_signature(spec)
    if url:
        return server_signature(url, spec.name, spec.version)
    raise ValueError(f"model {spec.name}: no generator, no repository and no server to ask")


def target_signature(model: ModelSpec, target: TargetSpec, base: Signature) -> Signature:
    """The signature of the model ``target`` serves: ``base`` (the scenario's), or that of the
    target's generated variant."""
    if not target.has_variant:
        return base
    return ensure_generated(target_model(model, target))


def server_signature(url: str, name: str, version: str = "") -> Signature:
    """The signature a running server reports (ModelMetadata and ModelConfig), for targets given
    only by URL."""
    with Client(url) as client:
        metadata = client.model_metadata(name, version, timeout_s=30)
        config = client.model_config(name, version, timeout_s=30)
    drop = 1 if config.max_batch_size > 0 else 0

    def specs(tensors: Any) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(t.name, t.datatype, tuple(t.shape)[drop:]) for t in tensors)

    return Signature(name, config.max_batch_size, specs(metadata.inputs), specs(metadata.outputs))
