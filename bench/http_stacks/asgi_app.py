"""A raw ASGI app (no framework), shared by the uvicorn and granian-asgi candidates; with
naiad's engine behind it (engine_behind), started and stopped by the ASGI lifespan."""

from __future__ import annotations

import json
from typing import Any

from bench.http_stacks import engine_behind, payload

_JSON_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(payload.RESPONSE)).encode()),
]
_EMPTY_HEADERS = [(b"content-length", b"0")]
_ENGINE = engine_behind.from_env()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if _ENGINE is not None:
                    await _ENGINE.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _ENGINE is not None:
                    await _ENGINE.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return
    path, method = scope["path"], scope["method"]
    if path == payload.INFER_PATH and method == "POST":
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if _ENGINE is None:
            json.loads(body)
            await send({"type": "http.response.start", "status": 200, "headers": _JSON_HEADERS})
            await send({"type": "http.response.body", "body": payload.RESPONSE})
            return
        answer = await _ENGINE.infer(body)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
        return
    status = 200 if path == payload.READY_PATH and method == "GET" else 404
    await send({"type": "http.response.start", "status": status, "headers": _EMPTY_HEADERS})
    await send({"type": "http.response.body", "body": b""})
