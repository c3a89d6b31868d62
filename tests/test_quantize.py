"""`naiad quantize` on an MLP built here: smaller file, outputs close to FP32, a readable report."""

from __future__ import annotations

import re
from pathlib import Path

import modelgen
import numpy as np
import onnx
import pytest

from naiad.quantize import main
from naiad.runtime.onnx import run_on_cpu

NUM_IN, HIDDEN, NUM_OUT = 256, 512, 10


@pytest.fixture(scope="module")
def fp32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return modelgen.mlp(tmp_path_factory.mktemp("mlp") / "mlp.onnx", NUM_IN, HIDDEN, NUM_OUT)


@pytest.fixture(scope="module")
def sample(fp32: Path) -> Path:
    path = fp32.parent / "sample.npz"
    np.savez(path, INPUT0=np.random.default_rng(1).standard_normal((64, NUM_IN)))
    return path


def _quantize(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


X = np.random.default_rng(2).standard_normal((32, NUM_IN)).astype(np.float32)


def _assert_close(fp32: Path, int8: Path, tolerance: float) -> None:
    """INT8 outputs within `tolerance` x the FP32 outputs' scale, and the same top class."""
    want = run_on_cpu(str(fp32), {"INPUT0": X})["OUTPUT0"]
    np.testing.assert_allclose(want, modelgen.mlp_reference(X, NUM_IN, HIDDEN, NUM_OUT), atol=1e-5)
    got = run_on_cpu(str(int8), {"INPUT0": X})["OUTPUT0"]
    assert np.abs(got - want).max() <= tolerance * np.abs(want).max()
    assert np.count_nonzero(got.argmax(axis=1) == want.argmax(axis=1)) >= 0.9 * len(X)


def _report_diff(out: str) -> tuple[float, float, int]:
    match = re.search(
        r"OUTPUT0: max abs diff ([\d.e-]+), mean abs diff ([\d.e-]+) .*argmax agreement (\d+)/64",
        out,
    )
    assert match, out
    return float(match[1]), float(match[2]), int(match[3])


def test_dynamic(fp32: Path, sample: Path, tmp_path: Path, capsys) -> None:
    out_path = tmp_path / "dynamic.onnx"
    code, out, err = _quantize(capsys, fp32, out_path, "--sample", sample)
    assert (code, err) == (0, "")
    assert out_path.stat().st_size < 0.35 * fp32.stat().st_size
    ops = {node.op_type for node in onnx.load(str(out_path)).graph.node}
    assert "MatMulInteger" in ops and "MatMul" not in ops
    assert (
        f"quantized {fp32} -> {out_path} (dynamic; int8 per-tensor weights; ops MatMul,Gemm)" in out
    )
    size = re.search(r"size: (\d+) -> (\d+) bytes \((0\.\d{3})x\)", out)
    assert size and int(size[1]) == fp32.stat().st_size and int(size[2]) == out_path.stat().st_size
    max_diff, mean_diff, agree = _report_diff(out)
    assert mean_diff <= max_diff <= 0.05 and agree >= 56
    _assert_close(fp32, out_path, tolerance=0.05)


def test_static_random_calibration(fp32: Path, tmp_path: Path, capsys) -> None:
    out_path = tmp_path / "static.onnx"
    code, out, err = _quantize(capsys, fp32, out_path, "--mode", "static", "--per-channel")
    assert (code, err) == (0, "")
    assert "static QDQ, 32 calibration batch(es) from random data" in out
    assert "int8 per-channel weights" in out
    ops = {node.op_type for node in onnx.load(str(out_path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert out_path.stat().st_size < 0.35 * fp32.stat().st_size
    # Random calibration is a stand-in: activations of real inputs may exceed the ranges it
    # saw and clip, hence a looser bound than with calibration data.
    _assert_close(fp32, out_path, tolerance=0.1)


def test_static_calibration_file(fp32: Path, sample: Path, tmp_path: Path, capsys) -> None:
    # MinMax calibration: the data must cover the inputs checked, or their activations clip.
    rows = np.random.default_rng(3).standard_normal((100, NUM_IN)).astype(np.float32)
    calibration = tmp_path / "calibration.npy"
    np.save(calibration, np.concatenate([rows, X, np.load(sample)["INPUT0"]]))
    out_path = tmp_path / "static.onnx"
    code, out, err = _quantize(
        capsys, fp32, out_path, "--mode", "static", "--calibration", calibration,
        "--num-calibration", 196, "--sample", sample, "--weight-type", "uint8",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert f"13 calibration batch(es) from {calibration}" in out  # 196 rows, 16 per batch
    assert "uint8 per-tensor weights; ops Conv,MatMul,Gemm" in out
    max_diff, _, agree = _report_diff(out)
    assert max_diff <= 0.05 * 0.5 and agree >= 60
    _assert_close(fp32, out_path, tolerance=0.05)


def test_calibration_stack_of_inputs(fp32: Path, tmp_path: Path, capsys) -> None:
    """An .npz whose array has one more dimension than the input: a stack of whole inputs."""
    calibration = tmp_path / "stack.npz"
    np.savez(calibration, INPUT0=np.random.default_rng(4).standard_normal((5, 3, NUM_IN)))
    code, out, err = _quantize(
        capsys, fp32, tmp_path / "s.onnx", "--mode", "static", "--calibration", calibration
    )
    assert (code, err) == (0, "")
    assert "5 calibration batch(es)" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["missing.onnx", "out.onnx"], "missing.onnx is not a file"),
        (["{fp32}", "out.onnx", "--calibration", "c.npy"], "applies to --mode static only"),
        (["{fp32}", "{fp32}"], "must not overwrite the input model"),
        (
            ["{fp32}", "out.onnx", "--mode", "static", "--calibration", "{bad}"],
            "has no array for input(s) INPUT0",
        ),
        (["{fp32}", "out.onnx", "--sample", "{bad}"], "has no array for input(s) INPUT0"),
        (["{junk}", "out.onnx"], "error: "),
    ],
)
def test_errors_are_one_line_and_exit_1(fp32, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.npz"
    np.savez(bad, other=np.zeros((2, NUM_IN), np.float32))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    argv = [a.format(fp32=fp32, bad=bad, junk=junk) for a in args]
    code, out, err = _quantize(capsys, *argv)
    assert code == 1 and not (tmp_path / "out.onnx").exists()
    assert err.startswith("naiad quantize: error: ") and message in err
    assert err.count("\n") == 1


def test_usage_errors_exit_2(capsys) -> None:
    code, _, err = _quantize(capsys, "only-one-argument.onnx")
    assert code == 2 and "usage: naiad quantize" in err
    code, _, _ = _quantize(capsys, "a.onnx", "b.onnx", "--mode", "fancy")
    assert code == 2
