"""Candidate (a): aiohttp.web on uvloop, access log off; naiad's engine behind it when asked."""

from __future__ import annotations

import json

from aiohttp import web

from bench.http_stacks import common, engine_behind, payload

_ENGINE = engine_behind.from_env()


async def infer(request: web.Request) -> web.Response:
    body = await request.read()
    if _ENGINE is not None:
        return web.Response(body=await _ENGINE.infer(body), content_type="application/json")
    json.loads(body)
    return web.Response(body=payload.RESPONSE, content_type="application/json")


async def start_engine(app: web.Application) -> None:
    if _ENGINE is not None:
        await _ENGINE.start()


async def stop_engine(app: web.Application) -> None:
    if _ENGINE is not None:
        await _ENGINE.stop()


async def ready(request: web.Request) -> web.Response:
    return web.Response(body=b"")


def main() -> None:
    host, port = common.parse_address()
    common.install_uvloop()
    app = web.Application()
    app.router.add_post(payload.INFER_PATH, infer)
    app.router.add_get(payload.READY_PATH, ready)
    app.on_startup.append(start_engine)
    app.on_cleanup.append(stop_engine)
    web.run_app(app, host=host, port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
