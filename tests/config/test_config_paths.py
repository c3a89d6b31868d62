"""Paths named by a config or a model file stay inside the model's directory and repository.

Each refused case would otherwise read or write a real file outside `repo/` (the targets
exist and are valid), so a check that stopped refusing makes its test fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import modelgen
import numpy as np
import pytest
from google.protobuf import json_format
from onnx import TensorProto, helper, numpy_helper

from naiad.config.complete import complete_identity
from naiad.config.parse import parse_config_json, parse_config_text
from naiad.config.paths import ModelFiles, escapes, relative_path_problem
from naiad.config.prepare import prepare_version
from naiad.config.settings import ModelSettings, WarmupSource
from naiad.config.signature import read_signature
from naiad.config.validate import validate_identity
from naiad.errors import ModelLoadError

OUTSIDE = "leads outside the model repository through a symbolic link"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """repo/m/1/model.onnx (FP32 [4], batching); tmp_path/outside/ holds valid files."""
    modelgen.identity(tmp_path / "repo" / "m" / "1" / "model.onnx", "FP32", [4])
    outside = tmp_path / "outside"
    modelgen.identity(outside / "model.onnx", "FP32", [4])
    (outside / "data.bin").write_bytes(np.ones(4, np.float32).tobytes())
    (outside / "lib.so").write_bytes(b"\x7fELF")
    return tmp_path / "repo"


def prepare(repo: Path, text: str, files: ModelFiles | None = None) -> ModelSettings:
    raw = parse_config_text(text, model="m")
    path = repo / "m" / "1" / "model.onnx"
    return prepare_version(raw, path, name="m", version=1, files=files).settings


def refused(repo: Path, text: str, files: ModelFiles | None = None) -> str:
    with pytest.raises(ModelLoadError) as info:
        prepare(repo, text, files)
    return info.value.message


def warmup(data_file: str) -> str:
    return (
        'model_warmup [{ name: "w" batch_size: 1 inputs { key: "INPUT0" value { '
        f'data_type: TYPE_FP32 dims: [ 4 ] input_data_file: "{data_file}" }} }} }}]'
    )


def tensorrt(**parameters: str) -> str:
    listed = ", ".join(f'{{ key: "{k}" value: "{v}" }}' for k, v in parameters.items())
    return (
        "optimization { execution_accelerators { gpu_execution_accelerator "
        f'[{{ name: "tensorrt" parameters [{listed}] }}] }} }}'
    )


def accelerator(kind: str, name: str, **parameters: str) -> str:
    listed = ", ".join(f'{{ key: "{k}" value: "{v}" }}' for k, v in parameters.items())
    return (
        f"optimization {{ execution_accelerators {{ {kind}_execution_accelerator "
        f'[{{ name: "{name}" parameters [{listed}] }}] }} }}'
    )


@pytest.mark.parametrize(
    "value",
    ["/etc/passwd", "../x", "a/../../x", "..", "a\\b", "a\x00b", "a\nb", ""],
)
def test_relative_path_rule(value: str) -> None:
    assert relative_path_problem(value, "v", "d") is not None


@pytest.mark.parametrize("value", ["model.onnx", "sub/model.onnx", "./model.onnx", ".hidden"])
def test_relative_paths_inside_pass(value: str) -> None:
    assert relative_path_problem(value, "v", "d") is None


def test_escapes_follows_links(tmp_path: Path) -> None:
    (tmp_path / "root" / "in").mkdir(parents=True)
    (tmp_path / "root" / "to_in").symlink_to(tmp_path / "root" / "in")
    (tmp_path / "root" / "to_out").symlink_to(tmp_path)
    root = tmp_path / "root"
    assert not escapes(root / "to_in" / "x", root)
    assert escapes(root / "to_out" / "x", root)
    assert escapes(root / ".." / "x", root)
    assert not escapes(root, root)
    assert escapes(tmp_path / "rootx", root)  # a sibling sharing the prefix is outside


FILE_NAMES = {
    "default_model_filename absolute": (
        'default_model_filename: "/outside/model.onnx"',
        "default_model_filename '/outside/model.onnx' must be a relative path inside the "
        "version directory",
    ),
    "default_model_filename up": (
        'default_model_filename: "../../../outside/model.onnx"',
        "default_model_filename '../../../outside/model.onnx' must be a relative path",
    ),
    "cc_model_filenames": (
        'cc_model_filenames { key: "8.0" value: "../x.onnx" }',
        "cc_model_filenames['8.0'] '../x.onnx' must be a relative path",
    ),
    "label_filename": (
        'output [{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] '
        'label_filename: "/etc/passwd" }]',
        "output 'OUTPUT0' label_filename '/etc/passwd' must be a relative path inside the model "
        "directory",
    ),
    "custom operator library": (
        'model_operations { op_library_filename: "libcustom.so" }',
        "model_operations.op_library_filename is not supported",
    ),
}


@pytest.mark.parametrize("case", FILE_NAMES)
def test_file_names_in_a_config_and_in_an_override_are_refused_alike(case: str) -> None:
    """config.pbtxt and a load request's JSON config meet the same check, before any file."""
    text, message = FILE_NAMES[case]
    from_file = parse_config_text(text, model="m")
    from_json = parse_config_json(json_format.MessageToJson(from_file), model="m")
    for raw in (from_file, from_json):
        with pytest.raises(ModelLoadError, match="^model 'm': ") as info:
            validate_identity(complete_identity(raw, name="m"))
        assert message in info.value.message


