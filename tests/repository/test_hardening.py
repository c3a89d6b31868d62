"""Loads and polls never read or write outside the repository (or an upload's own directory).

Every attack aims at `outside/`, next to the repository, which holds a valid model, config,
warm-up data and "library": were a check missing, the model would load READY from there or a
file would appear, so each test fails without its check. `tmp/` is the temporary directory
uploads go to; a snapshot of everything under tmp_path shows that nothing was written.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import json_format, text_format
from repo_fakes import FakeFactory, MakeRepo, fp32

from naiad.errors import ErrorCode, InvalidArgument, ModelLoadError
from naiad.repository import uploads
from naiad.repository.layout import fingerprint
from naiad.repository.manager import ModelRepository
from naiad.repository.types import IndexEntry, ModelState
from naiad_protocol.model_config_pb2 import ModelConfig

READY, UNAVAILABLE = ModelState.READY, ModelState.UNAVAILABLE
OUTSIDE = "leads outside the model repository through a symbolic link"
Snapshot = dict[str, tuple[int, int]]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A valid model directory outside the repository, the target of every attack."""
    target = tmp_path / "outside"
    fp32(target / "1" / "model.onnx")
    (target / "config.pbtxt").write_text("max_batch_size: 2")
    (target / "data.bin").write_bytes(np.ones(4, np.float32).tobytes())
    (target / "lib.so").write_bytes(b"\x7fELF")
    return target


@pytest.fixture
def temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary directory uploads are written to, for this test alone."""
    path = tmp_path / "tmp"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


def snapshot(base: Path, skip: Path | None = None) -> Snapshot:
    """Every entry under `base` but `skip`, links not followed: (size, mtime) by relative path."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) != skip]
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            stat = os.lstat(path)
            found[os.path.relpath(path, base)] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.fixture
def model_bytes(tmp_path: Path) -> bytes:
    return fp32(tmp_path / "src" / "model.onnx").read_bytes()


@pytest.fixture
def unchanged(
    tmp_path: Path, root: Path, outside: Path, temp: Path, model_bytes: bytes
) -> Callable[[], None]:
    """unchanged() asserts that nothing outside the repository (temporary directory included)
    changed since the test began."""
    before = snapshot(tmp_path, skip=root)

    def check() -> None:
        assert snapshot(tmp_path, skip=root) == before

    return check


def rows(repo: ModelRepository) -> dict[tuple[str, str], IndexEntry]:
    return {(e.name, e.version): e for e in repo.index()}


BAD_NAMES = ["", ".", "..", "../outside", "a/b", "/abs", "a\\b", "a\x00b", "a\nb", ".a", "x" * 256]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_model_names_are_refused(
    make_repo: MakeRepo,
    factory: FakeFactory,
    unchanged: Callable[[], None],
    tmp_path: Path,
    model_bytes: bytes,
    name: str,
) -> None:
    repo = make_repo("explicit")
    calls: list[Callable[[], None]] = [
        lambda: repo.load(name),
        lambda: repo.load(name, '{"max_batch_size": 1}'),
        lambda: repo.load(name, "{}", {"1/model.onnx": model_bytes}),
        lambda: repo.unload(name),
    ]
    for call in calls:
        with pytest.raises(InvalidArgument) as info:
            call()
        assert info.value.code is ErrorCode.INVALID_ARGUMENT
        assert "model name" in info.value.message
        assert str(tmp_path) not in info.value.message
        assert len(info.value.message) < 200
    assert repo.index() == [IndexEntry("a", "", None), IndexEntry("b", "", None)]
    assert factory.events == []
    unchanged()


def test_directories_no_request_could_name_are_not_models(
    root: Path, make_repo: MakeRepo, factory: FakeFactory
) -> None:
    for name in ("a\\b", "new\nline", ".hidden"):
        fp32(root / name / "1" / "model.onnx")
    make_repo()
    assert factory.running() == {("a", 2), ("b", 1)}


BAD_KEYS = {
    "absolute": {"/tmp/x/model.onnx": b"x"},
    "up": {"../x": b"x"},
    "up inside": {"1/../../x": b"x"},
    "up with prefix": {"file:1/../../../outside/1/model.onnx": b"x"},
    "hidden file": {"1/.model.onnx": b"x"},
    "hidden directory": {".git/config": b"x"},
    "empty part": {"1//model.onnx": b"x"},
    "dot part": {"1/./model.onnx": b"x"},
    "backslash": {"1\\..\\..\\x": b"x"},
    "nul": {"1/model\x00.onnx": b"x"},
    "no version": {"model.onnx": b"x"},
    "config file": {"config.pbtxt": b"max_batch_size: 1"},
    "not a version": {"v1/model.onnx": b"x"},
    "version only": {"1": b"x"},
    "long part": {"1/" + "x" * 256: b"x"},
    "twice": {"file:1/model.onnx": b"x", "1/model.onnx": b"y"},
    "file and directory": {"1/a": b"x", "1/a/b": b"y"},
}


