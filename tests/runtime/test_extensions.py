"""onnxruntime-extensions' custom operators, registered when a model's config asks for them."""

from __future__ import annotations

import asyncio
import importlib.util
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from naiad.datatypes import BY_WIRE
from naiad.engine.context import INTERNAL
from naiad.engine.engine import Engine
from naiad.engine.loader import load_served_model
from naiad.engine.request import InferInput, InferRequest
from naiad.repository.manager import ModelRepository
from naiad.repository.types import ModelState

# Not importorskip: importing the package would set PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION for
# this process and every server and fuzz worker the later tests start.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime_extensions") is None, reason="needs naiad[extensions]"
)
PROTOBUF_CHOICE = "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"

CONFIG = """
max_batch_size: 4
input [ {{ name: "TEXT" data_type: TYPE_STRING dims: [ 1 ] }} ]
output [ {{ name: "CLEAN" data_type: TYPE_STRING dims: [ 1 ] }} ]
{parameters}
"""
ON = 'parameters { key: "onnxruntime_extensions" value: { string_value: "true" } }'


def text_cleaner(path: Path) -> None:
    """Strips what is not a letter or a space, then lower-cases: two ai.onnx.contrib ops."""
    nodes = [
        helper.make_node("StringRegexReplace", ["TEXT", "pattern", "rewrite"], ["kept"],
                         domain="ai.onnx.contrib"),
        helper.make_node("StringLower", ["kept"], ["CLEAN"], domain="ai.onnx.contrib"),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "text_cleaner",
        [helper.make_tensor_value_info("TEXT", TensorProto.STRING, ["batch", 1])],
        [helper.make_tensor_value_info("CLEAN", TensorProto.STRING, ["batch", 1])],
        initializer=[
            helper.make_tensor("pattern", TensorProto.STRING, [1], [b"[^A-Za-z ]"]),
            helper.make_tensor("rewrite", TensorProto.STRING, [1], [b""]),
        ],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.contrib", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 9
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


async def test_custom_operators_serve_when_the_config_asks_and_fail_clearly_otherwise(
    tmp_path: Path,
) -> None:
    root = tmp_path / "repo"
    for name, parameters in (
        ("cleaner", ON),
        ("cleaner_without", ""),
        ("cleaner_bad", ON.replace('"true"', '"sometimes"')),
    ):
        text_cleaner(root / name / "1" / "model.onnx")
        (root / name / "config.pbtxt").write_text(CONFIG.format(parameters=parameters))
    choice_before = os.environ.get(PROTOBUF_CHOICE)
    repository = ModelRepository(str(root), factory=load_served_model)
    await asyncio.to_thread(repository.start)
    try:
        # Registering the operators must not switch protobuf to pure Python for the processes
        # the server starts afterwards (importing onnxruntime_extensions does exactly that).
        assert os.environ.get(PROTOBUF_CHOICE) == choice_before
        engine = Engine(repository)
        text = np.array([[b"Hello, World!"], [b"naiad 2.0 SERVES"]], dtype=np.object_)
        request = InferRequest(
            "cleaner", "", "t", [InferInput("TEXT", BY_WIRE["BYTES"], (2, 1), text)]
        )
        answer = await engine.submit(request, INTERNAL)
        assert answer.outputs[0].data.tolist() == [[b"hello world"], [b"naiad  serves"]]
        rows = {e.name: e for e in repository.index()}
        assert rows["cleaner_without"].state is ModelState.UNAVAILABLE
        assert "StringRegexReplace" in rows["cleaner_without"].reason
        assert "onnxruntime_extensions must be 'true' or 'false'" in rows["cleaner_bad"].reason
    finally:
        await asyncio.to_thread(repository.stop)
