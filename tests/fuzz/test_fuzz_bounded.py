"""The fuzz harness (fuzz/) in the test suite: every target for a few thousand inputs with no
crash, hang or blow-up, and the harness itself shown to report a crash and a hang, so that a
target that finds one fails this file. Campaigns run longer: see fuzz/README.md."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNS = 3000
MAX_TIME_S = 20
TARGETS = {
    "grpc_infer_request",
    "grpc_infer_structured",
    "grpc_infer_wire",
    "bytes_tensor",
    "http_server",
    "http_rest",
    "http_infer_body",
    "http_decompress",
    "config_text",
    "config_json",
    "native_scheduler",
    "shared_memory",
}

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None,
    reason="atheris is not installed: it ships wheels for x86_64 Linux and Python < 3.13 only"
    " (pip install -e '.[test]')",
)


def fuzz(tmp_path: Path, *args: str) -> tuple[int, str, dict[str, dict[str, float]]]:
    """Runs `python -m fuzz.run ARGS`; returns its exit status, output and per-target lines."""
    result = subprocess.run(
        [sys.executable, "-m", "fuzz.run", *args, "--artifacts", str(tmp_path / "artifacts")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    lines = {}
    for name, fields in re.findall(r"^fuzz: (\w+) (inputs=.*)$", result.stdout, re.M):
        lines[name] = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", fields)}
    return result.returncode, result.stdout + result.stderr, lines


def test_every_target_runs_a_bounded_campaign_without_a_failure(tmp_path: Path) -> None:
    code, output, lines = fuzz(tmp_path, "all", "--runs", str(RUNS), "--max-time", str(MAX_TIME_S))
    assert code == 0, output[-6000:]
    assert set(lines) == TARGETS
    for name, line in lines.items():
        assert line["crashes"] == line["hangs"] == line["ooms"] == 0, name
        # Every input ran, unless the run hit its time bound on a loaded machine.
        assert line["inputs"] >= RUNS or line["wall_s"] >= MAX_TIME_S, (name, line)
    assert not (tmp_path / "artifacts").exists()


def test_a_crashing_input_fails_the_run_and_is_kept_to_reproduce(tmp_path: Path) -> None:
    code, output, lines = fuzz(tmp_path, "selftest_crash", "--runs", "500")
    assert code == 1, output[-3000:]
    assert lines["selftest_crash"]["crashes"] == 1
    kept = list((tmp_path / "artifacts" / "selftest_crash").glob("crash-*"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"crash")
    assert "selftest_crash was given a crashing input" in output

    code, output, lines = fuzz(tmp_path, "selftest_crash", "--reproduce", str(kept[0]))
    assert code == 1 and lines["selftest_crash"]["crashes"] == 1, output[-3000:]
    harmless = tmp_path / "harmless"
    harmless.write_bytes(b"fine")
    code, output, lines = fuzz(tmp_path, "selftest_crash", "--reproduce", str(harmless))
    assert code == 0 and lines["selftest_crash"]["inputs"] == 1, output[-3000:]


def test_a_hanging_input_is_reported_as_a_hang(tmp_path: Path) -> None:
    code, output, lines = fuzz(tmp_path, "selftest_hang", "--runs", "100", "--timeout", "1")
    assert code == 1, output[-3000:]
    assert lines["selftest_hang"]["hangs"] == 1 and lines["selftest_hang"]["crashes"] == 0
    assert list((tmp_path / "artifacts" / "selftest_hang").glob("timeout-*"))
