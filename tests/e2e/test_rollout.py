"""Rollout on a real server: a plan in rollout.toml, read at load, or one started by
`naiad rollout start` on the running server, splits concurrent traffic."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
from helpers import tensor
from modelgen import offset, write_repository

WORKERS = 8
REQUESTS_PER_WORKER = 375  # 3,000 in all


def repository(root: Path, plan: str) -> Path:
    """Model "scored": version 1 answers x + 100, version 2 answers x + 200."""
    repo = write_repository(
        root,
        {"scored": {1: lambda p: offset(p, 100.0), 2: lambda p: offset(p, 200.0)}},
        configs={"scored": "version_policy: { all: {} }\n"},
    )
    (repo / "scored" / "rollout.toml").write_text(plan)
    return repo


def answered_by(result: grpcclient.InferResult) -> str:
    """The version that answered, read from the answer itself and checked against the label."""
    value = int(result.as_numpy("OUTPUT0").item())
    version = {100: "1", 200: "2"}[value]
    assert result.get_response().model_version == version
    return version


def send(url: str, count: int, version: str = "", **parameters: str) -> Counter[str]:
    x = np.zeros((1, 1), np.float32)
    seen: Counter[str] = Counter()
    with grpcclient.InferenceServerClient(url) as client:
        for _ in range(count):
            result = client.infer(
                "scored",
                [tensor("INPUT0", x, "FP32")],
                model_version=version,
                parameters=parameters or None,
            )
            seen[answered_by(result)] += 1
    return seen


def concurrently(url: str, version: str = "") -> Counter[str]:
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(send, url, REQUESTS_PER_WORKER, version) for _ in range(WORKERS)]
        return sum((f.result() for f in futures), Counter())


def test_a_canary_declared_in_the_repository_gets_its_share(serve, tmp_path) -> None:  # type: ignore[no-untyped-def]
    percent = 25
    plan = f'stable = 1\ncandidate = 2\nmode = "canary"\ncandidate_percent = {percent}\n'
    with serve(repository(tmp_path / "repo", plan)) as server:
        seen = concurrently(server.url)
        total = sum(seen.values())
        assert total == WORKERS * REQUESTS_PER_WORKER
        share = 100.0 * seen["2"] / total
        assert abs(share - percent) <= 3.0, seen
        # explicitly versioned requests bypass the plan
        assert concurrently(server.url, version="1") == Counter({"1": total})
        assert send(server.url, 200, version="2") == Counter({"2": 200})


def test_naiad_rollout_start_gives_the_candidate_its_share_of_concurrent_requests(
    serve, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    repo = repository(tmp_path / "repo", "")
    (repo / "scored" / "rollout.toml").unlink()  # no plan until the command starts one
    with serve(repo) as server:
        assert concurrently(server.url) == Counter({"2": WORKERS * REQUESTS_PER_WORKER})
        command = [
            sys.executable, "-m", "naiad.cli", "rollout", "--url", server.http_url,
            "start", "scored", "--to", "2", "--canary", "25",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        started = json.loads(done.stdout)
        assert started["stable"] == 1 and started["weights"] == {"1": 0.75, "2": 0.25}
        seen = concurrently(server.url)
        total = sum(seen.values())
        assert total == WORKERS * REQUESTS_PER_WORKER >= 2000
        share = 100.0 * seen["2"] / total
        assert abs(share - 25.0) <= 3.0, seen


def test_ab_keys_meet_the_same_version_on_every_request(serve, tmp_path) -> None:  # type: ignore[no-untyped-def]
    plan = 'stable = 1\ncandidate = 2\nmode = "ab"\ncandidate_percent = 50\nkey = "user_id"\n'
    with serve(repository(tmp_path / "repo", plan)) as server:
        arms = {}
        for user in range(40):
            seen = send(server.url, 5, user_id=f"user-{user}")
            assert len(seen) == 1, (user, seen)  # sticky: one version for all five
            arms[user] = next(iter(seen))
        assert set(arms.values()) == {"1", "2"}  # both arms get keys
        assert send(server.url, 20) == Counter({"1": 20})  # no key: the stable version


def test_a_bad_plan_file_fails_that_model_with_the_reason_and_the_server_serves(
    serve, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    repo = repository(tmp_path / "repo", 'stable = 1\ncandidate = 2\nmode = "sideways"\n')
    write_repository(repo, {"plain": {1: lambda p: offset(p, 100.0)}})
    with serve(repo, "--no-strict-readiness") as server:
        with grpcclient.InferenceServerClient(server.url) as client:
            index = client.get_model_repository_index().models
            scored = [m for m in index if m.name == "scored"]
            assert scored and all(m.state == "UNAVAILABLE" for m in scored)
            assert any("rollout.toml" in m.reason for m in scored), scored
            x = np.zeros((1, 1), np.float32)
            result = client.infer("plain", [tensor("INPUT0", x, "FP32")])
            assert int(result.as_numpy("OUTPUT0").item()) == 100
