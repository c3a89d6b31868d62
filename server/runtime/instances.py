"""Instance planning: which sessions a model version gets, where they run, with how many threads.

A plan records what actually runs after the fallback policy was applied, so ModelConfig
answers can show the instance groups as they run (`effective_instance_groups`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from naiad.config.settings import InstanceGroup, InstanceKind, ModelSettings
from naiad.runtime import providers as prov
from naiad.runtime.threads import session_threads

log = logging.getLogger("naiad.runtime")


@dataclass(frozen=True)
class InstancePlan:
    """One model instance (one ONNX Runtime session) as it will run."""

    name: str
    """Triton-style instance name: '<group name>_<index in group>'."""
    group: str
    kind: InstanceKind
    """What runs after any fallback: CPU or GPU, never AUTO or MODEL."""
    device_id: int | None
    """GPU device id for GPU instances, None on CPU."""
    providers: tuple[prov.Provider, ...]
    """ONNX Runtime providers with their options, in priority order."""
    intra_op_threads: int
    inter_op_threads: int
    """0 leaves ONNX Runtime's default."""
    thread_spinning: bool
    """Whether ONNX Runtime's pool threads spin between parallel sections (threads.py)."""
    requested_kind: InstanceKind
    note: str = ""
    """Why `kind` differs from `requested_kind` (or how it was resolved); empty when it does not."""

    @property
    def provider_names(self) -> list[str]:
        return [name for name, _ in self.providers]


def plan_instances(
    settings: ModelSettings,
    cpu_budget: int,
    gpu_count: int | None = None,
    available_providers: Sequence[str] | None = None,
) -> list[InstancePlan]:
    """One plan per instance of every instance group of `settings`.

    KIND_GPU: `count` instances per listed GPU (all visible GPUs when none is listed); KIND_AUTO:
    GPU when one is usable, else CPU; KIND_MODEL: CPU. A requested provider that cannot be used
    follows settings.execution.fallback_to_cpu: one warning and CPU, or ModelLoadError.
    `gpu_count` and `available_providers` default to what this process detects (cached
    probes); tests pass them to plan for hardware they do not have, with no probe at all.
    """
    probe = _Probe(gpu_count, available_providers)
    groups = settings.instance_groups or (InstanceGroup(name=f"{settings.name}_0"),)
    slots = [_resolve(settings, i, group, probe) for i, group in enumerate(groups)]
    total = sum(len(s.devices) for s in slots)
    threads = session_threads(settings.execution, cpu_budget, total)
    plans = []
    for s in slots:
        for i, device in enumerate(s.devices):
            if s.kind is InstanceKind.GPU:
                assert device is not None
                providers = prov.gpu_providers(settings.execution, device, s.use_accelerator)
            else:
                providers = prov.cpu_providers(settings.execution, s.use_accelerator)
            plans.append(
                InstancePlan(
                    name=f"{s.name}_{i}",
                    group=s.name,
                    kind=s.kind,
                    device_id=device,
                    providers=tuple(providers),
                    intra_op_threads=threads.intra_op,
                    inter_op_threads=threads.inter_op,
                    thread_spinning=threads.spinning,
                    requested_kind=s.requested,
                    note=s.note,
                )
            )
    return plans


