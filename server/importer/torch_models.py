"""PyTorch and TorchScript modules to ONNX with torch.onnx.export, the batch axis dynamic.

The example input comes from the sample (its first rows) or from --input-shape (zeros). A
module answering one tensor has the output `output`; one answering a tuple, `output0`,
`output1`, ... Inputs are named by --input-names, the sample's array names, or `input`.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from naiad.importer.samples import Sample
from naiad.importer.sources import ImportFailure
from naiad.importer.tabular import Converted

DEFAULT_OPSET = 17


def convert_torch(
    module: Any,
    *,
    sample: Sample | None,
    input_shape: Sequence[int] | None,
    opset: int | None,
    input_names: Sequence[str],
) -> Converted:
    """Exports `module` (an nn.Module or a TorchScript ScriptModule) with a dynamic batch axis."""
    import torch

    examples = _examples(sample, input_shape)
    names = (
        list(input_names) or [n or "input" for n in examples]
        if len(examples) == 1
        else list(input_names or examples)
    )
    if len(names) != len(examples):
        raise ImportFailure(f"{len(names)} input names for {len(examples)} inputs")
    module.eval()
    tensors = tuple(torch.from_numpy(a[:2]) for a in examples.values())
    with torch.no_grad():
        answer = module(*tensors)
    count = len(answer) if isinstance(answer, tuple | list) else 1
    outputs = ["output"] if count == 1 else [f"output{i}" for i in range(count)]
    axes = {name: {0: "batch"} for name in [*names, *outputs]}
    try:
        with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
            # The TorchScript-based exporter announces its deprecation and narrates what it
            # skips; it is still the one that needs no onnxscript and takes dynamic_axes as
            # given. Its failures raise, and the parity check judges its result.
            warnings.simplefilter("ignore")
            path = Path(scratch) / "model.onnx"
            torch.onnx.export(
                module,
                tensors,
                str(path),
                input_names=names,
                output_names=outputs,
                dynamic_axes=axes,
                opset_version=opset or DEFAULT_OPSET,
                dynamo=False,
            )
            # Loaded with its weights inside, whatever the exporter wrote beside the file.
            model = onnx.load(str(path))
    except Exception as exc:  # the exporter raises many kinds for unsupported modules
        raise ImportFailure(f"torch.onnx.export cannot export this module: {exc}") from None
    keys = list(examples)

    def feeds(given: Sample) -> dict[str, np.ndarray]:
        arrays = _arrays(given)
        return {name: arrays[key] for name, key in zip(names, keys, strict=True)}

    def original(given: Sample) -> dict[str, np.ndarray]:
        arrays = _arrays(given)
        with torch.no_grad():
            result = module(*(torch.from_numpy(arrays[k]) for k in keys))
        results = result if isinstance(result, tuple | list) else (result,)
        return {name: r.numpy() for name, r in zip(outputs, results, strict=True)}

    return Converted(model, feeds, original)


def _examples(sample: Sample | None, input_shape: Sequence[int] | None) -> dict[str, np.ndarray]:
    if sample is not None:
        return _arrays(sample)
    if input_shape:
        return {"": np.zeros((1, *input_shape), np.float32)}
    raise ImportFailure("a torch model needs an example input: give --sample or --input-shape")


def _arrays(sample: Sample) -> dict[str, np.ndarray]:
    if sample.arrays is not None:
        return {k: np.ascontiguousarray(v) for k, v in sample.arrays.items()}
    return {"": sample.matrix()}
