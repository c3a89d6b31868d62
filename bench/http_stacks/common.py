"""What the candidate servers share: the command line (``--host``/``--port``) and uvloop."""

from __future__ import annotations

import argparse


def parse_address(argv: list[str] | None = None) -> tuple[str, int]:
    parser = argparse.ArgumentParser(description="a do-nothing v2 infer server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    return args.host, args.port


def install_uvloop() -> None:
    """Every candidate runs on uvloop; a missing uvloop is an error, not a silent fallback."""
    import asyncio

    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
