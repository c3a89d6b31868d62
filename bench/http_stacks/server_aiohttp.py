"""Candidate (a): aiohttp.web on uvloop, access log off."""

from __future__ import annotations

import json

from aiohttp import web

from bench.http_stacks import common, payload


async def infer(request: web.Request) -> web.Response:
    json.loads(await request.read())
    return web.Response(body=payload.RESPONSE, content_type="application/json")


async def ready(request: web.Request) -> web.Response:
    return web.Response(body=b"")


def main() -> None:
    host, port = common.parse_address()
    common.install_uvloop()
    app = web.Application()
    app.router.add_post(payload.INFER_PATH, infer)
    app.router.add_get(payload.READY_PATH, ready)
    web.run_app(app, host=host, port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
