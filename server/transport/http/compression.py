"""Content-Encoding of request bodies and Accept-Encoding of answers: gzip and deflate.

Decompression is bounded: a body that would inflate past the server's body limit is refused
(TooLarge) after inflating no more than that, so a small "zip bomb" costs little.
"""

from __future__ import annotations

import zlib

from naiad.errors import InvalidArgument, TooLarge, Unimplemented

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_CHUNK = 1 << 20


def decompress(body: bytes, encoding: str, max_bytes: int) -> bytes:
    """`body` decoded from `encoding` ("", "identity", "gzip" or "deflate")."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return _inflate(body, _GZIP_WBITS, max_bytes, encoding)
    if encoding == "deflate":
        # RFC 9110's deflate is zlib-wrapped; some clients send the raw stream.
        try:
            return _inflate(body, zlib.MAX_WBITS, max_bytes, encoding)
        except InvalidArgument:
            return _inflate(body, -zlib.MAX_WBITS, max_bytes, encoding)
    raise Unimplemented(f"unsupported Content-Encoding '{encoding}' (gzip and deflate are)")


def _inflate(body: bytes, wbits: int, max_bytes: int, encoding: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    parts: list[bytes] = []
    size = 0
    data = body
    try:
        while data:
            part = inflater.decompress(data, min(_CHUNK, max_bytes - size + 1))
            size += len(part)
            if size > max_bytes:
                raise TooLarge(
                    f"request body inflates past the server's limit of {max_bytes} bytes"
                )
            parts.append(part)
            data = inflater.unconsumed_tail
            if not part and not data:
                break
        if not inflater.eof:
            raise InvalidArgument(f"truncated {encoding} request body")
    except zlib.error as exc:
        raise InvalidArgument(f"malformed {encoding} request body: {exc}") from None
    return b"".join(parts)


def choose(accept_encoding: str) -> str | None:
    """The encoding to answer in for an Accept-Encoding value: gzip, then deflate, when the
    client accepts one (a q of 0 refuses it); None: identity."""
    accepted: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        accepted[name.strip().lower()] = q
    for name in ("gzip", "deflate"):
        if accepted.get(name, accepted.get("*", 0.0)) > 0:
            return name
    return None


def compress(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        compressor = zlib.compressobj(6, zlib.DEFLATED, _GZIP_WBITS)
        return compressor.compress(body) + compressor.flush()
    return zlib.compress(body, 6)
