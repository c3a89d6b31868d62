"""The HTTP stacks under test, each a module of this package run as ``python -m MODULE --port N``
by the interpreter that has them installed (``--python``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    name: str
    """Label in the table and in ``--candidates``."""
    module: str
    """Module run with ``-m``; it takes ``--host``/``--port`` and serves until SIGTERM."""
    args: tuple[str, ...] = ()
    """Extra arguments after ``--port``."""
    needs: tuple[str, ...] = ()
    """Distributions it imports, reported with their versions."""


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("aiohttp", "bench.http_stacks.server_aiohttp", needs=("aiohttp", "uvloop")),
    Candidate(
        "uvicorn-httptools",
        "bench.http_stacks.server_uvicorn",
        needs=("uvicorn", "httptools", "uvloop"),
    ),
    Candidate(
        "granian-asgi",
        "bench.http_stacks.server_granian",
        ("--interface", "asgi"),
        needs=("granian", "uvloop"),
    ),
    Candidate(
        "granian-rsgi",
        "bench.http_stacks.server_granian",
        ("--interface", "rsgi"),
        needs=("granian", "uvloop"),
    ),
    Candidate(
        "protocol-httptools", "bench.http_stacks.server_protocol", needs=("httptools", "uvloop")
    ),
    Candidate("naiad-http", "bench.http_stacks.server_naiad", needs=("httptools", "uvloop")),
)

BY_NAME = {c.name: c for c in CANDIDATES}


def select(names: tuple[str, ...] | None) -> tuple[Candidate, ...]:
    """The named candidates in the order given (all of them for None); unknown names raise."""
    if not names:
        return CANDIDATES
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown candidate(s) {unknown}; known: {sorted(BY_NAME)}")
    return tuple(BY_NAME[n] for n in names)


def round_order(candidates: tuple[Candidate, ...], round_index: int) -> tuple[Candidate, ...]:
    """Even rounds in the given order, odd rounds reversed, so that drift (thermal, caches,
    background work) does not favour whoever runs first."""
    return candidates if round_index % 2 == 0 else tuple(reversed(candidates))
