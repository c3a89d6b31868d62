"""`naiad rollout start/status/promote/abort/clear` and the /v2/rollout endpoints against a
real server: every verb, the errors for bad arguments, and a running rollout's state across a
server restart. The CLI runs as a real process (`python -m naiad.cli rollout ...`)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from rollout_support import admin, call_admin, load, offset, running, write_model

from naiad.app import NaiadServer


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    return write_model(tmp_path, "scored", {1: offset(100.0), 2: offset(200.0)})


async def rollout(server: NaiadServer | str, *args: str) -> tuple[int, Any, str]:
    """Runs `naiad rollout --url HTTP ARGS`: (exit status, JSON it printed or None, stderr)."""
    url = server if isinstance(server, str) else server.addresses["http"]
    command = [sys.executable, "-m", "naiad.cli", "rollout", "--url", url, *args]
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=120
    )
    printed = json.loads(done.stdout) if done.stdout.strip() else None
    return done.returncode, printed, done.stderr


async def test_start_status_promote_abort_and_clear_drive_the_running_server(
    repository: Path,
) -> None:
    async with running(repository) as server:
        code, started, _ = await rollout(
            server, "start", "scored", "--to", "2", "--canary", "25", "--max-error-rate", "0.1"
        )
        assert code == 0, started
        assert started["mode"] == "canary" and started["source"] == "api"
        assert (started["stable"], started["candidate"]) == (1, 2)
        assert started["weights"] == {"1": 0.75, "2": 0.25}
        assert started["gates"]["max_error_rate"] == 0.1

        outcomes = await load(server, "scored", 400)
        code, status, _ = await rollout(server, "status", "scored")
        assert code == 0 and status["verdict"] == "running"
        assert status["arms"]["2"]["requests"] == 100 and status["arms"]["1"]["requests"] == 300
        assert status["arms"]["2"]["success"] == sum(o.version == "2" for o in outcomes)
        code, every, _ = await rollout(server, "status")
        assert code == 0 and [s["model"] for s in every] == ["scored"]

        code, promoted, _ = await rollout(server, "promote", "scored")
        assert code == 0 and promoted["verdict"] == "promoted"
        assert promoted["weights"] == {"2": 1.0}
        assert {o.version for o in await load(server, "scored", 100)} == {"2"}

        # a new start rolls out from what serves now (2, promoted) back to 1, then abort
        code, again, _ = await rollout(server, "start", "scored", "--to", "1", "--canary", "50")
        assert code == 0 and (again["stable"], again["candidate"]) == (2, 1)
        code, aborted, _ = await rollout(server, "abort", "scored")
        assert code == 0 and aborted["verdict"] == "aborted"
        assert {o.version for o in await load(server, "scored", 100)} == {"2"}

        code, cleared, _ = await rollout(server, "clear", "scored")
        assert code == 0 and cleared == {"model": "scored", "mode": None, "verdict": None}
        code, status, _ = await rollout(server, "status", "scored")
        assert code == 0 and status["mode"] is None


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["start", "scored", "--to", "2"], "one of the arguments --canary --shadow"),
        (["start", "scored", "--to", "2", "--canary", "5", "--shadow"], "not allowed with"),
        (["start", "scored", "--to", "2", "--canary", "5", "--step", "5"], "go together"),
        (["start", "scored", "--to", "2", "--shadow", "--every", "5s"], "--canary only"),
        (
            ["start", "scored", "--to", "2", "--canary", "5", "--step", "5", "--every", "soon"],
            "--every takes 30s, 2m, 500ms or 1000req",
        ),
        (["start", "scored", "--to", "2", "--canary", "lots"], "invalid float value"),
        (["launch", "scored"], "invalid choice"),
    ],
)
async def test_bad_arguments_are_refused_before_the_server_is_asked(
    repository: Path, args: list[str], says: str
) -> None:
    async with running(repository) as server:
        code, printed, stderr = await rollout(server, *args)
        assert code == 2 and printed is None
        assert says in stderr, stderr
        _, status = await call_admin(server, "/scored")
        assert status["mode"] is None  # nothing started


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["start", "scored", "--to", "2", "--canary", "150"], "within 0..100"),
        (["start", "scored", "--to", "9", "--canary", "5"], "version 9 does not serve"),
        (["start", "scored", "--to", "1", "--canary", "5"], "no version other than 1"),
        (["start", "nope", "--to", "2", "--canary", "5"], "unknown model: 'nope'"),
        (["start", "scored", "--to", "2", "--canary", "5", "--max-error-rate", "2"], "0..1"),
        (["promote", "scored"], "model 'scored' has no rollout"),
        (["abort", "scored"], "model 'scored' has no rollout"),
    ],
)
async def test_what_the_server_refuses_exits_1_with_its_reason(
    tmp_path: Path, args: list[str], says: str
) -> None:
    # one version only serves for "no version other than"; versions 1 and 2 otherwise
    versions = {1: offset(100.0)} if "no version other" in says else None
    repository = write_model(tmp_path, "scored", versions or {1: offset(100.0), 2: offset(200.0)})
    async with running(repository) as server:
        code, printed, _ = await rollout(server, *args)
        assert code == 1
        assert says in printed["error"], printed


async def test_an_unreachable_server_exits_1_saying_where_it_looked() -> None:
    code, printed, _ = await rollout("127.0.0.1:9", "status", "scored")
    assert code == 1 and "cannot reach http://127.0.0.1:9" in printed["error"]


def raw(server: NaiadServer, method: str, path: str, body: bytes | None) -> tuple[int, Any]:
    url = f"http://{server.addresses['http']}/v2/rollout{path}"
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        ("POST", "/scored/start", b"{not json", 400, "malformed JSON"),
        ("POST", "/scored/start", b"[1, 2]", 400, "must be a JSON object"),
        ("POST", "/scored/start", b'{"to": 2, "mode": "sideways"}', 400, "bad rollout plan"),
        ("POST", "/scored/start", b'{"to": 2, "mode": "canary", "pace": 3}', 400, "pace"),
        ("POST", "/scored/start", b'{"mode": "canary"}', 400, "needs 'to'"),
        ("GET", "/scored/start", None, 405, "use POST"),
        ("POST", "/scored", b"{}", 405, "use GET"),
        ("POST", "/nope/promote", b"{}", 404, "model 'nope' has no rollout"),
    ],
)
async def test_the_admin_endpoints_answer_bad_requests_with_a_status_and_the_reason(
    repository: Path, method: str, path: str, body: bytes | None, status: int, says: str
) -> None:
    async with running(repository) as server:
        code, answer = await asyncio.to_thread(raw, server, method, path, body)
        assert code == status, answer
        assert says in answer["error"], answer


async def test_a_running_rollout_continues_where_it_stood_after_a_restart(
    repository: Path,
) -> None:
    # 25 % stepping by 25 points every 100 unversioned requests: 250 requests reach 75 %
    async with running(repository) as server:
        args = ["--canary", "25", "--step", "25", "--every", "100req", "--max-p99-ms", "5000"]
        code, started, _ = await rollout(server, "start", "scored", "--to", "2", *args)
        assert code == 0, started
        await load(server, "scored", 250)
        _, before = await call_admin(server, "/scored")
        assert before["candidate_percent"] == 75.0
    async with running(repository) as server:
        code, after = await asyncio.to_thread(admin, server, "/scored")
        assert after["verdict"] == "running" and after["candidate_percent"] == 75.0
        assert after["weights"] == {"1": 0.25, "2": 0.75}
        assert after["gates"] == before["gates"] and after["source"] == "api"
        assert [e["what"] for e in after["events"]] == [e["what"] for e in before["events"]]
        # the step goes on from its 50th request: 50 more at 75 %, then the 51st steps to 100 %
        outcomes = await load(server, "scored", 150, concurrency=1)
        assert {o.version for o in outcomes[:50]} == {"1", "2"}
        assert {o.version for o in outcomes[50:]} == {"2"}
        code, aborted, _ = await rollout(server, "abort", "scored")
        assert code == 0
    async with running(repository) as server:
        _, status = await call_admin(server, "/scored")
        assert status["verdict"] == "aborted"  # a finished rollout stays finished
        assert {o.version for o in await load(server, "scored", 50)} == {"1"}
