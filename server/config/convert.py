"""The one pass from a completed ModelConfig to typed ModelSettings: every check, every conversion.

Each concern has one function that checks its part of the config and converts it (validate.py:
identity and tensors; scheduling.py: batching, instances, warm-up; execution.py: parameters and
accelerators). They all report into one Problems, so a config that fails lists every problem.
Nothing after this function checks or parses a config value again.
"""

from __future__ import annotations

from pathlib import Path

from naiad.config.execution import execution_options
from naiad.config.labels import with_labels
from naiad.config.paths import ModelFiles, confined
from naiad.config.problems import Problems
from naiad.config.scheduling import batching_policy, instance_groups, warmup_samples
from naiad.config.sequence import sequence_policy
from naiad.config.settings import ModelSettings
from naiad.config.signature import ModelSignature
from naiad.config.validate import check_identity, tensor_specs
from naiad_protocol.model_config_pb2 import ModelConfig


def build_settings(
    config: ModelConfig,
    signature: ModelSignature,
    *,
    version: int,
    model_path: str,
    files: ModelFiles | None = None,
) -> ModelSettings:
    """Settings for one version of the model `signature` describes; `config` must be completed.

    `files`: where the model's files may be (paths.py); None: a model in a repository, found
    from `model_path` (<repo>/<model>/<version>/<file>). Raises ModelLoadError naming every
    problem found, when there is any.
    """
    if files is None:
        files = ModelFiles.of(Path(model_path), version)
    problems = Problems(config.name)
    check_identity(config, problems)
    for location in signature.external_data:
        confined(
            location,
            base=Path(model_path).parent,
            root=files.root,
            what="external data file",
            place="the model file's directory",
            problems=problems,
        )
    if config.max_batch_size < 0:
        problems.add(f"max_batch_size must be >= 0, not {config.max_batch_size}")
    inputs, outputs = tensor_specs(config, signature, problems)
    sequence = sequence_policy(config, signature, files, problems)
    settings = ModelSettings(
        name=config.name,
        version=version,
        model_path=model_path,
        max_batch_size=config.max_batch_size,
        inputs=inputs,
        outputs=with_labels(config, outputs, files, problems),
        batching=batching_policy(config, problems),
        instance_groups=instance_groups(config, problems),
        execution=execution_options(config, files, problems),
        warmup=warmup_samples(config, files, problems),
        response_cache=config.response_cache.enable,
        sequence=sequence,
    )
    problems.raise_if_any()
    return settings
