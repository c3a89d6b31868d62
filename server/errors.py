"""Domain errors. The transport maps each ErrorCode to a gRPC status in one place."""

from __future__ import annotations

import enum


class ErrorCode(enum.Enum):
    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"
    UNIMPLEMENTED = "unimplemented"
    INTERNAL = "internal"
    CANCELLED = "cancelled"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    FAILED_PRECONDITION = "failed_precondition"
    ALREADY_EXISTS = "already_exists"
    RESOURCE_EXHAUSTED = "resource_exhausted"


class NaiadError(Exception):
    """An error with the code a client should see. The message is shown to the client as is."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0])


class InvalidArgument(NaiadError):
    code = ErrorCode.INVALID_ARGUMENT


class NotFound(NaiadError):
    code = ErrorCode.NOT_FOUND


class Unavailable(NaiadError):
    code = ErrorCode.UNAVAILABLE


class Unimplemented(NaiadError):
    code = ErrorCode.UNIMPLEMENTED


class ModelLoadError(NaiadError):
    """A model (or version) could not be loaded; the message says why."""

    code = ErrorCode.INVALID_ARGUMENT


class DeadlineExceeded(NaiadError):
    code = ErrorCode.DEADLINE_EXCEEDED


def error_text(error: BaseException) -> str:
    """What a client is told about `error`, on every front end and in unary and streamed
    answers alike: a domain error's own message, anything else as an internal error."""
    if isinstance(error, NaiadError):
        return error.message
    return f"internal error: {error}"


def error_code(error: BaseException) -> ErrorCode:
    """The code a front end maps to its protocol's status for `error`."""
    return error.code if isinstance(error, NaiadError) else ErrorCode.INTERNAL
