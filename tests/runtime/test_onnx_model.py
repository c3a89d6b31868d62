from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import modelgen
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from naiad.config.settings import ExecutionOptions, InstanceGroup, InstanceKind
from naiad.errors import InvalidArgument, ModelLoadError, NaiadError
from naiad.runtime import quantization
from naiad.runtime.instances import effective_instance_groups, plan_instances
from naiad.runtime.onnx import OnnxModel, load_instances, ort_error_gist
from naiad.runtime.providers import CPU, CUDA

WIDTH, LAYERS, ROWS = 1024, 12, 256


def heavy_model(path: Path) -> Path:
    """A chain of 1024x1024 MatMuls: tens of milliseconds per run on one thread."""
    w = np.random.default_rng(0).standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH)
    nodes, prev = [], "x"
    for i in range(LAYERS):
        nodes.append(helper.make_node("MatMul", [prev, "w"], [f"h{i}"]))
        prev = f"h{i}"
    nodes.append(helper.make_node("Identity", [prev], ["y"]))
    graph = helper.make_graph(
        nodes,
        "heavy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", WIDTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", WIDTH])],
        [numpy_helper.from_array(w.astype(np.float32), "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", modelgen.OPSET)])
    model.ir_version = modelgen.IR_VERSION
    onnx.save(model, str(path))
    return path


def _cpu_plans(settings, budget: int = 2):
    return plan_instances(settings, cpu_budget=budget, gpu_count=0, available_providers=[CPU])


def test_instances_run_and_describe_themselves(make_settings, tmp_path) -> None:
    path = modelgen.add_sub(tmp_path / "m.onnx", "FP32", [4])
    group = InstanceGroup("g", 2, InstanceKind.CPU)
    settings = make_settings(
        path, groups=(group,), execution=ExecutionOptions(graph_optimization_level=-1)
    )
    models = load_instances(settings, _cpu_plans(settings))
    assert [m.description for m in models] == [
        "g_0: CPUExecutionProvider, 1 intra-op thread",
        "g_1: CPUExecutionProvider, 1 intra-op thread",
    ]
    a = np.arange(8, dtype=np.float32).reshape(2, 4)
    b = np.ones((2, 4), np.float32)
    for model in models:
        diff, total = model.run({"INPUT0": a, "INPUT1": b}, ["OUTPUT1", "OUTPUT0"])
        np.testing.assert_array_equal(total, a + b)
        np.testing.assert_array_equal(diff, a - b)
        model.close()
    with pytest.raises(NaiadError, match="closed"):
        models[0].run({"INPUT0": a, "INPUT1": b}, ["OUTPUT0"])


@pytest.mark.parametrize(("spinning", "allowed"), [(None, "0"), (True, "1")])
def test_sessions_spin_only_when_the_plan_says(make_settings, tmp_path, spinning, allowed) -> None:
    """The default plan on 2 cores gives the session both cores, so its threads do not spin."""
    path = modelgen.add_sub(tmp_path / "m.onnx", "FP32", [4])
    settings = make_settings(
        path,
        groups=(InstanceGroup("g", 1, InstanceKind.CPU),),
        execution=ExecutionOptions(thread_spinning=spinning),
    )
    [model] = load_instances(settings, _cpu_plans(settings, budget=2))
    options = model._session.get_session_options()
    for key in ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning"):
        assert options.get_session_config_entry(key) == allowed
    model.close()


@pytest.fixture(scope="module")
def heavy_instances(make_settings, tmp_path_factory):
    settings = make_settings(
        heavy_model(tmp_path_factory.mktemp("heavy") / "heavy.onnx"),
        groups=(InstanceGroup("g", 2, InstanceKind.CPU),),
        max_batch_size=ROWS,
    )
    models = load_instances(settings, _cpu_plans(settings, budget=2))
    assert [m.plan.intra_op_threads for m in models] == [1, 1]
    yield models
    for model in models:
        model.close()


LONG = {"x": np.ones((ROWS, WIDTH), np.float32)}
SHORT = {"x": np.ones((1, WIDTH), np.float32)}
"""1/256 of LONG's work: one row against 256."""
Run = Callable[[OnnxModel, dict[str, np.ndarray]], object]


def _short_run_nests_in_a_long_one(run: Run, models: list[OnnxModel], attempts: int = 5) -> bool:
    """Whether, in one of `attempts`, the second instance runs all of SHORT while the first is
    inside run(LONG).

    The GIL switch interval is raised beyond any run here, so a thread gives the GIL up only
    where it blocks or C code releases it. The first thread signals just before it calls run()
    and keeps the GIL until something inside run() lets it go; the second starts its run only
    then, and once it is done looks whether the first has returned. Runs serialised by a lock
    or by holding the GIL can never nest, whatever the timing; concurrent runs nest unless a
    run 256 times longer ends first on every attempt.
    """
    for model in models:
        run(model, SHORT)  # warm-up: first runs allocate
    interval = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        return any(_nests_once(run, models) for _ in range(attempts))
    finally:
        sys.setswitchinterval(interval)


