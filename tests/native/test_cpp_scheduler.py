"""Builds the C++ scheduler tests (native/tests) with ASan and UBSan, runs them, expects exit 0."""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CXX = shutil.which("g++") or "g++"
# -fno-var-tracking keeps file:line debug info for sanitizer reports but skips the costly
# tracking of variable locations, which took a third of the compile time.
FLAGS = ["-std=c++17", "-O1", "-g", "-fno-var-tracking", "-fsanitize=address,undefined", "-pthread"]
INCLUDES = [f"-I{REPO / 'native' / 'include'}", f"-I{REPO / 'native' / 'tests'}"]


def _compile(source: Path, obj: Path) -> subprocess.CompletedProcess[str]:
    cmd = [CXX, *FLAGS, *INCLUDES, "-c", str(source), "-o", str(obj)]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not found")
def test_cpp_scheduler(tmp_path: Path) -> None:
    sources = sorted((REPO / "native" / "src").glob("*.cc"))
    sources += sorted((REPO / "native" / "tests").glob("*.cc"))
    sources.sort(key=lambda source: source.stat().st_size, reverse=True)  # longest builds first
    objects = [tmp_path / f"{i}_{source.stem}.o" for i, source in enumerate(sources)]
    # Sanitized builds are slow; compiling the files side by side cuts the wait.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(_compile, sources, objects))
    errors = [r.stderr for r in results if r.returncode != 0]
    assert not errors, "compilation failed:\n" + "\n".join(errors)

    binary = tmp_path / "naiad_native_tests"
    link = subprocess.run(
        [CXX, *FLAGS, *map(str, objects), "-o", str(binary)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert link.returncode == 0, "link failed:\n" + link.stderr

    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="halt_on_error=1")
    run = subprocess.run(
        [str(binary)], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert run.returncode == 0, (
        f"C++ tests failed (exit {run.returncode}):\n{run.stdout}{run.stderr}"
    )
