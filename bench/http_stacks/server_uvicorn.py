"""Candidate (b): uvicorn with the httptools parser on uvloop, serving the raw ASGI app."""

from __future__ import annotations

import uvicorn

from bench.http_stacks import common
from bench.http_stacks.asgi_app import app


def main() -> None:
    host, port = common.parse_address()
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        workers=1,
        lifespan="on",  # starts the engine when there is one
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
