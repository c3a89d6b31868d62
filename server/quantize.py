"""`naiad quantize MODEL.onnx OUT.onnx`: an INT8 copy of an FP32 model, with a size and accuracy
report.

dynamic mode quantizes MatMul/Gemm weights and needs no data. static mode writes a QDQ model
calibrated on --calibration (.npy for a single-input model, .npz with one array per input
name; arrays are either a stack of complete inputs or rows of a batch) or, without it, on
random data generated from the model's input signature (variable dimensions set to 1) — a
stand-in that gives usable but not the best scales. Calibration is MinMax: activations of
inputs beyond the calibrated ranges clip, so calibrate on data like what will be served.
Only ops carrying weights are quantized by default (--op-types widens that).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

DEFAULT_NUM_CALIBRATION = 32
DESCRIPTION = "Writes an INT8 copy of an FP32 ONNX model; reports size and output difference."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the quantize command's arguments to `parser` (for the naiad CLI)."""
    parser.add_argument("model", type=Path, help="FP32 ONNX model to quantize")
    parser.add_argument("output", type=Path, help="where to write the INT8 model")
    parser.add_argument("--mode", choices=("dynamic", "static"), default="dynamic")
    parser.add_argument(
        "--calibration",
        type=Path,
        help="static mode: .npy (single-input model) or .npz (one array per input name)",
    )
    parser.add_argument(
        "--num-calibration",
        type=int,
        default=DEFAULT_NUM_CALIBRATION,
        help="static mode: calibration rows to use, or random samples to generate "
        f"(default {DEFAULT_NUM_CALIBRATION})",
    )
    parser.add_argument(
        "--sample",
        type=Path,
        help=".npz of inputs by name: run both models and report the output difference",
    )
    parser.add_argument("--per-channel", action="store_true", help="per-channel weight scales")
    parser.add_argument("--weight-type", choices=("int8", "uint8"), default="int8")
    parser.add_argument(
        "--op-types",
        help="comma-separated ONNX op types to quantize (default: MatMul,Gemm for dynamic, "
        "Conv,MatMul,Gemm for static; the rest stays FP32)",
    )


def main(argv: list[str]) -> int:
    """Runs `naiad quantize` with `argv` (without the program and command names)."""
    parser = argparse.ArgumentParser(prog="naiad quantize", description=DESCRIPTION)
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return int(exc.code or 0)
    return run(args)


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Quantizes as `args` say and prints the report (to stdout unless `out` is given); 0 on
    success, 1 with a one-line message (to stderr unless `err` is given) on error."""
    try:
        _quantize(args, out or sys.stdout)
    except Exception as exc:  # a command-line tool: every failure becomes one readable line
        message = " ".join(str(exc).split())
        print(f"naiad quantize: error: {message}", file=err or sys.stderr)
        return 1
    return 0


def _quantize(args: argparse.Namespace, out: TextIO) -> None:
    # Imported here so that building the CLI parser does not load onnx and onnxruntime.
    from naiad.runtime import calibration, quantization

    source, target = Path(args.model), Path(args.output)
    if not source.is_file():
        raise ValueError(f"{source} is not a file")
    if source.resolve() == target.resolve():
        raise ValueError("the output must not overwrite the input model")
    if args.mode == "dynamic" and args.calibration is not None:
        raise ValueError("--calibration applies to --mode static only")
    if args.num_calibration < 1:
        raise ValueError("--num-calibration must be at least 1")
    signature = calibration.input_signature(source)
    sample = None if args.sample is None else calibration.load_arrays(args.sample, signature)
    notes: list[str] = []
    default_ops = quantization.DYNAMIC_OP_TYPES
    if args.mode == "static":
        default_ops = quantization.STATIC_OP_TYPES
    ops = _op_types(args.op_types, default_ops)
    if args.mode == "dynamic":
        quantization.quantize_dynamic(
            source, target, args.weight_type, args.per_channel, notes, ops
        )
        how = "dynamic"
    else:
        arrays = None
        if args.calibration is not None:
            arrays = calibration.load_arrays(args.calibration, signature)
        feeds = calibration.calibration_feeds(signature, arrays, args.num_calibration)
        quantization.quantize_static(
            source, target, feeds, args.weight_type, args.per_channel, notes, ops
        )
        data = args.calibration or "random data from the input signature"
        how = f"static QDQ, {len(feeds)} calibration batch(es) from {data}"
    scales = "per-channel" if args.per_channel else "per-tensor"
    print(
        f"quantized {source} -> {target} ({how}; {args.weight_type} {scales} weights; "
        f"ops {','.join(ops)})",
        file=out,
    )
    for note in notes:
        print(f"note: {note}", file=out)
    before, after = quantization.model_bytes(source), quantization.model_bytes(target)
    print(f"size: {before} -> {after} bytes ({after / before:.3f}x)", file=out)
    if sample is not None:
        _compare(source, target, sample, out)


def _op_types(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if text is None:
        return default
    ops = tuple(op.strip() for op in text.split(",") if op.strip())
    if not ops:
        raise ValueError("--op-types names no op type")
    return ops


def _compare(source: Path, target: Path, inputs: dict[str, Any], out: TextIO) -> None:
    import numpy as np

    from naiad.runtime.onnx import run_on_cpu

    reference = run_on_cpu(str(source), inputs)
    quantized = run_on_cpu(str(target), inputs)
    print(f"difference on the sample (FP32 vs INT8, {len(reference)} output(s)):", file=out)
    for name, ref in reference.items():
        got = quantized[name]
        if ref.dtype.kind != "f":
            same = int(np.count_nonzero(ref == got))
            print(f"  {name}: {same}/{ref.size} elements equal", file=out)
            continue
        diff = np.abs(ref.astype(np.float64) - got.astype(np.float64))
        line = (
            f"  {name}: max abs diff {diff.max():.6g}, mean abs diff {diff.mean():.6g} "
            f"(FP32 max abs {np.abs(ref).max():.6g})"
        )
        if ref.ndim == 2 and ref.shape[1] > 1:
            agree = int(np.count_nonzero(ref.argmax(axis=1) == got.argmax(axis=1)))
            line += f"; argmax agreement {agree}/{ref.shape[0]} ({100 * agree / ref.shape[0]:.1f}%)"
        print(line, file=out)
