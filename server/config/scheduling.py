"""The config's scheduling parts, checked and converted: batching, queues, instances, warm-up.

Part of the one pass in convert.py: each function returns the typed value and adds what is
wrong to a Problems (what it returns is only used when nothing was).
"""

from __future__ import annotations

from collections.abc import Sequence

from naiad.config.paths import ModelFiles, confined
from naiad.config.problems import Problems, show, type_name
from naiad.config.settings import (
    BatchingPolicy,
    DelayMode,
    InstanceGroup,
    InstanceKind,
    QueuePolicy,
    TimeoutAction,
    WarmupInput,
    WarmupSample,
    WarmupSource,
)
from naiad.datatypes import BY_CONFIG
from naiad_protocol.model_config_pb2 import (
    ModelConfig,
    ModelDynamicBatching,
    ModelInput,
    ModelInstanceGroup,
    ModelQueuePolicy,
    ModelWarmup,
)

MAX_PRIORITY_LEVELS = 1024
"""Triton sets no bound; every level is a native queue, so the native scheduler takes at most
this many (kMaxPriorityLevels in scheduler_options.h; the config check says it first)."""

# Durations travel to the native scheduler as signed 64-bit microseconds.
_MAX_US = 2**63 - 1

QUEUE_DELAY_MODE = "queue_delay_mode"
TARGET_P99_MS = "target_p99_ms"
"""config `parameters` keys choosing how the batching delay adapts (DelayMode)."""

WARMUP_DIR = "warmup"
"""Triton's layout: warm-up data files live in <model dir>/warmup/."""


def batching_policy(config: ModelConfig, problems: Problems) -> BatchingPolicy:
    """The dynamic_batching block as a BatchingPolicy (disabled when there is none)."""
    if config.WhichOneof("scheduling_choice") != "dynamic_batching":
        return BatchingPolicy(enabled=False)
    batching: ModelDynamicBatching = config.dynamic_batching
    _check_dynamic_batching(config.max_batch_size, batching, problems)
    default_policy = (
        _queue_policy("default_queue_policy", batching.default_queue_policy, problems)
        if batching.HasField("default_queue_policy")
        else QueuePolicy()
    )
    delay_mode, target_p99_us = _delay_tuning(config, problems)
    return BatchingPolicy(
        enabled=True,
        delay_mode=delay_mode,
        target_p99_us=target_p99_us,
        max_queue_delay_us=batching.max_queue_delay_microseconds,
        preferred_batch_sizes=tuple(batching.preferred_batch_size),
        preserve_ordering=batching.preserve_ordering,
        priority_levels=max(batching.priority_levels, 1),
        default_priority_level=batching.default_priority_level or 1,
        default_queue_policy=default_policy,
        priority_queue_policies={
            int(level): _queue_policy(f"priority_queue_policy {level}", policy, problems)
            for level, policy in batching.priority_queue_policy.items()
        },
    )


def _delay_tuning(config: ModelConfig, problems: Problems) -> tuple[DelayMode, int]:
    params = config.parameters
    mode_text = params[QUEUE_DELAY_MODE].string_value if QUEUE_DELAY_MODE in params else ""
    target_text = params[TARGET_P99_MS].string_value if TARGET_P99_MS in params else ""
    target_us = _target_p99_us(target_text, problems) if target_text else 0
    if not mode_text:
        mode = DelayMode.SLO if target_us else DelayMode.ADAPTIVE
    else:
        try:
            mode = DelayMode(mode_text.strip().lower())
        except ValueError:
            choices = ", ".join(m.value for m in DelayMode)
            problems.add(
                f"parameter {QUEUE_DELAY_MODE} must be one of {choices}, not {mode_text!r}"
            )
            return DelayMode.ADAPTIVE, 0
    if mode is DelayMode.SLO and not target_us and not target_text:
        problems.add(f"parameter {QUEUE_DELAY_MODE} 'slo' needs {TARGET_P99_MS}")
    if mode is not DelayMode.SLO and target_us:
        problems.add(f"parameter {TARGET_P99_MS} applies only to {QUEUE_DELAY_MODE} 'slo'")
    if mode is DelayMode.SLO and config.dynamic_batching.max_queue_delay_microseconds == 0:
        problems.add(
            f"parameter {TARGET_P99_MS} tunes the batching delay within "
            "max_queue_delay_microseconds, which is 0"
        )
    return mode, target_us if mode is DelayMode.SLO else 0


def _target_p99_us(text: str, problems: Problems) -> int:
    try:
        target_ms = float(text)
    except ValueError:
        target_ms = float("nan")
    if not 0 < target_ms < 1e9:  # also refuses nan and inf
        problems.add(
            f"parameter {TARGET_P99_MS} must be a number of milliseconds > 0, not {text!r}"
        )
        return 0
    return max(1, round(target_ms * 1000))


def _check_dynamic_batching(
    max_batch_size: int, batching: ModelDynamicBatching, problems: Problems
) -> None:
    for size in batching.preferred_batch_size:
        if size < 1 or size > max_batch_size:
            problems.add(
                f"preferred_batch_size {size} must be between 1 and "
                f"max_batch_size ({max_batch_size})"
            )
    if batching.max_queue_delay_microseconds > _MAX_US:
        problems.add("max_queue_delay_microseconds is too large")
    levels = batching.priority_levels
    if levels > MAX_PRIORITY_LEVELS:
        # The scheduler keeps a queue per level: an absurd count is memory, not a policy.
        problems.add(f"priority_levels {levels} is more than {MAX_PRIORITY_LEVELS}")
        return
    if levels == 0:
        if batching.default_priority_level != 0:
            problems.add("default_priority_level is set but priority_levels is 0")
        if batching.priority_queue_policy:
            problems.add("priority_queue_policy is set but priority_levels is 0")
    elif not 1 <= batching.default_priority_level <= levels:
        problems.add(
            f"default_priority_level {batching.default_priority_level} must be between 1 "
            f"and priority_levels ({levels})"
        )
    for level in batching.priority_queue_policy:
        if levels and not 1 <= level <= levels:
            problems.add(
                f"priority_queue_policy for level {level} is outside 1..priority_levels ({levels})"
            )