def test_model_file_behind_an_outside_link_is_not_read(repo: Path, tmp_path: Path) -> None:
    version = repo / "m" / "2"
    version.mkdir()
    (version / "model.onnx").symlink_to(tmp_path / "outside" / "model.onnx")
    with pytest.raises(ModelLoadError) as info:
        prepare_version(None, version / "model.onnx", name="m", version=2)
    assert info.value.message == f"model 'm': model file '2/model.onnx' {OUTSIDE}"
    assert str(tmp_path / "outside") not in info.value.message


def test_version_directory_linked_outside_is_refused(repo: Path, tmp_path: Path) -> None:
    (repo / "m" / "3").symlink_to(tmp_path / "outside")
    with pytest.raises(ModelLoadError, match=OUTSIDE):
        prepare_version(None, repo / "m" / "3" / "model.onnx", name="m", version=3)


def test_links_inside_the_repository_are_followed(repo: Path) -> None:
    (repo / "m" / "2").symlink_to(repo / "m" / "1")
    path = repo / "m" / "2" / "model.onnx"
    assert prepare_version(None, path, name="m", version=2).settings.model_path == str(path)


def test_warmup_data_file_stays_in_the_warmup_directory(repo: Path, tmp_path: Path) -> None:
    warm = repo / "m" / "warmup"
    warm.mkdir()
    (warm / "ok.bin").write_bytes(np.ones(4, np.float32).tobytes())
    (warm / "linked_in.bin").symlink_to(warm / "ok.bin")
    (warm / "linked_out.bin").symlink_to(tmp_path / "outside" / "data.bin")
    (sample,) = prepare(repo, warmup("linked_in.bin")).warmup
    assert sample.inputs["INPUT0"].source is WarmupSource.FILE
    assert sample.inputs["INPUT0"].path == warm / "linked_in.bin"
    where = "model_warmup 'w': input 'INPUT0' input_data_file"
    assert (
        refused(repo, warmup("linked_out.bin")) == f"model 'm': {where} 'linked_out.bin' {OUTSIDE}"
    )
    for value in ("../../../outside/data.bin", str(tmp_path / "outside" / "data.bin")):
        message = refused(repo, warmup(value))
        assert f"{where} '{value}' must be a relative path inside the model's warmup/" in message


def test_tensorrt_directories_are_made_absolute_inside_the_model(repo: Path) -> None:
    options = prepare(
        repo,
        tensorrt(
            trt_engine_cache_enable="1",
            trt_engine_cache_path="cache/engines",
            trt_timing_cache_enable="true",
            trt_timing_cache_path="cache",
            trt_int8_calibration_table_name="calibration.flatbuffers",
            trt_engine_cache_prefix="m",
            trt_ep_context_file_path="1/ctx.onnx",
        ),
    ).execution.tensorrt_options
    model_dir = os.path.abspath(repo / "m")
    assert options == {
        "trt_engine_cache_enable": "1",
        "trt_engine_cache_path": os.path.join(model_dir, "cache", "engines"),
        "trt_timing_cache_enable": "true",
        "trt_timing_cache_path": os.path.join(model_dir, "cache"),
        "trt_int8_calibration_table_name": "calibration.flatbuffers",
        "trt_engine_cache_prefix": "m",
        "trt_ep_context_file_path": os.path.join(model_dir, "1", "ctx.onnx"),
    }


