from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise
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


@dataclass(frozen=True)
class Overlap:
    both_progress: float
    """Share of 20 ms windows in which both threads' CPU clocks advanced."""
    max_sample_gap_s: float
    """Longest wait of a sampling thread that asks for the GIL every 5 ms."""
    run_wall_s: float
    """Median wall time of one run."""

    @property
    def concurrent(self) -> bool:
        return self.both_progress > 0.4 and self.max_sample_gap_s < 0.5 * self.run_wall_s


def _measure(run: Callable[[OnnxModel], object], models: list[OnnxModel]) -> Overlap:
    """Runs each model 3 times on its own thread while sampling both threads' CPU clocks."""
    for model in models:
        run(model)
    start = threading.Barrier(3)
    walls: list[float] = []

    def work(model: OnnxModel) -> None:
        start.wait()
        for _ in range(3):
            t0 = time.perf_counter()
            run(model)
            walls.append(time.perf_counter() - t0)

    workers = [threading.Thread(target=work, args=(m,)) for m in models]
    for w in workers:
        w.start()
    clocks = [time.pthread_getcpuclockid(w.ident) for w in workers]  # type: ignore[arg-type]
    start.wait()
    samples = []
    while all(w.is_alive() for w in workers):
        try:
            samples.append((time.perf_counter(), [time.clock_gettime(c) for c in clocks]))
        except OSError:  # a worker finished between is_alive() and reading its clock
            break
        time.sleep(0.005)
    for w in workers:
        w.join()
    windows, begin = [], samples[0]
    for sample in samples[1:]:
        if sample[0] - begin[0] >= 0.02:
            windows.append(min(b - a for a, b in zip(begin[1], sample[1], strict=True)) > 2e-4)
            begin = sample
    gaps = [b[0] - a[0] for a, b in pairwise(samples)]
    share = sum(windows) / len(windows) if windows else 0.0
    return Overlap(share, max(gaps, default=0.0), sorted(walls)[len(walls) // 2])


def test_instances_run_concurrently(heavy_instances) -> None:
    """Two single-threaded instances, called from two Python threads, compute at the same time.

    Wall-clock start/end stamps around run() overlap even when runs are serialised (a thread
    stamps its end only after winning the GIL back), so overlap is read from the threads' CPU
    clocks: both make progress in most 20 ms windows, and a third Python thread keeps getting
    the GIL during runs. Progress, not full speed, so a busy machine does not fail the test.
    """
    x = {"x": np.ones((ROWS, WIDTH), np.float32)}
    overlap = _measure(lambda m: m.run(x, ["y"]), heavy_instances)
    assert overlap.concurrent, overlap


@pytest.mark.parametrize("serialise", ["lock", "gil"])
def test_overlap_measure_sees_serialised_runs(heavy_instances, serialise) -> None:
    """Controls: one lock around run(), or a run that holds the GIL, fail the measure."""
    x = {"x": np.ones((ROWS, WIDTH), np.float32)}
    lock = threading.Lock()
    data = list(np.random.default_rng(0).random(300_000))

    def serialised(model: OnnxModel) -> None:
        if serialise == "lock":
            with lock:
                model.run(x, ["y"])
        else:
            sorted(data)  # C code that keeps the GIL throughout

    overlap = _measure(serialised, heavy_instances)
    assert not overlap.concurrent, overlap


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
