"""One HTTP request as the server hands it to its handler, and the answer it writes back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


@dataclass(slots=True)
class HttpRequest:
    """A complete request: head parsed, body read (still compressed if it was sent so)."""

    method: str
    path: str
    """Percent-encoded, without the query string."""
    query: str
    headers: Mapping[str, str]
    """Field names lower-cased; a repeated field's values joined by ", "."""
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)


@dataclass(slots=True)
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = TEXT
    headers: tuple[tuple[str, str], ...] = field(default=())
    """Extra header fields (Retry-After, Inference-Header-Content-Length, Content-Encoding)."""

    def encode_head(self, keep_alive: bool, head_only: bool = False) -> bytes:
        """The status line and header fields; with `head_only` (a HEAD request) the body's
        length is announced and the body left off by the caller."""
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [
            f"HTTP/1.1 {self.status} {reason}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


Handler = Callable[[HttpRequest], Awaitable[HttpResponse | None]]
"""Answers a request, or None when its path is none of the handler's (the server says 404)."""
