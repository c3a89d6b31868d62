"""Repository layout: model and version directories, model files, version policies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from google.protobuf import text_format

from naiad.repository.layout import (
    fingerprint,
    list_models,
    list_versions,
    model_file,
    select_versions,
)
from naiad_protocol.model_config_pb2 import ModelVersionPolicy


def test_models_are_directories_and_duplicates_are_reported(tmp_path: Path) -> None:
    for path in ("a/m1", "a/m2", "a/.hidden", "b/m3", "b/m2"):
        (tmp_path / path).mkdir(parents=True)
    (tmp_path / "a" / "README").write_text("not a model")
    found = list_models([tmp_path / "a", tmp_path / "b", tmp_path / "missing"])
    assert found.found == {"m1": tmp_path / "a" / "m1", "m3": tmp_path / "b" / "m3"}
    assert found.duplicates == {"m2": (tmp_path / "a" / "m2", tmp_path / "b" / "m2")}


def test_versions_are_integer_directories(tmp_path: Path) -> None:
    for name in ("1", "10", "2", "latest", "-3", "0x1", "٣"):
        (tmp_path / name).mkdir()
    (tmp_path / "7").write_text("a file, not a version")
    assert list_versions(tmp_path) == [1, 2, 10]
    assert list_versions(tmp_path / "absent") == []


def test_model_file_name(tmp_path: Path) -> None:
    assert model_file(tmp_path, 3) == tmp_path / "3" / "model.onnx"
    assert model_file(tmp_path, 3, "net.onnx") == tmp_path / "3" / "net.onnx"


def policy(text: str) -> ModelVersionPolicy:
    return text_format.Parse(text, ModelVersionPolicy())


@pytest.mark.parametrize(
    ("text", "selected", "missing"),
    [
        (None, (5,), ()),
        ("", (5,), ()),
        ("latest { num_versions: 2 }", (3, 5), ()),
        ("latest { num_versions: 9 }", (1, 3, 5), ()),
        ("all {}", (1, 3, 5), ()),
        ("specific { versions: [ 5, 1, 4 ] }", (1, 5), (4,)),
    ],
)
def test_version_policies(
    text: str | None, selected: tuple[int, ...], missing: tuple[int, ...]
) -> None:
    chosen = select_versions(policy(text) if text is not None else None, [3, 1, 5])
    assert (chosen.selected, chosen.missing) == (selected, missing)


def test_fingerprint_follows_content(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "model.onnx").write_bytes(b"abc")
    first = fingerprint(tmp_path)
    assert fingerprint(tmp_path) == first
    os.utime(tmp_path / "1" / "model.onnx", ns=(1, 1))
    touched = fingerprint(tmp_path)
    assert touched != first
    (tmp_path / "config.pbtxt").write_text("max_batch_size: 1")
    assert fingerprint(tmp_path) != touched
