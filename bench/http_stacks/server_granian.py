"""Candidates (c): granian (Rust HTTP, Python app) on uvloop, one worker, one runtime thread,
serving the raw ASGI app (``--interface asgi``) or the same app over RSGI (``--interface rsgi``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bench.http_stacks import engine_behind, payload

_ENGINE = engine_behind.from_env()

_JSON_HEADERS = [("content-type", "application/json")]


class Rsgi:
    """The RSGI twin of asgi_app.app: read the body, parse it, answer the fixed response (or
    naiad's engine's, started on the worker's loop before it serves)."""

    def __rsgi_init__(self, loop: Any) -> None:
        if _ENGINE is not None:
            loop.run_until_complete(_ENGINE.start())

    async def __call__(self, scope: Any, proto: Any) -> None:
        if scope.path == payload.INFER_PATH and scope.method == "POST":
            body = await proto()
            if _ENGINE is not None:
                proto.response_bytes(200, _JSON_HEADERS, await _ENGINE.infer(body))
                return
            json.loads(body)
            proto.response_bytes(200, _JSON_HEADERS, payload.RESPONSE)
            return
        status = 200 if scope.path == payload.READY_PATH and scope.method == "GET" else 404
        proto.response_empty(status, [])


rsgi_app = Rsgi()


def main() -> None:
    parser = argparse.ArgumentParser(description="a do-nothing v2 infer server on granian")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--interface", choices=["asgi", "rsgi"], default="asgi")
    args = parser.parse_args()
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels

    target = {
        "asgi": "bench.http_stacks.asgi_app:app",
        "rsgi": "bench.http_stacks.server_granian:rsgi_app",
    }[args.interface]
    Granian(
        target,
        address=args.host,
        port=args.port,
        interface=Interfaces(args.interface),
        workers=1,
        runtime_threads=1,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        log_level=LogLevels.warning,
        log_access=False,
    ).serve()


if __name__ == "__main__":
    main()
