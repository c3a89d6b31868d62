"""ModelRepository: control modes, resolve, index, broken models, polling."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import modelgen
import pytest
from repo_fakes import WAIT_S, FakeFactory, MakeRepo, fp32

from naiad.errors import ErrorCode, InvalidArgument, ModelLoadError, NotFound, Unavailable
from naiad.repository.manager import ModelRepository
from naiad.repository.poller import Poller
from naiad.repository.types import ControlMode, IndexEntry, ModelState

READY, UNAVAILABLE = ModelState.READY, ModelState.UNAVAILABLE


def test_none_mode_loads_everything(make_repo: MakeRepo, factory: FakeFactory) -> None:
    repo = make_repo()
    assert repo.control_mode is ControlMode.NONE
    assert factory.running() == {("a", 2), ("b", 1)}  # default policy: latest 1
    version, model, config = repo.resolve("a", "")
    assert version == 2 and model.key == ("a", 2)  # type: ignore[attr-defined]
    assert config is model.config and config.parameters["effective"].string_value == "yes"
    assert repo.resolve("a", "2")[1] is model
    assert repo.is_ready("a") and repo.is_ready("a", "2") and not repo.is_ready("a", "1")
    assert repo.ready_versions("a") == [2]


def test_unknown_models_and_versions(make_repo: MakeRepo) -> None:
    repo = make_repo()
    with pytest.raises(NotFound) as info:
        repo.resolve("zzz", "")
    assert info.value.message == "Request for unknown model: 'zzz' is not found"
    assert info.value.code is ErrorCode.NOT_FOUND
    for version in ("1", "7", "x", "-1"):
        with pytest.raises(NotFound, match=f"'a' version {version} is not found"):
            repo.resolve("a", version)
    with pytest.raises(NotFound):
        repo.ready_versions("zzz")
    assert not repo.is_ready("zzz") and not repo.is_ready("a", "x")


def test_none_mode_refuses_load_and_unload(make_repo: MakeRepo) -> None:
    repo = make_repo()
    for call in (lambda: repo.load("a"), lambda: repo.unload("a")):
        with pytest.raises(Unavailable, match="explicit model control is not enabled"):
            call()
    with pytest.raises(Unavailable, match="not in poll mode"):
        repo.poll_once()


def test_broken_models_are_isolated(root: Path, make_repo: MakeRepo, factory: FakeFactory) -> None:
    (root / "bad_config").mkdir()
    (root / "bad_config" / "config.pbtxt").write_text("max_batch_size: {")
    (root / "no_file" / "1").mkdir(parents=True)
    fp32(root / "crash" / "1" / "model.onnx")
    (root / "no_versions").mkdir()
    factory.failures["crash"] = "out of GPU memory"
    repo = make_repo()
    rows = {(e.name, e.version): e for e in repo.index()}
    assert rows[("bad_config", "")].state is UNAVAILABLE
    assert "model 'bad_config': cannot parse" in rows[("bad_config", "")].reason
    assert (
        rows[("no_file", "1")].state is UNAVAILABLE and "not found" in rows[("no_file", "1")].reason
    )
    assert "out of GPU memory" in rows[("crash", "1")].reason
    assert "no version under its version policy" in rows[("no_versions", "")].reason
    assert rows[("b", "1")].state is READY
    with pytest.raises(Unavailable, match="'bad_config' has no available versions"):
        repo.resolve("bad_config", "")
    with pytest.raises(Unavailable, match="'no_file' version 1 is not at ready state"):
        repo.resolve("no_file", "1")
    assert repo.resolve("b", "1")[0] == 1


def test_highest_ready_version_wins(root: Path, make_repo: MakeRepo, factory: FakeFactory) -> None:
    (root / "a" / "config.pbtxt").write_text("version_policy { all {} }")
    factory.failures[("a", 2)] = "version 2 is broken"
    repo = make_repo()
    assert repo.resolve("a", "")[0] == 1
    assert repo.ready_versions("a") == [1]
    with pytest.raises(Unavailable):
        repo.resolve("a", "2")


def test_index_lists_every_model_directory(make_repo: MakeRepo) -> None:
    repo = make_repo("explicit", startup_models=["b"])
    assert repo.index() == [IndexEntry("a", "", None), IndexEntry("b", "1", READY)]
    assert repo.index(ready_only=True) == [IndexEntry("b", "1", READY)]


def test_explicit_startup_models(make_repo: MakeRepo, factory: FakeFactory) -> None:
    make_repo("explicit")
    assert factory.running() == set()
    make_repo("explicit", startup_models=["*"])
    assert factory.running() == {("a", 2), ("b", 1)}
    with pytest.raises(ModelLoadError, match="startup model 'zzz' is not in the model repository"):
        make_repo("explicit", startup_models=["zzz"])


def test_repository_path_must_exist(tmp_path: Path, factory: FakeFactory) -> None:
    with pytest.raises(InvalidArgument, match="is not a directory"):
        ModelRepository(tmp_path / "nope", factory)


def test_several_roots_and_duplicates(tmp_path: Path, root: Path, factory: FakeFactory) -> None:
    other = modelgen.write_repository(tmp_path / "other", {"c": {1: fp32}, "b": {1: fp32}})
    repo = ModelRepository([root, other], factory)
    repo.start()
    try:
        assert repo.is_ready("c") and repo.is_ready("a")
        (row,) = [e for e in repo.index() if e.name == "b"]
        assert row.state is UNAVAILABLE and "found in more than one repository" in row.reason
    finally:
        repo.stop()


def test_poll_mode(root: Path, make_repo: MakeRepo, factory: FakeFactory) -> None:
    repo = make_repo("poll")
    assert factory.running() == {("a", 2), ("b", 1)}
    for call in (lambda: repo.load("a"), lambda: repo.unload("a")):
        with pytest.raises(Unavailable, match="not allowed if polling is enabled"):
            call()

    repo.poll_once()  # nothing changed: nothing restarts
    assert len(factory.events) == 2

    fp32(root / "c" / "1" / "model.onnx")
    repo.poll_once()
    assert repo.is_ready("c")

    old_a = repo.resolve("a")[1]
    (root / "a" / "config.pbtxt").write_text("max_batch_size: 2")
    repo.poll_once()
    _, new_a, config = repo.resolve("a")
    assert new_a is not old_a and old_a.stopped  # type: ignore[attr-defined]
    assert config.max_batch_size == 2

    shutil.rmtree(root / "b")
    repo.poll_once()
    assert [e.name for e in repo.index()] == ["a", "c"]
    with pytest.raises(NotFound):
        repo.resolve("b")
    assert ("b", 1) not in factory.running()


def test_poll_keeps_serving_through_a_broken_change(
    root: Path, make_repo: MakeRepo, factory: FakeFactory
) -> None:
    repo = make_repo("poll")
    before = repo.resolve("a")[1]
    (root / "a" / "config.pbtxt").write_text("max_batch_size: oops")
    repo.poll_once()
    assert repo.resolve("a")[1] is before
    events = len(factory.events)
    repo.poll_once()  # the same broken content is not retried on every poll
    assert len(factory.events) == events
    (root / "a" / "config.pbtxt").write_text("max_batch_size: 3")
    os.utime(root / "a" / "config.pbtxt", ns=(1, 1))
    repo.poll_once()
    assert repo.resolve("a")[2].max_batch_size == 3


def test_poller_thread_calls_until_stopped() -> None:
    called = threading.Event()
    poller = Poller(0.001, called.set)
    poller.start()
    assert called.wait(WAIT_S)
    poller.stop()
    with pytest.raises(ValueError):
        Poller(0, called.set)


def test_background_polling_is_stopped_with_the_repository(make_repo: MakeRepo) -> None:
    repo = make_repo("poll", poll_interval_s=0.001)
    repo.stop()  # joins the poll thread; a second stop from the fixture is harmless
    assert not repo.is_ready("a")