def _nests_once(run: Run, models: list[OnnxModel]) -> bool:
    calling, long_done = threading.Event(), threading.Event()
    nested: list[bool] = []

    def long() -> None:
        calling.set()
        run(models[0], LONG)
        long_done.set()

    def short() -> None:
        calling.wait()
        run(models[1], SHORT)
        nested.append(not long_done.is_set())

    threads = [threading.Thread(target=short), threading.Thread(target=long)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a run did not end"
    return nested == [True]


def test_instances_run_concurrently(heavy_instances) -> None:
    """Two single-threaded instances, called from two Python threads, run at the same time:
    neither run() holds the GIL nor a lock the other needs, so a short batch on one instance
    finishes while a long one runs on the other."""
    assert _short_run_nests_in_a_long_one(lambda m, x: m.run(x, ["y"]), heavy_instances)


@pytest.mark.parametrize("serialise", ["lock", "gil"])
def test_nesting_measure_sees_serialised_runs(heavy_instances, serialise) -> None:
    """Controls: one lock around run(), or a run that holds the GIL, fail the measure."""
    lock = threading.Lock()
    data = list(np.random.default_rng(0).random(300_000))

    def serialised(model: OnnxModel, x: dict[str, np.ndarray]) -> None:
        if serialise == "lock":
            with lock:
                model.run(x, ["y"])
        else:
            sorted(data)  # C code that keeps the GIL throughout

    assert not _short_run_nests_in_a_long_one(serialised, heavy_instances)


def test_bytes_tensors_cross_as_bytes(make_settings, tmp_path) -> None:
    path = modelgen.identity(tmp_path / "s.onnx", "BYTES", [2])
    settings = make_settings(path)
    (model,) = load_instances(settings, _cpu_plans(settings))
    data = np.array([[b"", "é".encode()], [b"abc", b"x"]], dtype=object)
    (out,) = model.run({"INPUT0": data}, ["OUTPUT0"])
    assert out.dtype == object and out.shape == (2, 2)
    assert out.tolist() == data.tolist()
    with pytest.raises(InvalidArgument, match="UTF-8"):
        model.run({"INPUT0": np.array([[b"\xff", b""]], dtype=object)}, ["OUTPUT0"])


def test_run_errors_are_naiad_errors(make_settings, tmp_path) -> None:
    settings = make_settings(modelgen.identity(tmp_path / "m.onnx", "FP32", [4]))
    (model,) = load_instances(settings, _cpu_plans(settings))
    with pytest.raises(InvalidArgument, match="onnxruntime"):
        model.run({"INPUT0": np.zeros((1, 4), np.int32)}, ["OUTPUT0"])


def test_unloadable_model_is_a_load_error(make_settings, tmp_path) -> None:
    settings = make_settings(modelgen.identity(tmp_path / "m.onnx", "FP32", [4]))
    (tmp_path / "m.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="onnxruntime cannot load"):
        load_instances(settings, _cpu_plans(settings))


@pytest.mark.parametrize("fallback", [True, False])
def test_session_without_requested_provider(make_settings, tmp_path, caplog, fallback) -> None:
    """A plan that asks for CUDA where onnxruntime cannot register it (no GPU here)."""
    settings = make_settings(
        modelgen.identity(tmp_path / "m.onnx", "FP32", [4]),
        groups=(InstanceGroup("g", 1, InstanceKind.GPU),),
        execution=ExecutionOptions(fallback_to_cpu=fallback),
    )
    (plan,) = plan_instances(settings, cpu_budget=2, gpu_count=1, available_providers=[CUDA, CPU])
    assert plan.provider_names == [CUDA, CPU]
    if not fallback:
        with pytest.raises(ModelLoadError, match=f"did not register {CUDA}"):
            OnnxModel(settings, plan)
        return
    with caplog.at_level(logging.WARNING, logger="naiad.runtime"):
        model = OnnxModel(settings, plan)
    if CUDA in model.plan.provider_names:
        pytest.skip("this machine runs CUDA")
    assert model.plan.kind is InstanceKind.CPU and model.plan.device_id is None
    assert len([r for r in caplog.records if r.name == "naiad.runtime"]) == 1
    assert effective_instance_groups([model.plan]) == [InstanceGroup("g", 1, InstanceKind.CPU)]
    assert replace(model.plan, note="") != replace(plan, note="")


def test_error_gist() -> None:
    lines = [
        "2026-01-01 [W:onnxruntime:Default, x.cc:1 f] No registered plugin EP device found",
        "2026-01-01 [E:onnxruntime:Default, provider_bridge_ort.cc:2458 operator()] "
        "/src/provider_bridge_ort.cc:2043 Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load "
        "library /venv/onnxruntime/capi/libonnxruntime_providers_cuda.so with error: "
        "libcublasLt.so.13: cannot open shared object file: No such file or directory",
    ]
    assert ort_error_gist(lines) == (
        "Failed to load library libonnxruntime_providers_cuda.so with error: "
        "libcublasLt.so.13: cannot open shared object file: No such file or directory"
    )
    assert ort_error_gist([]) == ""


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_int8_models_serve_like_any_other(make_settings, tmp_path, mode) -> None:
    fp32 = modelgen.mlp(tmp_path / "fp32.onnx", 64, 128, 10)
    int8 = tmp_path / "int8.onnx"
    notes: list[str] = []
    if mode == "dynamic":
        quantization.quantize_dynamic(fp32, int8, "int8", False, notes)
    else:
        rows = np.random.default_rng(0).standard_normal((8, 16, 64)).astype(np.float32)
        quantization.quantize_static(
            fp32, int8, [{"INPUT0": r} for r in rows], "int8", False, notes
        )
    settings = make_settings(int8, groups=(InstanceGroup("g", 2, InstanceKind.CPU),))
    x = np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)
    want = modelgen.mlp_reference(x, 64, 128, 10)
    for model in load_instances(settings, _cpu_plans(settings)):
        (got,) = model.run({"INPUT0": x}, ["OUTPUT0"])
        assert np.abs(got - want).max() < 0.05 * want.max()
