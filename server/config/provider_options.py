"""Which ONNX Runtime provider options a model config may set, and where their paths may lead.

Provider options reach native code: some name files ONNX Runtime reads, writes or loads as
libraries, some are memory addresses. So each provider lists the options a config may set (an
unknown one is a problem, as ONNX Runtime would refuse it too); memory addresses and the
server's own options (device_id) are refused; every path is checked (paths.py) and made
absolute, since ONNX Runtime reads a relative path from the server's working directory.
A library may only come from the model's own directory, and never from uploaded files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from naiad.config.paths import ModelFiles, confined, plain_name_problem, shown
from naiad.config.problems import Problems

_ENABLED = ("1", "true")

_ADDRESS = "it is a memory address"
_DEVICE = "the server sets the device of each instance (instance_group gpus)"


@dataclass(frozen=True)
class ProviderRules:
    """What a config may set for one provider; every key is in exactly one group."""

    provider: str
    """As messages name it: "TensorRT"."""
    settings: frozenset[str]
    """Options whose value is no path: passed on as given."""
    directories: frozenset[str] = frozenset()
    """Directories (ONNX Runtime may write there), relative to the model directory."""
    files: frozenset[str] = frozenset()
    """Files ONNX Runtime reads or writes, relative to the model directory."""
    names: frozenset[str] = frozenset()
    """Plain file names ONNX Runtime joins to one of the directories."""
    libraries: frozenset[str] = frozenset()
    """';'-separated native libraries ONNX Runtime loads: code, so inside the model directory."""
    refused: Mapping[str, str] = field(default_factory=dict)
    """Option -> why a config may not set it."""
    needs: Mapping[str, str] = field(default_factory=dict)
    """Option -> the path option that must be set when it is enabled or set, since without it
    ONNX Runtime uses the server's working directory."""


TENSORRT = ProviderRules(
    provider="TensorRT",
    settings=frozenset(
        {
            "trt_max_partition_iterations",
            "trt_min_subgraph_size",
            "trt_max_workspace_size",
            "trt_fp16_enable",
            "trt_bf16_enable",
            "trt_int8_enable",
            "trt_int8_use_native_calibration_table",
            "trt_dla_enable",
            "trt_dla_core",
            "trt_engine_cache_enable",
            "trt_engine_decryption_enable",
            "trt_force_sequential_engine_build",
            "trt_context_memory_sharing_enable",
            "trt_layer_norm_fp32_fallback",
            "trt_timing_cache_enable",
            "trt_force_timing_cache",
            "trt_detailed_build_log",
            "trt_build_heuristics_enable",
            "trt_sparsity_enable",
            "trt_builder_optimization_level",
            "trt_auxiliary_streams",
            "trt_tactic_sources",
            "trt_profile_min_shapes",
            "trt_profile_max_shapes",
            "trt_profile_opt_shapes",
            "trt_cuda_graph_enable",
            "trt_dump_ep_context_model",
            "trt_ep_context_embed_mode",
            "trt_weight_stripped_engine_enable",
            "trt_engine_hw_compatible",
            "trt_op_types_to_exclude",
            "trt_preview_features",
            "trt_load_user_initializer",
        }
    ),
    directories=frozenset(
        {"trt_engine_cache_path", "trt_timing_cache_path", "trt_onnx_model_folder_path"}
    ),
    files=frozenset({"trt_ep_context_file_path"}),
    names=frozenset({"trt_int8_calibration_table_name", "trt_engine_cache_prefix"}),
    libraries=frozenset({"trt_extra_plugin_lib_paths", "trt_engine_decryption_lib_path"}),
    refused={
        "device_id": _DEVICE,
        "has_user_compute_stream": _ADDRESS,
        "user_compute_stream": _ADDRESS,
        "trt_onnx_bytestream": _ADDRESS,
        "trt_onnx_bytestream_size": _ADDRESS,
        "trt_external_data_bytestream": _ADDRESS,
        "trt_external_data_bytestream_size": _ADDRESS,
        "trt_dump_subgraphs": "it writes into the server's working directory",
    },
    needs={
        "trt_engine_cache_enable": "trt_engine_cache_path",
        "trt_timing_cache_enable": "trt_timing_cache_path",
        "trt_int8_calibration_table_name": "trt_engine_cache_path",
    },
)