REFUSED_OPTIONS = {
    "absolute cache": (
        tensorrt(trt_engine_cache_enable="1", trt_engine_cache_path="/tmp/engines"),
        "TensorRT option trt_engine_cache_path '/tmp/engines' must be a relative path inside "
        "the model directory",
    ),
    "cache up": (
        tensorrt(trt_timing_cache_enable="1", trt_timing_cache_path="../../x"),
        "TensorRT option trt_timing_cache_path '../../x' must be a relative path",
    ),
    "cache in the working directory": (
        tensorrt(trt_engine_cache_enable="True"),
        "TensorRT option trt_engine_cache_enable needs trt_engine_cache_path",
    ),
    "timing cache in the working directory": (
        tensorrt(trt_timing_cache_enable="1"),
        "TensorRT option trt_timing_cache_enable needs trt_timing_cache_path",
    ),
    "calibration table from the working directory": (
        tensorrt(trt_int8_enable="1", trt_int8_calibration_table_name="table"),
        "TensorRT option trt_int8_calibration_table_name needs trt_engine_cache_path",
    ),
    "calibration table path": (
        tensorrt(trt_engine_cache_path="c", trt_int8_calibration_table_name="../../../t"),
        "TensorRT option trt_int8_calibration_table_name '../../../t' must be a plain file name",
    ),
    "Triton's calibration table name": (
        tensorrt(trt_engine_cache_path="c", int8_calibration_table_name="/etc/t"),
        "TensorRT option trt_int8_calibration_table_name '/etc/t' must be a plain file name",
    ),
    "cache prefix": (
        tensorrt(trt_engine_cache_path="c", trt_engine_cache_prefix="../p"),
        "TensorRT option trt_engine_cache_prefix '../p' must be a plain file name",
    ),
    "subgraph dumps": (
        tensorrt(trt_dump_subgraphs="1"),
        "TensorRT option trt_dump_subgraphs may not be set in a model config: it writes into "
        "the server's working directory",
    ),
    "stream address": (
        tensorrt(user_compute_stream="140737488355328"),
        "unknown TensorRT accelerator parameter 'user_compute_stream'",
    ),
    "bytestream address": (
        tensorrt(trt_onnx_bytestream="1234"),
        "TensorRT option trt_onnx_bytestream may not be set in a model config: it is a memory "
        "address",
    ),
    "unknown trt option": (
        tensorrt(trt_not_an_option="1"),
        "unknown TensorRT option trt_not_an_option",
    ),
    "plugin outside": (
        tensorrt(trt_extra_plugin_lib_paths="/usr/lib/libevil.so"),
        "TensorRT option trt_extra_plugin_lib_paths '/usr/lib/libevil.so' must be a relative "
        "path inside the model directory",
    ),
    "decryption library up": (
        tensorrt(trt_engine_decryption_lib_path="../../outside/lib.so"),
        "TensorRT option trt_engine_decryption_lib_path '../../outside/lib.so' must be a "
        "relative path",
    ),
    "cuda allocator address": (
        accelerator("gpu", "cuda", gpu_external_alloc="4198400"),
        "CUDA option gpu_external_alloc may not be set in a model config: it is a memory address",
    ),
    "cuda device": (
        accelerator("gpu", "cuda", device_id="3"),
        "CUDA option device_id may not be set in a model config: the server sets the device",
    ),
    "unknown cuda option": (
        accelerator("gpu", "cuda", not_an_option="1"),
        "unknown CUDA option not_an_option",
    ),
    "openvino context": (
        accelerator("cpu", "openvino", context="1234"),
        "OpenVINO option context may not be set in a model config: it is a memory address",
    ),
    "openvino cache": (
        accelerator("cpu", "openvino", cache_dir="/var/cache"),
        "OpenVINO option cache_dir '/var/cache' must be a relative path inside the model directory",
    ),
    "openvino config file": (
        accelerator("cpu", "openvino", load_config="../../outside/c.json"),
        "OpenVINO option load_config '../../outside/c.json' must be a relative path",
    ),
}