def effective_instance_groups(plans: Sequence[InstancePlan]) -> list[InstanceGroup]:
    """The instance groups as they run (kinds after fallback), for ModelConfig answers."""
    members: dict[tuple[str, InstanceKind], list[InstancePlan]] = {}
    for plan in plans:
        members.setdefault((plan.group, plan.kind), []).append(plan)
    groups = []
    for (name, kind), group in members.items():
        if kind is InstanceKind.GPU:
            gpus = tuple(sorted({p.device_id for p in group if p.device_id is not None}))
            count = max(1, len(group) // max(1, len(gpus)))
            groups.append(InstanceGroup(name=name, count=count, kind=kind, gpus=gpus))
        else:
            groups.append(InstanceGroup(name=name, count=len(group), kind=kind))
    return groups


@dataclass
class _Slots:
    name: str
    requested: InstanceKind
    kind: InstanceKind
    devices: list[int | None]
    use_accelerator: bool
    """TensorRT in front of CUDA, or OpenVINO in front of CPU, when one was requested."""
    note: str


class _Probe:
    """What this process can use; probes (cached per process) only when not given."""

    def __init__(self, gpu_count: int | None, available: Sequence[str] | None) -> None:
        self._gpu_count = gpu_count
        self._available = available

    @cached_property
    def available(self) -> list[str]:
        if self._available is not None:
            return list(self._available)
        from naiad.runtime import onnx  # runtime.onnx imports this module

        return onnx.available_providers()

    @cached_property
    def gpus(self) -> tuple[int, str]:
        if self._gpu_count is not None:
            return self._gpu_count, "" if self._gpu_count else "no GPU is visible to this process"
        from naiad.runtime import onnx

        status = onnx.gpu_status()
        return status.count, status.reason

    def gpu_problem(self, devices: Sequence[int]) -> str:
        count, reason = self.gpus
        if prov.CUDA not in self.available:
            return f"this onnxruntime build has no {prov.CUDA} (install onnxruntime-gpu)"
        if count == 0:
            return reason
        missing = [d for d in devices if not 0 <= d < count]
        if missing:
            return f"GPU {', '.join(map(str, missing))} not visible ({count} GPU(s) visible)"
        return ""

    def accelerator_problem(self, provider: str) -> str:
        if provider not in self.available:
            return f"this onnxruntime build has no {provider}"
        if self._available is None and provider == prov.TENSORRT:
            from naiad.runtime import onnx

            return onnx.provider_problem(provider)
        return ""


def _resolve(settings: ModelSettings, index: int, group: InstanceGroup, probe: _Probe) -> _Slots:
    name = group.name or f"{settings.name}_{index}"
    kind, note = group.kind, ""
    if kind is InstanceKind.MODEL:
        kind, note = InstanceKind.CPU, "KIND_MODEL: onnxruntime models place nothing; runs on CPU"
        log.info("model '%s' instance group '%s': %s", settings.name, name, note)
    elif kind is InstanceKind.AUTO:
        kind = InstanceKind.GPU if probe.gpus[0] > 0 else InstanceKind.CPU
        note = f"KIND_AUTO resolved to {kind.name}"
    devices: list[int | None] = [None] * group.count
    if kind is InstanceKind.GPU:
        gpu_ids = list(group.gpus) or list(range(probe.gpus[0]))
        problem = probe.gpu_problem(gpu_ids)
        if problem:
            prov.unusable(
                settings,
                f"instance group '{name}' (KIND_{group.kind.name})",
                problem,
                f"its {group.count * max(1, len(gpu_ids))} instance(s) on {prov.CPU}",
            )
            kind, note = InstanceKind.CPU, f"requested KIND_{group.kind.name}: {problem}"
            devices = [None] * (group.count * max(1, len(gpu_ids)))
        else:
            devices = [d for d in gpu_ids for _ in range(group.count)]
    wanted, provider = _accelerator(settings, kind)
    use = wanted
    if wanted:
        problem = probe.accelerator_problem(provider)
        if problem:
            instead = prov.CUDA if kind is InstanceKind.GPU else prov.CPU
            prov.unusable(
                settings, f"instance group '{name}' ({provider})", problem, f"on {instead} alone"
            )
            use = False
            note = "; ".join(filter(None, [note, f"{provider} not used: {problem}"]))
    return _Slots(name, group.kind, kind, devices, use, note)


def _accelerator(settings: ModelSettings, kind: InstanceKind) -> tuple[bool, str]:
    if kind is InstanceKind.GPU:
        return settings.execution.tensorrt_options is not None, prov.TENSORRT
    return settings.execution.openvino_options is not None, prov.OPENVINO
