"""Builds a ServedModel from validated settings: plan instances, load sessions, warm them up."""

from __future__ import annotations

import logging

from naiad.config.settings import ModelSettings
from naiad.engine.response_cache import ResponseCache
from naiad.engine.sequence_model import SequenceModel
from naiad.engine.served_model import ServedModel
from naiad.runtime.instances import effective_instance_groups, plan_instances
from naiad.runtime.onnx import gpu_status, load_instances
from naiad.runtime.threads import cpu_budget
from naiad.runtime.warmup import run_cost_ns, run_default_warmup, run_warmup
from naiad_protocol import model_config_pb2

log = logging.getLogger("naiad.engine")


def gpu_available() -> bool:
    """Probes the GPU once at start-up and says in one line what models will run on."""
    status = gpu_status()
    if status.count:
        log.info("%d GPU(s) usable through CUDA", status.count)
    else:
        log.info("no usable GPU (%s): models run on CPU", status.reason)
    return status.count > 0


def load_served_model(
    settings: ModelSettings,
    config: model_config_pb2.ModelConfig,
    cache: ResponseCache | None = None,
) -> ServedModel | SequenceModel:
    """Loads every instance of one model version; ready to serve when this returns.

    `cache`: the server's response cache (--cache-bytes), used when the config enables it; a
    model that enables it on a server without one serves uncached, with a warning.
    """
    if settings.response_cache and cache is None:
        log.warning(
            "model '%s' version %d enables response_cache but the server has no cache"
            " (start it with --cache-bytes N): serving uncached",
            settings.name,
            settings.version,
        )
    plans = plan_instances(settings, cpu_budget())
    instances = load_instances(settings, plans)
    try:
        # A stateful model is not warmed up: warm-up inputs lack its control and state tensors.
        warmed = instances if settings.sequence is None else []
        for instance in warmed:
            # Every instance warms up before the version is published, so its first real
            # requests never pay for lazy allocations (a swap under load stays smooth).
            if settings.warmup:
                run_warmup(instance, settings)
            else:
                run_default_warmup(instance, settings)
        cost_ns = run_cost_ns(instances[0], settings) if settings.sequence is None else None
    except BaseException:
        for instance in instances:
            instance.close()
        raise
    effective = model_config_pb2.ModelConfig()
    effective.CopyFrom(config)
    del effective.instance_group[:]
    # Plans as the sessions actually run: a fallback found while loading shows up here too.
    for group in effective_instance_groups([instance.plan for instance in instances]):
        effective.instance_group.add(
            name=group.name, count=group.count, kind=group.kind.value, gpus=list(group.gpus)
        )
    if settings.sequence is not None:
        return SequenceModel(settings, effective, instances)
    return ServedModel(settings, effective, instances, run_cost_ns=cost_ns, cache=cache)
