from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# bench/ is run from the repository root (python -m bench) and is not an installed package.
REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(scope="session", autouse=True)
def bench_cache(tmp_path_factory):
    """Generated scenario models go to a private cache, seen by the servers the harness starts."""
    path = tmp_path_factory.mktemp("bench-cache")
    old = os.environ.get("NAIAD_BENCH_CACHE")
    os.environ["NAIAD_BENCH_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("NAIAD_BENCH_CACHE", None)
    else:
        os.environ["NAIAD_BENCH_CACHE"] = old
