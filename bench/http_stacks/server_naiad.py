"""Candidate (e): naiad's own HTTP server (transport/http: httptools' parser, naiad's limits,
in-order pipelining) with a do-nothing handler; with naiad's engine behind it, the product's
REST handler (RestApi) over the same engine the other candidates call."""

from __future__ import annotations

import asyncio
import json

from bench.http_stacks import common, engine_behind, payload


async def serve(host: str, port: int) -> None:
    from naiad.transport.http.limits import HttpLimits
    from naiad.transport.http.messages import JSON, HttpRequest, HttpResponse
    from naiad.transport.http.server import HttpServer

    engine = engine_behind.from_env()
    if engine is None:

        async def handler(request: HttpRequest) -> HttpResponse | None:
            if request.path == payload.INFER_PATH and request.method == "POST":
                json.loads(request.body)
                return HttpResponse(200, payload.RESPONSE, JSON)
            if request.path == payload.READY_PATH:
                return HttpResponse(200)
            return None

    else:
        from naiad.security.guard import Guard
        from naiad.transport.http.rest import RestApi

        await engine.start()
        handler = RestApi(engine.server.engine, Guard(), 1 << 26)
    limits = HttpLimits(max_body_bytes=1 << 26)
    server = HttpServer(host, port, handler, "bench", limits=limits)
    await server.start()
    await asyncio.Event().wait()


def main() -> None:
    host, port = common.parse_address()
    common.install_uvloop()
    asyncio.run(serve(host, port))


if __name__ == "__main__":
    main()
