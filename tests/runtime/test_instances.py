from __future__ import annotations

import logging
from pathlib import Path

import modelgen
import pytest

from naiad.config.settings import (
    ExecutionOptions,
    InstanceGroup,
    InstanceKind,
    ModelSettings,
)
from naiad.errors import ModelLoadError
from naiad.runtime import onnx as ort_runtime
from naiad.runtime.instances import effective_instance_groups, plan_instances
from naiad.runtime.providers import CPU, CUDA, OPENVINO, TENSORRT

GPU_BUILD = [TENSORRT, CUDA, CPU]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return modelgen.identity(tmp_path / "model.onnx", "FP32", [4])


def _settings(make, model: Path, *groups: InstanceGroup, **execution) -> ModelSettings:
    return make(model, groups=groups, execution=ExecutionOptions(**execution))


def _runtime_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "naiad.runtime" and r.levelno >= logging.WARNING]


def test_cpu_group_plans_count_instances_with_budgeted_threads(make_settings, model) -> None:
    settings = _settings(make_settings, model, InstanceGroup("g", count=2, kind=InstanceKind.CPU))
    plans = plan_instances(settings, cpu_budget=2, gpu_count=0, available_providers=[CPU])
    assert [p.name for p in plans] == ["g_0", "g_1"]
    assert all(p.kind is InstanceKind.CPU and p.device_id is None for p in plans)
    assert all(p.providers == ((CPU, {}),) for p in plans)
    assert [p.intra_op_threads for p in plans] == [1, 1]


@pytest.mark.parametrize("count,threads", [(1, 2), (2, 1), (4, 1)])
def test_threads_for_instances_on_budget_2(make_settings, model, count: int, threads: int) -> None:
    settings = _settings(make_settings, model, InstanceGroup("g", count, InstanceKind.CPU))
    plans = plan_instances(settings, cpu_budget=2, gpu_count=0, available_providers=[CPU])
    assert len(plans) == count
    assert [p.intra_op_threads for p in plans] == [threads] * count
    # Within the budget, except that every instance needs at least one thread.
    assert count * threads <= max(2, count)


def test_default_group_is_one_auto_instance(make_settings, model) -> None:
    plans = plan_instances(
        make_settings(model), cpu_budget=4, gpu_count=0, available_providers=[CPU]
    )
    assert [(p.name, p.kind, p.intra_op_threads) for p in plans] == [("m_0_0", InstanceKind.CPU, 4)]
    assert plans[0].requested_kind is InstanceKind.AUTO


def test_gpu_without_gpu_falls_back_with_one_warning(make_settings, model, caplog) -> None:
    settings = _settings(make_settings, model, InstanceGroup("g", 3, InstanceKind.GPU))
    with caplog.at_level(logging.INFO, logger="naiad.runtime"):
        plans = plan_instances(settings, cpu_budget=2, gpu_count=0, available_providers=GPU_BUILD)
    assert [p.kind for p in plans] == [InstanceKind.CPU] * 3
    assert all(p.providers == ((CPU, {}),) for p in plans)
    assert all("requested KIND_GPU" in p.note for p in plans)
    warnings = _runtime_warnings(caplog)
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "model 'm' version 1" in message and "'g' (KIND_GPU)" in message
    assert "no GPU is visible" in message and f"3 instance(s) on {CPU}" in message
    assert effective_instance_groups(plans) == [InstanceGroup("g", 3, InstanceKind.CPU)]


def test_gpu_without_gpu_fails_when_fallback_disabled(make_settings, model, caplog) -> None:
    settings = _settings(
        make_settings, model, InstanceGroup("g", 1, InstanceKind.GPU), fallback_to_cpu=False
    )
    with pytest.raises(ModelLoadError) as err:
        plan_instances(settings, cpu_budget=2, gpu_count=0, available_providers=GPU_BUILD)
    assert "instance group 'g' (KIND_GPU) cannot run as configured" in err.value.message
    assert "no GPU is visible" in err.value.message and "fallback is disabled" in err.value.message
    assert not _runtime_warnings(caplog)


def test_listed_gpu_that_does_not_exist(make_settings, model) -> None:
    group = InstanceGroup("g", 1, InstanceKind.GPU, gpus=(0, 3))
    settings = _settings(make_settings, model, group, fallback_to_cpu=False)
    with pytest.raises(ModelLoadError, match=r"GPU 3 not visible \(2 GPU\(s\) visible\)"):
        plan_instances(settings, cpu_budget=2, gpu_count=2, available_providers=GPU_BUILD)


def test_real_probe_on_this_machine_is_quiet(make_settings, model, caplog, capfd) -> None:
    if ort_runtime.gpu_status().count > 0:
        pytest.skip("this machine has a usable GPU")
    settings = _settings(make_settings, model, InstanceGroup("g", 1, InstanceKind.GPU))
    plans = plan_instances(settings, cpu_budget=2)
    assert plans[0].kind is InstanceKind.CPU
    assert len(_runtime_warnings(caplog)) == 1
    assert ort_runtime.gpu_status().reason in _runtime_warnings(caplog)[0].getMessage()
    assert "onnxruntime" not in capfd.readouterr().err