@pytest.mark.parametrize("case", BAD_KEYS)
def test_bad_upload_keys_write_nothing(
    make_repo: MakeRepo,
    unchanged: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
    model_bytes: bytes,
    case: str,
) -> None:
    made: list[str] = []
    mkdtemp = tempfile.mkdtemp
    monkeypatch.setattr(uploads.tempfile, "mkdtemp", lambda **kw: made.append("x") or mkdtemp(**kw))
    repo = make_repo("explicit")
    files = {"1/model.onnx": model_bytes, **BAD_KEYS[case]}
    if case == "twice":
        files = BAD_KEYS[case]
    with pytest.raises(ModelLoadError, match="^model 'up': file parameter 'file:"):
        repo.load("up", "{}", files)
    assert made == []  # refused before a directory was made
    assert not repo.is_ready("up")
    unchanged()


def test_upload_limits_are_checked_before_writing(
    make_repo: MakeRepo, unchanged: Callable[[], None], temp: Path, model_bytes: bytes
) -> None:
    files = {"1/model.onnx": model_bytes, "2/model.onnx": model_bytes}
    total = 2 * len(model_bytes)
    repo = make_repo("explicit", max_upload_bytes=total - 1, max_upload_files=2)
    with pytest.raises(ModelLoadError) as info:
        repo.load("up", "{}", files)
    assert info.value.message == (
        f"model 'up': the uploaded files hold {total} bytes, more than the limit of {total - 1}"
    )
    few = make_repo("explicit", max_upload_bytes=total, max_upload_files=1)
    with pytest.raises(ModelLoadError, match="2 files uploaded, more than the limit of 1"):
        few.load("up", "{}", files)
    unchanged()
    exact = make_repo("explicit", max_upload_bytes=total, max_upload_files=2)
    exact.load("up", "{}", files)
    assert exact.ready_versions("up") == [2]


def test_default_upload_limits() -> None:
    assert uploads.UploadLimits() == uploads.UploadLimits(1 << 30, 1000)


def test_uploaded_files_that_fail_leave_no_directory(
    make_repo: MakeRepo, factory: FakeFactory, temp: Path, model_bytes: bytes
) -> None:
    """A library in an upload is the client's code: refused even inside the upload."""
    config = {
        "optimization": {
            "executionAccelerators": {
                "gpuExecutionAccelerator": [
                    {"name": "tensorrt", "parameters": {"trt_extra_plugin_lib_paths": "1/p.so"}}
                ]
            }
        }
    }
    files = {"1/model.onnx": model_bytes, "1/p.so": b"\x7fELF"}
    repo = make_repo("explicit")
    with pytest.raises(ModelLoadError, match="uploaded model files may not include native"):
        repo.load("up", json.dumps(config), files)
    assert rows(repo)[("up", "1")].state is UNAVAILABLE
    assert list(temp.iterdir()) == []  # nothing serves from the files: deleted at once
    assert factory.events == []


def test_upload_that_loads_keeps_its_files_until_unloaded(
    make_repo: MakeRepo, temp: Path, model_bytes: bytes
) -> None:
    repo = make_repo("explicit")
    repo.load("up", "{}", {"1/model.onnx": model_bytes, "warmup/data.bin": b"\0" * 16})
    (made,) = temp.iterdir()
    assert (made / "warmup" / "data.bin").stat().st_size == 16
    assert oct((made / "1" / "model.onnx").stat().st_mode & 0o777) == "0o600"
    repo.unload("up")
    assert list(temp.iterdir()) == []


