"""`naiad doctor` on real repositories, through the console script a deployment runs."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from naiad.demo import write_demo_repository
from naiad.runtime.threads import cpu_budget

NAIAD = shutil.which("naiad", path=str(Path(sys.executable).parent))
DEMO_MODELS = {"classifier", "simple", "tiny_mlp"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo-models")
    write_demo_repository(root)
    return root


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _doctor(*args: str) -> subprocess.CompletedProcess[str]:
    assert NAIAD, "the naiad console script is not installed next to this Python"
    return subprocess.run(
        [NAIAD, "doctor", "--host", "127.0.0.1", "--grpc-port", "0", "--http-port", "0",
         "--metrics-port", "0", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _report(*args: str) -> tuple[int, dict[str, Any]]:
    result = _doctor(*args, "--json")
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def test_demo_repository_plans_every_model_on_cpu(demo: Path) -> None:
    code, report = _report("--model-repository", str(demo))
    assert code == 0, report
    assert report["problems"] == []
    assert report["cpu_budget"] == cpu_budget()
    providers = {p["name"]: p for p in report["providers"]}
    assert providers["CPUExecutionProvider"]["usable"] is True
    if report["gpu_count"] == 0:
        assert report["gpu_reason"]
        assert providers.get("CUDAExecutionProvider", {"usable": False})["usable"] is False
    rows = {row["model"]: row for row in report["models"]}
    assert set(rows) == DEMO_MODELS
    for row in rows.values():
        assert (row["version"], row["state"]) == ("1", "PLANNED")
        assert "ExecutionProvider" in row["detail"] and "intra-op" in row["detail"]
    # classifier's config asks for one CPU instance.
    assert rows["classifier"]["detail"].startswith("1 instance: classifier_0_0 CPU")


def test_load_creates_the_sessions_and_reports_ready(demo: Path) -> None:
    code, report = _report("--model-repository", str(demo), "--load")
    assert code == 0, report
    assert {(r["model"], r["state"]) for r in report["models"]} == {
        (name, "READY") for name in DEMO_MODELS
    }


def test_a_broken_model_is_named_with_its_reason(demo: Path, tmp_path: Path) -> None:
    shutil.copytree(demo, tmp_path / "repo")
    (tmp_path / "repo" / "simple" / "config.pbtxt").write_text("max_batch_size: nonsense\n")
    code, report = _report("--model-repository", str(tmp_path / "repo"))
    assert code == 1
    rows = {row["model"]: row for row in report["models"]}
    assert rows["simple"]["state"] == "UNAVAILABLE"
    assert "simple" in rows["simple"]["detail"]
    assert rows["classifier"]["state"] == "PLANNED"
    assert report["problems"] == [rows["simple"]["detail"]]


def test_explicit_mode_checks_only_the_startup_models(demo: Path) -> None:
    code, report = _report(
        "--model-repository", str(demo), "--model-control-mode", "explicit",
        "--load-model", "classifier",
    )  # fmt: skip
    assert code == 0, report
    states = {row["model"]: row["state"] for row in report["models"]}
    assert states == {"classifier": "PLANNED", "simple": "NOT LOADED", "tiny_mlp": "NOT LOADED"}


def test_missing_repository_fails(tmp_path: Path) -> None:
    code, report = _report("--model-repository", str(tmp_path / "absent"))
    assert code == 1
    assert "is not a directory" in report["problems"][0]


def test_text_report_names_ports_in_use(demo: Path, listening: int) -> None:
    result = _doctor("--model-repository", str(demo), "--grpc-port", str(listening))
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout
    assert text.startswith("CPU budget: ")
    assert f"grpc     {listening:<6} in use" in text
    assert "CPUExecutionProvider" in text
    for name in DEMO_MODELS:
        assert f"  {name}" in text
    assert "no problems" in text
