"""One model instance built straight from a repository, for workers that batch for themselves
(Ray actors): the same config completion, providers and thread planning as the server, with
one instance sized to the CPUs (or the GPU) the worker was given."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from naiad.config.parse import read_config_file
from naiad.config.prepare import PreparedVersion, prepare_version
from naiad.config.settings import InstanceGroup, InstanceKind
from naiad.errors import ModelLoadError
from naiad.repository.layout import list_versions, model_file, select_versions
from naiad.runtime.instances import plan_instances
from naiad.runtime.model import Model


def prepare(
    repository: str, name: str, version: str, *, gpu_available: bool = False
) -> PreparedVersion:
    """Completed config and settings of version `version` ("" = the latest the model's
    version policy serves); ModelLoadError saying why when it cannot be had."""
    model_dir = Path(repository) / name
    if not model_dir.is_dir():
        raise ModelLoadError(f"model '{name}' is not in repository {repository}")
    raw = read_config_file(model_dir, model=name)
    on_disk = list_versions(model_dir)
    if version:
        if not version.isdigit() or int(version) not in on_disk:
            raise ModelLoadError(f"model '{name}' has no version {version} (on disk: {on_disk})")
        number = int(version)
    else:
        policy = raw.version_policy if raw is not None and raw.HasField("version_policy") else None
        selected = select_versions(policy, on_disk).selected
        if not selected:
            raise ModelLoadError(f"model '{name}' has no version to serve (on disk: {on_disk})")
        number = selected[-1]
    default_file = raw.default_model_filename if raw is not None else ""
    path = model_file(model_dir, number, default_file)
    return prepare_version(raw, path, name=name, version=number, gpu_available=gpu_available)


def single_instance(prepared: PreparedVersion, cpus: int, gpu: bool) -> Model:
    """One ONNX Runtime session of the version: on the GPU when `gpu`, else on CPU with
    `cpus` intra-op threads (config parameters still override)."""
    from naiad.runtime.onnx import OnnxModel

    settings = prepared.settings
    kind = InstanceKind.GPU if gpu else InstanceKind.CPU
    group = InstanceGroup(name=settings.name, count=1, kind=kind, gpus=(0,) if gpu else ())
    single = replace(settings, instance_groups=(group,))
    plan = plan_instances(single, max(1, cpus))[0]
    return OnnxModel(single, plan)


def run_rows(
    model: Model, prepared: PreparedVersion, inputs: dict[str, np.ndarray], rows: int
) -> dict[str, np.ndarray]:
    """Runs `rows` rows in batches of at most max_batch_size (one row without batching)."""
    settings = prepared.settings
    names = [o.name for o in settings.outputs]
    reshape = {s.name: s.reshape for s in settings.inputs if s.reshape is not None}
    step = max(1, settings.max_batch_size)
    parts: list[list[np.ndarray]] = []
    for start in range(0, rows, step):
        feed = {n: a[start : start + step] for n, a in inputs.items()}
        if settings.max_batch_size == 0:
            feed = {n: a[0].reshape(reshape.get(n, a.shape[1:])) for n, a in feed.items()}
            parts.append([a[None] for a in model.run(feed, names)])
        else:
            feed = {n: a.reshape((len(a), *reshape[n])) if n in reshape else a
                    for n, a in feed.items()}  # fmt: skip
            parts.append(model.run(feed, names))
    if not parts:
        return {
            o.name: np.empty((0, *[max(d, 0) for d in o.dims]), o.datatype.numpy)
            for o in settings.outputs
        }
    joined = {n: np.concatenate([p[i] for p in parts]) for i, n in enumerate(names)}
    # Outputs with a config reshape come back in the model's shape; rows carry the config dims.
    for spec in settings.outputs:
        if spec.reshape is not None and all(d >= 0 for d in spec.dims):
            joined[spec.name] = joined[spec.name].reshape((rows, *spec.dims))
    return joined