def link(path: Path, target: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def test_links_leading_outside_are_refused_at_start(
    root: Path,
    outside: Path,
    make_repo: MakeRepo,
    factory: FakeFactory,
    unchanged: Callable[[], None],
) -> None:
    link(root / "linked", outside)
    link(root / "a" / "3", outside / "1")
    link(root / "file" / "1" / "model.onnx", outside / "1" / "model.onnx")
    fp32(root / "config" / "1" / "model.onnx")
    link(root / "config" / "config.pbtxt", outside / "config.pbtxt")
    fp32(root / "warm" / "1" / "model.onnx")
    link(root / "warm" / "warmup" / "data.bin", outside / "data.bin")
    (root / "warm" / "config.pbtxt").write_text(
        'model_warmup [{ name: "w" batch_size: 1 inputs { key: "INPUT0" value { '
        'data_type: TYPE_FP32 dims: [ 4 ] input_data_file: "data.bin" } } }]'
    )
    link(root / "alias", root / "b")  # links inside the repository are followed
    link(root / "b" / "2", root / "b" / "1")
    before = snapshot(root.parent)
    repo = make_repo()
    found = rows(repo)
    expected = {
        ("linked", ""): f"model 'linked': the model directory {OUTSIDE}",
        ("a", "3"): f"model 'a': model file '3/model.onnx' {OUTSIDE}",
        ("file", "1"): f"model 'file': model file '1/model.onnx' {OUTSIDE}",
        ("config", ""): f"model 'config': config.pbtxt {OUTSIDE}",
        ("warm", "1"): (
            f"model 'warm': model_warmup 'w': input 'INPUT0' input_data_file 'data.bin' {OUTSIDE}"
        ),
    }
    for key, reason in expected.items():
        assert found[key].state is UNAVAILABLE
        assert found[key].reason.startswith(reason)
        assert str(outside) not in found[key].reason
    assert factory.running() == {("alias", 2), ("b", 2)}
    assert snapshot(root.parent) == before
    unchanged()


def test_explicit_load_of_a_linked_model_is_refused(
    root: Path, outside: Path, make_repo: MakeRepo, unchanged: Callable[[], None]
) -> None:
    link(root / "linked", outside)
    repo = make_repo("explicit")
    with pytest.raises(ModelLoadError, match=f"model directory {OUTSIDE}") as info:
        repo.load("linked")
    assert str(outside) not in info.value.message
    assert rows(repo)[("linked", "")].state is UNAVAILABLE
    unchanged()


def _pbtxt(config_json: str) -> str:
    return text_format.MessageToString(json_format.Parse(config_json, ModelConfig()))


OVERRIDES = {
    "model file outside": {"defaultModelFilename": "../../../outside/1/model.onnx"},
    "warm-up file outside": {
        "modelWarmup": [
            {
                "name": "w",
                "batchSize": 1,
                "inputs": {
                    "INPUT0": {
                        "dataType": "TYPE_FP32",
                        "dims": ["4"],
                        "inputDataFile": "../../../outside/data.bin",
                    }
                },
            }
        ]
    },
    "plugin outside": {
        "optimization": {
            "executionAccelerators": {
                "gpuExecutionAccelerator": [
                    {
                        "name": "tensorrt",
                        "parameters": {"trt_extra_plugin_lib_paths": "../../outside/lib.so"},
                    }
                ]
            }
        }
    },
    "engine cache outside": {
        "optimization": {
            "executionAccelerators": {
                "gpuExecutionAccelerator": [
                    {
                        "name": "tensorrt",
                        "parameters": {
                            "trt_engine_cache_enable": "1",
                            "trt_engine_cache_path": "OUTSIDE",
                        },
                    }
                ]
            }
        }
    },
}


@pytest.mark.parametrize("case", OVERRIDES)
def test_an_override_enables_nothing_a_config_file_could_not(
    root: Path,
    outside: Path,
    make_repo: MakeRepo,
    factory: FakeFactory,
    unchanged: Callable[[], None],
    case: str,
) -> None:
    config_json = json.dumps(OVERRIDES[case]).replace("OUTSIDE", str(outside))
    repo = make_repo("explicit")
    with pytest.raises(ModelLoadError) as by_request:
        repo.load("a", config_json)
    (root / "a" / "config.pbtxt").write_text(_pbtxt(config_json))
    with pytest.raises(ModelLoadError) as by_file:
        repo.load("a")
    (root / "a" / "config.pbtxt").unlink()
    assert by_request.value.message == by_file.value.message
    assert "must be a relative path inside" in by_request.value.message
    assert factory.events == []
    unchanged()


def test_poll_refuses_a_linked_model_and_follows_it_being_replaced(
    root: Path,
    outside: Path,
    make_repo: MakeRepo,
    factory: FakeFactory,
    unchanged: Callable[[], None],
) -> None:
    repo = make_repo("poll")
    link(root / "late", outside)
    repo.poll_once()
    entry = rows(repo)[("late", "")]
    assert entry.state is UNAVAILABLE and OUTSIDE in entry.reason
    assert str(outside) not in entry.reason
    events = len(factory.events)
    repo.poll_once()  # the same link is not retried on every poll
    assert len(factory.events) == events
    assert fingerprint(root / "late") == ((f"-> {os.path.realpath(outside)}", 0, 0),)
    unchanged()
    (root / "late").unlink()
    fp32(root / "late" / "1" / "model.onnx")
    repo.poll_once()
    assert repo.is_ready("late")


def test_poll_fingerprint_does_not_look_through_outside_links(root: Path, outside: Path) -> None:
    link(root / "a" / "1" / "weights.bin", outside / "data.bin")
    stamp = dict((name, size) for name, _, size in fingerprint(root / "a"))
    assert stamp["1/weights.bin"] == os.lstat(root / "a" / "1" / "weights.bin").st_size
    assert stamp["1/weights.bin"] != (outside / "data.bin").stat().st_size
