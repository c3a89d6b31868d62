"""Logging: plain or JSON lines, severities switchable at start-up and at run time.

Python's logging is process-wide, so these settings are too: `configure()` at start-up,
`update()` from the LogSettings RPC, `current()` to read them. The keys are Triton's
(log_info, log_warning, log_error, log_verbose_level, log_format, log_file).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from naiad.errors import InvalidArgument

FORMATS = ("plain", "json")
_FORMAT_ALIASES = {"default": "plain", "ISO8601": "plain"}
"""Triton's log_format values; plain lines already carry ISO 8601 times."""

SettingValue = bool | int | str


@dataclass(frozen=True)
class LogConfig:
    """What is logged and how; one field per LogSettings key."""

    log_info: bool = True
    log_warning: bool = True
    log_error: bool = True
    log_verbose_level: int = 0
    """Above 0, DEBUG records are written too."""
    log_format: str = "plain"
    """"plain" or "json" (one JSON object per line)."""
    log_file: str = ""
    """Where lines go; "" is standard error. Fixed at start-up: a client must not choose which
    file the server appends to."""

    @classmethod
    def from_level(cls, level: str, log_format: str = "plain", log_file: str = "") -> LogConfig:
        """From a --log-level name (DEBUG, INFO, WARNING, ERROR); raises ValueError."""
        severities = {
            "DEBUG": (True, True, True, 1),
            "INFO": (True, True, True, 0),
            "WARNING": (False, True, True, 0),
            "ERROR": (False, False, True, 0),
        }
        if level.upper() not in severities:
            raise ValueError(f"unknown log level '{level}'; one of {', '.join(severities)}")
        info, warning, error, verbose = severities[level.upper()]
        return cls(info, warning, error, verbose, log_format, log_file)

    def allows(self, levelno: int) -> bool:
        if levelno >= logging.ERROR:
            return self.log_error
        if levelno >= logging.WARNING:
            return self.log_warning
        if levelno >= logging.INFO:
            return self.log_info
        return self.log_verbose_level > 0

    @property
    def threshold(self) -> int:
        """The lowest level any enabled severity needs, so disabled records cost one compare."""
        for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
            if self.allows(level):
                return level
        return logging.CRITICAL + 1


class PlainFormatter(logging.Formatter):
    """`<ISO time> <LEVEL> <logger>: <message> [key=value ...]`."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _SeverityFilter(logging.Filter):
    # Triton's switches are independent (warnings off, errors on); a level threshold is not.
    def filter(self, record: logging.LogRecord) -> bool:
        return _state.config.allows(record.levelno)


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.config = LogConfig()
        self.handler: logging.Handler | None = None


_state = _State()


def configure(config: LogConfig) -> None:
    """Installs naiad's handler on the root logger (replacing an earlier one) and applies
    `config`. Raises InvalidArgument for an unknown format."""
    with _state.lock:
        handler: logging.Handler = (
            logging.FileHandler(config.log_file, encoding="utf-8")
            if config.log_file
            else logging.StreamHandler(sys.stderr)
        )
        handler.addFilter(_SeverityFilter())
        root = logging.getLogger()
        if _state.handler is not None:
            root.removeHandler(_state.handler)
            _state.handler.close()
        root.addHandler(handler)
        _state.handler = handler
        _apply(_checked(config))


def current() -> LogConfig:
    return _state.config


def update(changes: Mapping[str, SettingValue]) -> LogConfig:
    """Applies LogSettings changes and returns the settings now in force.

    Raises InvalidArgument for an unknown key, a value of the wrong type, an unknown format,
    or a change of log_file; nothing is applied then.
    """
    with _state.lock:
        fields = asdict(_state.config)
        for key, value in changes.items():
            if key not in fields:
                raise InvalidArgument(f"unknown log setting '{key}'; known: {', '.join(fields)}")
            if type(value) is not type(fields[key]):
                kind = type(fields[key]).__name__
                raise InvalidArgument(f"log setting '{key}' takes a {kind} value")
        if changes.get("log_file", _state.config.log_file) != _state.config.log_file:
            raise InvalidArgument("log_file is set at start-up (--log-file) and cannot change")
        _apply(_checked(replace(_state.config, **changes)))  # type: ignore[arg-type]
        return _state.config


def _checked(config: LogConfig) -> LogConfig:
    log_format = _FORMAT_ALIASES.get(config.log_format, config.log_format)
    if log_format not in FORMATS:
        raise InvalidArgument(f"unknown log_format '{config.log_format}'; one of plain, json")
    if config.log_verbose_level < 0:
        raise InvalidArgument("log_verbose_level cannot be negative")
    return replace(config, log_format=log_format)


def _apply(config: LogConfig) -> None:
    _state.config = config
    logging.getLogger().setLevel(config.threshold)
    if _state.handler is not None:
        formatter = JsonFormatter() if config.log_format == "json" else PlainFormatter()
        _state.handler.setFormatter(formatter)
