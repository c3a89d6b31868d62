"""`naiad import SOURCE --model-repository DIR --name NAME`: the CLI of naiad.importer."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from naiad.importer.parity import DEFAULT_MAX_ABS_DIFF, ParityReport, compare
from naiad.importer.samples import Sample, read_sample
from naiad.importer.sources import FRAMEWORKS, ImportFailure, Source, load_source
from naiad.importer.tabular import Converted
from naiad.importer.writer import DEFAULT_MAX_BATCH_SIZE, build_config, write_model
from naiad.repository.layout import model_name_problem

DESCRIPTION = (
    "Converts a trained model (scikit-learn pickle or joblib file, XGBoost, LightGBM, PyTorch, "
    "TorchScript, ONNX) to ONNX and writes it into a model repository with a complete "
    "config.pbtxt. With --sample, runs both models on it and refuses to write a copy that "
    "disagrees beyond --max-abs-diff unless --force. Loading a pickle runs the code it "
    "contains: import only files you trust; only the file named is loaded."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the import command's arguments to `parser` (for the naiad CLI)."""
    parser.add_argument("source", type=Path, help="the trained model's file")
    parser.add_argument("--model-repository", type=Path, required=True)
    parser.add_argument("--name", required=True, help="the model's name in the repository")
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--framework", choices=FRAMEWORKS, help="default: detected")
    parser.add_argument(
        "--sample", type=Path, help=".csv with a header, .npy or .npz: parity check and warm-up"
    )
    parser.add_argument("--input-names", nargs="+", default=[], help="names of the ONNX inputs")
    parser.add_argument(
        "--input-shape",
        type=int,
        nargs="+",
        help="torch without --sample: one input's shape without the batch dimension",
    )
    parser.add_argument(
        "--dynamic-batch",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="batch requests together (max_batch_size and dynamic_batching in the config)",
    )
    parser.add_argument("--max-batch-size", type=int, default=DEFAULT_MAX_BATCH_SIZE)
    parser.add_argument("--opset", type=int, help="ONNX opset to convert to (converter default)")
    parser.add_argument(
        "--max-abs-diff",
        type=float,
        default=DEFAULT_MAX_ABS_DIFF,
        help="largest output difference the parity check accepts "
        f"(default {DEFAULT_MAX_ABS_DIFF:g})",
    )
    parser.add_argument("--force", action="store_true", help="write even when parity fails")


def run(args: argparse.Namespace) -> int:
    """Runs the import; prints what it did; 0 on success, 1 when refused or failed."""
    try:
        return _import(args, sys.stdout)
    except ImportFailure as exc:
        print(f"naiad import: {exc}", file=sys.stderr)
        return 1


def _import(args: argparse.Namespace, out: Any) -> int:
    problem = model_name_problem(args.name)
    if problem is not None:
        raise ImportFailure(problem)
    if args.version < 1:
        raise ImportFailure("--version must be 1 or more")
    if args.max_batch_size < 1:
        raise ImportFailure("--max-batch-size must be 1 or more")
    source = load_source(
        args.source, args.framework, warn=lambda text: print(text, file=sys.stderr)
    )
    sample = read_sample(args.sample) if args.sample is not None else None
    converted = _convert(source, sample, args)
    print(f"converted {source.path} ({source.framework}) to ONNX", file=out)
    report = None
    warmup = None
    if sample is not None and converted is not None:
        feeds = converted.feeds(sample)
        report = parity(converted, sample, feeds, args.max_abs_diff)
        for line in report.lines():
            print(line, file=out)
        warmup = feeds
        if not report.passed and not args.force:
            print(
                "naiad import: not written: the ONNX copy disagrees with the original beyond "
                "the threshold (--force writes it anyway)",
                file=sys.stderr,
            )
            return 1
    model = converted.model if converted is not None else source.model
    config = build_config(
        model,
        name=args.name,
        dynamic_batch=args.dynamic_batch,
        max_batch_size=args.max_batch_size,
        warmup=warmup,
    )
    path = write_model(args.model_repository, args.name, args.version, model, config, warmup)
    print(f"wrote {path} and {path.parent.parent / 'config.pbtxt'}", file=out)
    return 0


def parity(
    converted: Converted, sample: Sample, feeds: dict[str, np.ndarray], threshold: float
) -> ParityReport:
    """Both models on `sample`; the ONNX copy through ONNX Runtime on CPU."""
    from naiad.runtime.onnx import run_on_cpu  # the one module that imports onnxruntime

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "model.onnx"
        onnx.save(converted.model, str(path))
        answers = run_on_cpu(str(path), feeds)
    return compare(converted.original(sample), answers, threshold)


def _convert(source: Source, sample: Sample | None, args: argparse.Namespace) -> Converted | None:
    if source.framework == "onnx":
        return None
    if source.framework in ("torch", "torchscript"):
        from naiad.importer.torch_models import convert_torch

        return convert_torch(
            source.model,
            sample=sample,
            input_shape=args.input_shape,
            opset=args.opset,
            input_names=args.input_names,
        )
    from naiad.importer.tabular import convert_tabular

    return convert_tabular(
        source.framework, source.model, opset=args.opset, input_names=args.input_names
    )
