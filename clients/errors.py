"""The one error type the client raises, and its construction from gRPC failures."""

from __future__ import annotations

import grpc


class InferenceServerError(Exception):
    """A request the server refused or failed, or a stream that broke.

    ``status`` is the gRPC status code (``grpc.StatusCode``); ``message`` the server's text.
    """

    def __init__(self, status: grpc.StatusCode, message: str) -> None:
        super().__init__(f"[{status.name}] {message}")
        self.status = status
        self.message = message


def from_rpc_error(error: grpc.RpcError) -> InferenceServerError:
    """Turns a failed call (sync or asyncio) into an InferenceServerError."""
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else None
    return InferenceServerError(code or grpc.StatusCode.UNKNOWN, details or str(error))


_STATUS_BY_NAME = {code.name: code for code in grpc.StatusCode}


def from_stream_message(message: str) -> InferenceServerError:
    """Turns a stream's ``error_message`` into an InferenceServerError.

    The protocol carries no status code on a stream error; when the text starts with a status
    name ("UNAVAILABLE: queue full") that code is used, so load tests can still count rejections
    by kind, else UNKNOWN.
    """
    head = message.split(":", 1)[0].strip().upper().removeprefix("[").removesuffix("]")
    head = head.removeprefix("STATUSCODE.")
    return InferenceServerError(_STATUS_BY_NAME.get(head, grpc.StatusCode.UNKNOWN), message)
