"""The monitoring admin endpoints on the HTTP port; each decodes, makes one monitor call,
encodes. What `naiad monitor` talks to.

GET /v2/monitor (the watched models), GET /v2/monitor/models/{m} (the JSON report; drift
recomputed on the windows as they stand), GET /v2/monitor/models/{m}/report.html (the same as
a self-contained page), POST /v2/monitor/models/{m}/labels with
{"labels": [{"id": "...", "label": 3}, ...]} or {"labels": {"<id>": 3, ...}} (a label is a
number or one number per row of the answer). Reading needs the `statistics` scope on the
model; sending labels needs `infer` (whoever may ask may tell what the answer should have been).
"""

from __future__ import annotations

import asyncio
import re
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from naiad.engine.context import CallContext
from naiad.errors import InvalidArgument
from naiad.monitor.book import MonitorBook
from naiad.monitor.html import render
from naiad.monitor.report import model_report
from naiad.security.authorization import AccessPolicy
from naiad.security.scopes import INFER, STATISTICS
from naiad.transport.http.messages import HttpRequest, HttpResponse

# The REST API's own helpers, so that a wrong method is the same 405 and a bad body the same 400.
from naiad.transport.http.rest import _allow, _json, _object

MONITOR_PREFIX = "/v2/monitor"
_PATH = re.compile(r"^/v2/monitor(?:/models/([^/]+)(?:/(labels|report\.html))?)?$")
MAX_LABELS = 100000
"""Labels one request may carry."""


class MonitorRoutes:
    """Answers paths under MONITOR_PREFIX; None for any other path."""

    def __init__(self, book: MonitorBook, policy: AccessPolicy) -> None:
        self._book = book
        self._policy = policy

    def handles(self, path: str) -> bool:
        return path == MONITOR_PREFIX or path.startswith(MONITOR_PREFIX + "/")

    async def __call__(
        self, request: HttpRequest, context: CallContext, body: bytes
    ) -> HttpResponse | None:
        """Raises NaiadError and the REST API's method error, which RestApi answers."""
        match = _PATH.match(request.path)
        if match is None:
            return None
        name = unquote(match[1] or "")
        verb = match[2]
        if not name:
            _allow(request.method, "GET")
            self._policy.check_any(context, STATISTICS)
            names = [n for n in self._book.names() if self._policy.visible(context, STATISTICS, n)]
            return _json({"models": names})
        if verb == "labels":
            _allow(request.method, "POST")
            self._policy.check(context, INFER, name)
            items = label_items(_object(body))
            self._book.model(name)  # NotFound before any work
            outcome = await asyncio.to_thread(self._book.label, name, items)
            return _json(
                {
                    "matched": outcome.matched,
                    "unmatched": outcome.unmatched,
                    "invalid": outcome.invalid,
                    "errors": outcome.errors,
                }
            )
        _allow(request.method, "GET")
        self._policy.check(context, STATISTICS, name)
        report = await asyncio.to_thread(model_report, self._book, name)
        if verb is None:
            return _json(report)
        page = render(report).encode()
        return HttpResponse(HTTPStatus.OK, page, "text/html; charset=utf-8")


def label_items(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """(request id, label) pairs of a labels body; InvalidArgument for any other shape."""
    labels = body.get("labels")
    if isinstance(labels, dict):
        items = [(str(k), v) for k, v in labels.items()]
    elif isinstance(labels, list):
        items = []
        for entry in labels:
            if not isinstance(entry, dict) or "id" not in entry or "label" not in entry:
                raise InvalidArgument("each entry of 'labels' is an object with 'id' and 'label'")
            items.append((str(entry["id"]), entry["label"]))
    else:
        raise InvalidArgument("'labels' must be a list of {id, label} or an object id -> label")
    if len(items) > MAX_LABELS:
        raise InvalidArgument(f"at most {MAX_LABELS} labels per request, not {len(items)}")
    return items