CUDA = ProviderRules(
    provider="CUDA",
    settings=frozenset(
        {
            "gpu_mem_limit",
            "arena_extend_strategy",
            "cudnn_conv_algo_search",
            "do_copy_in_default_stream",
            "cudnn_conv_use_max_workspace",
            "cudnn_conv1d_pad_to_nc1d",
            "enable_cuda_graph",
            "enable_skip_layer_norm_strict_mode",
            "tunable_op_enable",
            "tunable_op_tuning_enable",
            "tunable_op_max_tuning_duration_ms",
            "use_tf32",
            "prefer_nhwc",
            "use_ep_level_unified_stream",
            "sdpa_kernel",
            "fuse_conv_bias",
        }
    ),
    refused={
        "device_id": _DEVICE,
        "has_user_compute_stream": _ADDRESS,
        "user_compute_stream": _ADDRESS,
        "gpu_external_alloc": _ADDRESS,
        "gpu_external_free": _ADDRESS,
        "gpu_external_empty_cache": _ADDRESS,
    },
)

OPENVINO = ProviderRules(
    provider="OpenVINO",
    settings=frozenset(
        {
            "device_type",
            "device_id",
            "device_luid",
            "precision",
            "num_of_threads",
            "num_streams",
            "enable_opencl_throttling",
            "enable_qdq_optimizer",
            "disable_dynamic_shapes",
            "model_priority",
            "enable_npu_fast_compile",
            "enable_causallm",
            "reshape_input",
            "layout",
        }
    ),
    directories=frozenset({"cache_dir"}),
    files=frozenset({"load_config"}),
    refused={"context": _ADDRESS},
)


def checked_options(
    rules: ProviderRules, options: Mapping[str, str], files: ModelFiles, problems: Problems
) -> dict[str, str]:
    """`options` as ONNX Runtime should get them: paths checked and made absolute.

    What a config may not set goes to `problems` and is left out.
    """
    out: dict[str, str] = {}
    for key, value in options.items():
        checked = _checked(rules, key, value, files, problems)
        if checked is not None:
            out[key] = checked
    for option, path_option in rules.needs.items():
        value = options.get(option, "").strip().lower()
        wanted = value in _ENABLED if option in rules.settings else bool(value)
        if wanted and not options.get(path_option):
            problems.add(
                f"{rules.provider} option {option} needs {path_option} (a directory relative "
                "to the model directory); without it ONNX Runtime uses the server's working "
                "directory"
            )
    return out


def _checked(
    rules: ProviderRules, key: str, value: str, files: ModelFiles, problems: Problems
) -> str | None:
    where = f"{rules.provider} option {shown(key)}"
    if key in rules.refused:
        problems.add(f"{where} may not be set in a model config: {rules.refused[key]}")
        return None
    if key in rules.settings:
        return value
    if not _is_path(rules, key):
        problems.add(f"unknown {where} (naiad passes on only the options ONNX Runtime documents)")
        return None
    if not value:  # ONNX Runtime's "not set"
        return value
    if key in rules.names:
        problem = plain_name_problem(value, where)
        problems.add(problem)
        return None if problem else value
    if key in rules.directories or key in rules.files:
        path = confined(
            value,
            base=files.model_dir,
            root=files.root,
            what=where,
            place="the model directory",
            problems=problems,
        )
        return None if path is None else os.path.abspath(path)
    return _libraries(where, value, files, problems)


def _is_path(rules: ProviderRules, key: str) -> bool:
    return key in rules.directories | rules.files | rules.names | rules.libraries


def _libraries(where: str, value: str, files: ModelFiles, problems: Problems) -> str | None:
    if not files.native_code:
        problems.add(f"{where}: uploaded model files may not include native libraries")
        return None
    paths = []
    for item in value.split(";"):
        if not item:
            continue
        path = confined(
            item,
            base=files.model_dir,
            root=files.model_dir,  # code: the model's own directory, not just the repository
            root_place="the model directory",
            what=where,
            place="the model directory",
            problems=problems,
        )
        if path is None:
            return None
        paths.append(os.path.abspath(path))
    return ";".join(paths)
