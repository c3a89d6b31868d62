"""How many front ends a machine gets, the --frontends flag, and what a pool refuses."""

from __future__ import annotations

import os

import pytest

from naiad.app import NaiadServer, ServerOptions
from naiad.cli import build_parser
from naiad.frontends.launch import default_frontends, frontends_for
from naiad.frontends.pool import FrontEndPool, PoolListener


@pytest.mark.parametrize(("cpus", "expected"), [(1, 1), (2, 1), (3, 1), (4, 2), (5, 3), (16, 4)])
def test_the_default_leaves_the_engine_two_cores_and_stops_at_four(
    cpus: int, expected: int
) -> None:
    assert default_frontends(cpus) == expected


def _serve(*flags: str) -> int | None:
    args = build_parser().parse_args(["serve", "--model-repository", "repo", *flags])
    return args.frontends  # type: ignore[no-any-return]


def test_the_flag_takes_a_count_or_auto(capsys: pytest.CaptureFixture[str]) -> None:
    assert _serve("--frontends", "3") == 3
    assert _serve() == 1  # one process unless asked: the gain is measured on 2 cores only
    assert _serve("--frontends", "auto") is None
    with pytest.raises(SystemExit):
        _serve("--frontends", "0")
    assert "at least 1" in capsys.readouterr().err


def test_one_front_end_serves_in_process_and_more_make_a_pool(tmp_path) -> None:  # type: ignore[no-untyped-def]
    single = NaiadServer(ServerOptions(str(tmp_path), grpc_port=0, http_port=0, metrics_port=None))
    assert single.pool is None
    assert [front.name for front in single.front_ends] == ["grpc", "http"]
    pooled = NaiadServer(
        ServerOptions(str(tmp_path), grpc_port=0, http_port=0, metrics_port=None, frontends=3)
    )
    assert isinstance(pooled.front_ends[0], FrontEndPool)
    assert isinstance(pooled.front_ends[1], PoolListener)


def test_auto_keeps_one_process_for_what_lives_in_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    auto = ServerOptions(str(tmp_path), frontends=None)
    assert frontends_for(auto, monitoring=False) == default_frontends(len(os.sched_getaffinity(0)))
    assert frontends_for(auto, monitoring=True) == 1
    assert frontends_for(ServerOptions(str(tmp_path), frontends=None, allow_client_shm=True),
                         monitoring=False) == 1  # fmt: skip
    assert frontends_for(ServerOptions(str(tmp_path), frontends=3), monitoring=True) == 3


def test_client_shared_memory_needs_a_single_process(tmp_path) -> None:  # type: ignore[no-untyped-def]
    options = ServerOptions(str(tmp_path), allow_client_shm=True, frontends=2)
    with pytest.raises(ValueError, match="--frontends 1"):
        NaiadServer(options)
