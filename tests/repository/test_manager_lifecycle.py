"""ModelRepository in explicit mode: load, reload, unload, uploads, and who waits for whom."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from repo_fakes import WAIT_S, FakeFactory, MakeRepo, fp32

from naiad.errors import ErrorCode, ModelLoadError, NotFound, Unavailable
from naiad.repository.types import IndexEntry, ModelState

READY, UNAVAILABLE = ModelState.READY, ModelState.UNAVAILABLE


def run_in_thread(target) -> threading.Thread:  # type: ignore[no-untyped-def]
    errors: list[BaseException] = []

    def body() -> None:
        try:
            target()
        except BaseException as exc:  # re-raised by the test through .errors
            errors.append(exc)

    thread = threading.Thread(target=body)
    thread.errors = errors  # type: ignore[attr-defined]
    thread.start()
    return thread


def test_load_unload_cycle(make_repo: MakeRepo, factory: FakeFactory) -> None:
    repo = make_repo("explicit")
    repo.load("a")
    assert repo.index() == [IndexEntry("a", "2", READY), IndexEntry("b", "", None)]
    model = repo.resolve("a")[1]
    repo.unload("a")
    assert model.stopped  # type: ignore[attr-defined]
    assert repo.index()[0] == IndexEntry("a", "2", ModelState.UNLOADED, "unloaded")
    assert repo.index()[0].state.wire == "UNAVAILABLE"  # type: ignore[union-attr]
    with pytest.raises(Unavailable, match="'a' has no available versions"):
        repo.resolve("a")
    with pytest.raises(Unavailable, match="'a' version 2 is not at ready state"):
        repo.resolve("a", "2")
    assert not repo.is_ready("a")
    repo.unload("a")  # unloading an unloaded model is harmless
    repo.unload("b")  # so is unloading one never loaded
    repo.load("a")
    assert repo.is_ready("a")
    assert [e[0] for e in factory.events] == ["start", "stop", "start"]


def test_load_errors(root: Path, make_repo: MakeRepo) -> None:
    (root / "broken").mkdir()
    (root / "broken" / "config.pbtxt").write_text('name: "other"')
    repo = make_repo("explicit")
    with pytest.raises(ModelLoadError) as info:
        repo.load("broken")
    assert info.value.code is ErrorCode.INVALID_ARGUMENT
    assert "the config names the model 'other'" in info.value.message
    assert repo.index()[2] == IndexEntry("broken", "", UNAVAILABLE, info.value.message)
    with pytest.raises(ModelLoadError, match="no model directory named 'zzz'"):
        repo.load("zzz")
    with pytest.raises(NotFound, match="Request for unknown model: 'zzz' is not found"):
        repo.unload("zzz")
    assert "zzz" not in {e.name for e in repo.index()}


def test_config_override(make_repo: MakeRepo) -> None:
    repo = make_repo("explicit")
    repo.load("a", json.dumps({"max_batch_size": 2, "version_policy": {"all": {}}}))
    assert repo.ready_versions("a") == [1, 2]
    assert repo.resolve("a", "1")[2].max_batch_size == 2
    with pytest.raises(ModelLoadError, match="names the model 'x'"):
        repo.load("b", json.dumps({"name": "x"}))
    with pytest.raises(ModelLoadError, match="cannot parse the 'config' parameter"):
        repo.load("b", "{not json")


def test_missing_policy_version_is_reported_and_others_serve(
    root: Path, make_repo: MakeRepo
) -> None:
    (root / "a" / "config.pbtxt").write_text("version_policy { specific { versions: [ 1, 3 ] } }")
    repo = make_repo("explicit")
    with pytest.raises(ModelLoadError, match="version 3 is in the version policy but not in"):
        repo.load("a")
    rows = [e for e in repo.index() if e.name == "a"]
    assert [(e.version, e.state) for e in rows] == [("1", READY), ("3", UNAVAILABLE)]
    assert repo.resolve("a")[0] == 1


def test_uploaded_files(tmp_path: Path, make_repo: MakeRepo) -> None:
    content = fp32(tmp_path / "src.onnx").read_bytes()
    repo = make_repo("explicit")
    repo.load(
        "up", '{"max_batch_size": 1}', {"file:1/model.onnx": content, "3/model.onnx": content}
    )
    assert repo.ready_versions("up") == [3]
    model_path = Path(repo.resolve("up")[1].settings.model_path)  # type: ignore[attr-defined]
    assert model_path.read_bytes() == content
    assert "up" in {e.name for e in repo.index()}
    repo.unload("up")
    assert not model_path.exists()

    with pytest.raises(ModelLoadError, match="needs the 'config' parameter"):
        repo.load("up", None, {"file:1/model.onnx": content})
    with pytest.raises(ModelLoadError, match="file parameter 'file:../x' must be"):
        repo.load("up", "{}", {"file:../x": content})


def test_reload_starts_new_versions_before_stopping_old(
    make_repo: MakeRepo, factory: FakeFactory
) -> None:
    repo = make_repo("explicit", startup_models=["a"])
    old = repo.resolve("a")[1]
    factory.start_gates["a"] = gate = threading.Event()
    reload = run_in_thread(lambda: repo.load("a", '{"max_batch_size": 3}'))
    assert factory.starting.wait(WAIT_S)
    assert repo.resolve("a")[1] is old  # the old version serves while the new one starts
    assert repo.index()[0] == IndexEntry("a", "2", READY)
    gate.set()
    reload.join(WAIT_S)
    assert not reload.errors  # type: ignore[attr-defined]
    new = repo.resolve("a")[1]
    assert new is not old and old.stopped  # type: ignore[attr-defined]
    kinds = [(kind, model_id) for kind, _, _, model_id in factory.events]
    assert kinds == [("start", id(old)), ("start", id(new)), ("stop", id(old))]


def test_requests_go_to_the_new_version_while_the_old_one_drains(
    make_repo: MakeRepo, factory: FakeFactory
) -> None:
    repo = make_repo("explicit", startup_models=["a"])
    old = repo.resolve("a")[1]
    factory.stop_gates["a"] = gate = threading.Event()
    reload = run_in_thread(lambda: repo.load("a"))
    assert factory.stopping.wait(WAIT_S)
    new = repo.resolve("a")[1]
    assert new is not old and not old.stopped  # type: ignore[attr-defined]
    gate.set()
    reload.join(WAIT_S)
    assert old.stopped  # type: ignore[attr-defined]


def test_unload_waits_for_in_flight_requests(make_repo: MakeRepo, factory: FakeFactory) -> None:
    repo = make_repo("explicit", startup_models=["a", "b"])
    model = repo.resolve("a")[1]
    factory.stop_gates["a"] = gate = threading.Event()
    unload = run_in_thread(lambda: repo.unload("a"))
    assert factory.stopping.wait(WAIT_S)
    assert repo.index()[0] == IndexEntry("a", "2", ModelState.UNLOADING)
    with pytest.raises(Unavailable):
        repo.resolve("a")
    assert repo.resolve("b")[0] == 1
    assert unload.is_alive() and not model.stopped  # type: ignore[attr-defined]
    gate.set()
    unload.join(WAIT_S)
    assert model.stopped and repo.index()[0].reason == "unloaded"  # type: ignore[attr-defined]


def test_a_slow_load_does_not_block_other_models(make_repo: MakeRepo, factory: FakeFactory) -> None:
    repo = make_repo("explicit", startup_models=["b"])
    factory.start_gates["a"] = gate = threading.Event()
    load = run_in_thread(lambda: repo.load("a"))
    assert factory.starting.wait(WAIT_S)
    assert repo.index()[0] == IndexEntry("a", "2", ModelState.LOADING)
    assert not repo.is_ready("a")
    assert repo.resolve("b")[0] == 1
    repo.unload("b")  # another model's lock is free too
    gate.set()
    load.join(WAIT_S)
    assert repo.is_ready("a")


def test_failed_reload_keeps_the_old_versions(
    root: Path, make_repo: MakeRepo, factory: FakeFactory
) -> None:
    repo = make_repo("explicit", startup_models=["a"])
    old = repo.resolve("a")[1]
    (root / "a" / "config.pbtxt").write_text("max_batch_size: {")
    with pytest.raises(ModelLoadError, match="cannot parse"):
        repo.load("a")
    assert repo.resolve("a")[1] is old
    (root / "a" / "config.pbtxt").write_text("version_policy { all {} }")
    factory.failures[("a", 2)] = "no memory"
    with pytest.raises(ModelLoadError, match="no memory.*keep serving"):
        repo.load("a")
    assert repo.resolve("a")[1] is old and not old.stopped  # type: ignore[attr-defined]
    assert factory.running() == {("a", 2)}  # the new version 1 was stopped again
    assert repo.index()[0] == IndexEntry("a", "2", READY)


def test_stop_unloads_everything(make_repo: MakeRepo, factory: FakeFactory) -> None:
    repo = make_repo("explicit", startup_models=["*"])
    repo.stop()
    assert factory.running() == set()
    with pytest.raises(Unavailable):
        repo.resolve("a")
    with pytest.raises(Unavailable, match="stopped"):
        repo.load("a")


def test_stop_waits_for_a_load_in_progress(make_repo: MakeRepo, factory: FakeFactory) -> None:
    repo = make_repo("explicit")
    factory.start_gates["a"] = gate = threading.Event()
    load = run_in_thread(lambda: repo.load("a"))
    assert factory.starting.wait(WAIT_S)
    stop = run_in_thread(repo.stop)
    gate.set()
    load.join(WAIT_S)
    stop.join(WAIT_S)
    assert not stop.errors and not load.errors  # type: ignore[attr-defined]
    assert factory.running() == set()
