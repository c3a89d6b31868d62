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
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission_denied"
    TOO_LARGE = "too_large"
    """A request over a size cap: RESOURCE_EXHAUSTED on gRPC (as its own message-size limit
    answers), 413 on HTTP."""


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


class Unauthenticated(NaiadError):
    """No credential, or one that does not verify; the message never says which."""

    code = ErrorCode.UNAUTHENTICATED


class PermissionDenied(NaiadError):
    """The caller is known but may not do this; also what a model the caller cannot see
    answers, whether or not it exists."""

    code = ErrorCode.PERMISSION_DENIED


class ResourceExhausted(NaiadError):
    """A limit was reached (rate, in-flight, size); `retry_after_s` says when trying again can
    succeed, where a limit knows (a rate does; a size cap does not)."""

    code = ErrorCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TooLarge(NaiadError):
    """A request, tensor or element over a configured size cap."""

    code = ErrorCode.TOO_LARGE


class RunFailed(NaiadError):
    """A model version failed while running a batch whose requests had passed validation: the
    version's fault, whatever code the caller is shown (`code`: the underlying error's, e.g.
    INVALID_ARGUMENT for onnxruntime rejecting an index the model computed)."""


def error_text(error: BaseException) -> str:
    """What a client is told about `error`, on every front end and in unary and streamed
    answers alike: a domain error's own message, anything else as an internal error."""
    if isinstance(error, NaiadError):
        return error.message
    return f"internal error: {error}"


def error_code(error: BaseException) -> ErrorCode:
    """The code a front end maps to its protocol's status for `error`."""
    return error.code if isinstance(error, NaiadError) else ErrorCode.INTERNAL