@pytest.mark.parametrize("case", REFUSED_OPTIONS)
def test_provider_options_that_reach_outside_are_refused(repo: Path, case: str) -> None:
    text, message = REFUSED_OPTIONS[case]
    assert message in refused(repo, text)


def test_provider_option_paths_behind_outside_links_are_refused(repo: Path, tmp_path: Path) -> None:
    (repo / "m" / "cache").symlink_to(tmp_path / "outside")
    (repo / "m" / "lib.so").symlink_to(tmp_path / "outside" / "lib.so")
    text = tensorrt(trt_engine_cache_enable="1", trt_engine_cache_path="cache/engines")
    assert f"trt_engine_cache_path 'cache/engines' {OUTSIDE}" in refused(repo, text)
    text = tensorrt(trt_extra_plugin_lib_paths="lib.so")
    message = refused(repo, text)
    assert "'lib.so' leads outside the model directory through a symbolic link" in message


def test_libraries_only_from_the_model_directory_and_never_uploaded(repo: Path) -> None:
    (repo / "m" / "plugins").mkdir()
    (repo / "m" / "plugins" / "a.so").write_bytes(b"\x7fELF")
    (repo / "shared.so").write_bytes(b"\x7fELF")
    (repo / "m" / "shared.so").symlink_to(repo / "shared.so")  # in the repo, not the model
    text = tensorrt(trt_extra_plugin_lib_paths="plugins/a.so;;plugins/a.so")
    options = prepare(repo, text).execution.tensorrt_options
    library = os.path.abspath(repo / "m" / "plugins" / "a.so")
    assert options == {"trt_extra_plugin_lib_paths": f"{library};{library}"}
    message = refused(repo, tensorrt(trt_extra_plugin_lib_paths="plugins/a.so;shared.so"))
    assert "'shared.so' leads outside the model directory" in message
    uploaded = ModelFiles(repo / "m", repo / "m", native_code=False)
    message = refused(repo, tensorrt(trt_engine_decryption_lib_path="plugins/a.so"), uploaded)
    assert "uploaded model files may not include native libraries" in message


def _external_model(path: Path, location: str, *, in_subgraph: bool = False) -> Path:
    """INPUT0 + w, with the weight `w` stored in the external file `location`."""
    weight = numpy_helper.from_array(np.ones(4, np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", location
    x = helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, [4])
    y = helper.make_tensor_value_info("OUTPUT0", TensorProto.FLOAT, [4])
    if in_subgraph:
        const = helper.make_node("Constant", [], ["w"], value=weight)
        add = helper.make_node("Add", ["INPUT0", "w"], ["OUTPUT0"])
        branch = helper.make_graph([const, add], "branch", [], [y])
        cond = numpy_helper.from_array(np.array(True), "cond")
        node = helper.make_node("If", ["cond"], ["OUTPUT0"], then_branch=branch, else_branch=branch)
        graph = helper.make_graph([node], "g", [x], [y], [cond])
    else:
        add = helper.make_node("Add", ["INPUT0", "w"], ["OUTPUT0"])
        graph = helper.make_graph([add], "g", [x], [y], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def test_signature_lists_external_data_of_subgraphs_too(tmp_path: Path) -> None:
    path = _external_model(tmp_path / "m.onnx", "weights/w.bin", in_subgraph=True)
    assert read_signature(path, model="m").external_data == ("weights/w.bin",)


@pytest.mark.parametrize("in_subgraph", [False, True])
def test_external_data_stays_inside(repo: Path, tmp_path: Path, in_subgraph: bool) -> None:
    version = repo / "m" / "4"
    (version / "w.bin").parent.mkdir(parents=True)
    (version / "w.bin").write_bytes(np.ones(4, np.float32).tobytes())
    (version / "linked.bin").symlink_to(tmp_path / "outside" / "data.bin")
    cases = {
        "w.bin": None,
        "../../../outside/data.bin": "must be a relative path inside the model file's directory",
        str(tmp_path / "outside" / "data.bin"): "must be a relative path",
        "linked.bin": OUTSIDE,
    }
    for location, problem in cases.items():
        path = _external_model(version / "model.onnx", location, in_subgraph=in_subgraph)
        if problem is None:
            assert prepare_version(None, path, name="m", version=4).settings.model_path
            continue
        with pytest.raises(ModelLoadError) as info:
            prepare_version(None, path, name="m", version=4)
        assert f"external data file '{location}' {problem}" in info.value.message