def test_cuda_provider_probe_is_quiet_and_says_why(capfd) -> None:
    """The onnxruntime-gpu wheel lists CUDA even here; the probe session tells the truth."""
    if ort_runtime.gpu_status().count > 0:
        pytest.skip("this machine has a usable GPU")
    reason = ort_runtime.provider_problem(CUDA)
    assert reason and "onnxruntime" not in capfd.readouterr().err


def test_gpu_plan_with_tensorrt_and_cuda_options(make_settings, model) -> None:
    """Options arrive converted (config/execution.py); each instance adds its device id."""
    trt = {"trt_fp16_enable": "True", "trt_max_workspace_size": "1073741824"}
    cuda = {"gpu_mem_limit": "1000000", "cudnn_conv_algo_search": "HEURISTIC"}
    group = InstanceGroup("g", 2, InstanceKind.GPU, gpus=(0, 1))
    settings = make_settings(
        model,
        groups=(group,),
        execution=ExecutionOptions(tensorrt_options=trt, cuda_options=cuda),
    )
    plans = plan_instances(settings, cpu_budget=8, gpu_count=2, available_providers=GPU_BUILD)
    assert [(p.name, p.device_id) for p in plans] == [
        ("g_0", 0),
        ("g_1", 0),
        ("g_2", 1),
        ("g_3", 1),
    ]
    assert [p.intra_op_threads for p in plans] == [2] * 4
    last = plans[-1]
    assert last.kind is InstanceKind.GPU and last.provider_names == [TENSORRT, CUDA, CPU]
    assert last.providers[0][1] == {"device_id": "1", **trt}
    assert last.providers[1][1] == {"device_id": "1", **cuda}
    assert plans[0].providers[1][1]["device_id"] == "0"
    plans[0].providers[1][1]["device_id"] = "7"  # options are each plan's own, not the settings'
    assert "device_id" not in settings.execution.cuda_options
    assert effective_instance_groups(plans) == [InstanceGroup("g", 2, InstanceKind.GPU, (0, 1))]


def test_tensorrt_missing_from_build_falls_back_to_cuda(make_settings, model, caplog) -> None:
    settings = _settings(
        make_settings,
        model,
        InstanceGroup("g", 1, InstanceKind.GPU),
        tensorrt_options={},
    )
    plans = plan_instances(settings, cpu_budget=2, gpu_count=1, available_providers=[CUDA, CPU])
    assert plans[0].provider_names == [CUDA, CPU]
    assert len(_runtime_warnings(caplog)) == 1
    assert f"no {TENSORRT}" in _runtime_warnings(caplog)[0].getMessage()


def test_auto_prefers_gpu_and_model_kind_runs_on_cpu(make_settings, model) -> None:
    settings = _settings(
        make_settings,
        model,
        InstanceGroup("a", 1, InstanceKind.AUTO),
        InstanceGroup("b", 2, InstanceKind.MODEL),
    )
    plans = plan_instances(settings, cpu_budget=6, gpu_count=2, available_providers=GPU_BUILD)
    assert [(p.name, p.kind, p.device_id) for p in plans] == [
        ("a_0", InstanceKind.GPU, 0),
        ("a_1", InstanceKind.GPU, 1),
        ("b_0", InstanceKind.CPU, None),
        ("b_1", InstanceKind.CPU, None),
    ]
    assert "KIND_MODEL" in plans[2].note
    assert effective_instance_groups(plans) == [
        InstanceGroup("a", 1, InstanceKind.GPU, (0, 1)),
        InstanceGroup("b", 2, InstanceKind.CPU),
    ]


def test_openvino(make_settings, model, caplog) -> None:
    def settings(fallback: bool) -> ModelSettings:
        return _settings(
            make_settings,
            model,
            InstanceGroup("g", 1, InstanceKind.CPU),
            openvino_options={"device_type": "CPU"},
            fallback_to_cpu=fallback,
        )

    plans = plan_instances(settings(True), 2, gpu_count=0, available_providers=[OPENVINO, CPU])
    assert plans[0].providers == ((OPENVINO, {"device_type": "CPU"}), (CPU, {}))
    assert not _runtime_warnings(caplog)
    plans = plan_instances(settings(True), 2, gpu_count=0, available_providers=[CPU])
    assert plans[0].providers == ((CPU, {}),)
    assert len(_runtime_warnings(caplog)) == 1
    with pytest.raises(ModelLoadError, match=f"no {OPENVINO}"):
        plan_instances(settings(False), 2, gpu_count=0, available_providers=[CPU])


def test_no_accelerator_requested_is_plain_cpu_and_cuda(make_settings, model) -> None:
    cpu = _settings(make_settings, model, InstanceGroup("c", 1, InstanceKind.CPU))
    plans = plan_instances(cpu, 2, gpu_count=0, available_providers=[OPENVINO, CPU])
    assert plans[0].providers == ((CPU, {}),)
    gpu = _settings(make_settings, model, InstanceGroup("g", 1, InstanceKind.GPU))
    plans = plan_instances(gpu, 2, gpu_count=1, available_providers=GPU_BUILD)
    assert plans[0].provider_names == [CUDA, CPU]