def _queue_policy(where: str, policy: ModelQueuePolicy, problems: Problems) -> QueuePolicy:
    action = TimeoutAction.REJECT
    if policy.timeout_action in ModelQueuePolicy.TimeoutAction.values():
        action = TimeoutAction(policy.timeout_action)
    else:
        problems.add(f"{where}: unknown timeout_action {policy.timeout_action}")
    if policy.default_timeout_microseconds > _MAX_US:
        problems.add(f"{where}: default_timeout_microseconds is too large")
    return QueuePolicy(
        timeout_action=action,
        default_timeout_us=policy.default_timeout_microseconds,
        allow_timeout_override=policy.allow_timeout_override,
        max_queue_size=policy.max_queue_size,
    )


def instance_groups(config: ModelConfig, problems: Problems) -> tuple[InstanceGroup, ...]:
    """The completed config's instance groups; the ones that are wrong go to `problems`."""
    groups = []
    for group in config.instance_group:
        problem = _instance_group_problem(group)
        problems.add(problem)
        if problem is None:
            groups.append(
                InstanceGroup(
                    name=group.name,
                    count=group.count,
                    kind=InstanceKind(group.kind),
                    gpus=tuple(group.gpus),
                )
            )
    return tuple(groups)


def _instance_group_problem(group: ModelInstanceGroup) -> str | None:
    where = f"instance_group '{group.name}'"
    if group.count < 1:
        return f"{where}: count must be >= 1, not {group.count}"
    if group.kind not in ModelInstanceGroup.Kind.values():
        return f"{where}: unknown kind {group.kind}"
    if any(gpu < 0 for gpu in group.gpus):
        return f"{where}: gpus must be device ids >= 0"
    if group.gpus and group.kind != ModelInstanceGroup.KIND_GPU:
        kind = ModelInstanceGroup.Kind.Name(group.kind)
        return f"{where}: lists gpus but its kind is {kind}"
    return None


def warmup_samples(
    config: ModelConfig, files: ModelFiles, problems: Problems
) -> tuple[WarmupSample, ...]:
    """The model_warmup entries, with data file paths under <model dir>/warmup/."""
    inputs = {t.name: t for t in config.input}
    samples = []
    for sample in config.model_warmup:
        if not sample.name:
            problems.add("a model_warmup entry has no name")
            continue
        where = f"model_warmup '{sample.name}'"
        limit = max(config.max_batch_size, 1)
        if not 1 <= sample.batch_size <= limit:
            problems.add(f"{where}: batch_size {sample.batch_size} must be between 1 and {limit}")
        typed = {}
        for name, data in sample.inputs.items():
            tensor = inputs.get(name)
            if tensor is None:
                problems.add(f"{where}: '{name}' is not an input of the model")
                continue
            found = _warmup_input(where, name, data, tensor, files, problems)
            if found is not None:
                typed[name] = found
        missing = [n for n, t in inputs.items() if not t.optional and n not in sample.inputs]
        if missing:
            problems.add(f"{where}: gives no data for input(s) {', '.join(missing)}")
        samples.append(
            WarmupSample(
                name=sample.name,
                batch_size=sample.batch_size,
                inputs=typed,
                count=max(sample.count, 1),
            )
        )
    return tuple(samples)


def _warmup_input(
    where: str,
    name: str,
    data: ModelWarmup.Input,
    tensor: ModelInput,
    files: ModelFiles,
    problems: Problems,
) -> WarmupInput | None:
    if data.data_type != tensor.data_type:
        problems.add(
            f"{where}: input '{name}' has data_type {type_name(data.data_type)}, "
            f"the model input is {type_name(tensor.data_type)}"
        )
        return None
    choice = data.WhichOneof("input_data_type")
    if choice is None:
        problems.add(f"{where}: input '{name}' needs zero_data, random_data or input_data_file")
        return None
    dims = tuple(data.dims)
    if any(d < 1 for d in dims):
        problems.add(f"{where}: input '{name}' dims must be positive")
        return None
    if tensor.HasField("reshape") and not _fits(dims, tensor.reshape.shape):
        problems.add(
            f"{where}: input '{name}' dims {show(dims)} do not fit "
            f"reshape {show(tensor.reshape.shape)}"
        )
        return None
    datatype = BY_CONFIG.get(type_name(data.data_type))
    if datatype is None:  # the model input's own check reports the type
        return None
    if choice == "input_data_file":
        path = confined(
            data.input_data_file,
            base=files.model_dir / WARMUP_DIR,
            root=files.root,
            what=f"{where}: input '{name}' input_data_file",
            place=f"the model's {WARMUP_DIR}/ directory",
            problems=problems,
        )
        return None if path is None else WarmupInput(datatype, dims, WarmupSource.FILE, path)
    source = WarmupSource.RANDOM if choice == "random_data" else WarmupSource.ZERO
    return WarmupInput(datatype, dims, source)


def _fits(dims: Sequence[int], reshape: Sequence[int]) -> bool:
    """Whether an item of fixed `dims` can be viewed as `reshape` (at most one -1, as NumPy)."""
    count = 1
    for d in dims:
        count *= d
    fixed = 1
    for d in reshape:
        if d != -1:
            fixed *= d
    variable = list(reshape).count(-1)
    if variable == 0:
        return count == fixed
    return variable == 1 and fixed > 0 and count % fixed == 0
