"""Log configuration: levels, formats, run-time updates and what they refuse."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from naiad.errors import InvalidArgument
from naiad.observability import logs


def test_levels_map_to_triton_switches() -> None:
    warning = logs.LogConfig.from_level("warning")
    assert (warning.log_info, warning.log_warning, warning.log_error) == (False, True, True)
    assert logs.LogConfig.from_level("DEBUG").log_verbose_level == 1
    assert logs.LogConfig.from_level("ERROR").threshold == logging.ERROR
    with pytest.raises(ValueError):
        logs.LogConfig.from_level("LOUD")
    errors_off = logs.LogConfig(log_error=False)
    assert errors_off.allows(logging.WARNING) and not errors_off.allows(logging.CRITICAL)


def test_json_lines_to_a_file_and_switches_at_run_time(tmp_path: Path) -> None:
    path = tmp_path / "naiad.log"
    logs.configure(logs.LogConfig(log_format="json", log_file=str(path)))
    log = logging.getLogger("naiad.test")
    log.info("hello %s", "there", extra={"fields": {"model": "m", "status": "OK"}})
    logs.update({"log_warning": False})
    log.warning("dropped")  # warnings off while errors and info stay on
    log.error("kept")
    logs.update({"log_format": "default"})  # Triton's name for the plain format
    log.info("plain")
    lines = path.read_text().splitlines()
    first = json.loads(lines[0])
    assert first["message"] == "hello there" and first["model"] == "m"
    assert first["level"] == "INFO" and first["logger"] == "naiad.test"
    assert first["time"].endswith("Z")
    assert [json.loads(line)["message"] for line in lines[1:2]] == ["kept"]
    assert lines[2].endswith("INFO naiad.test: plain") and len(lines) == 3
    assert logs.current().log_format == "plain"


def test_update_is_all_or_nothing() -> None:
    before = logs.current()
    with pytest.raises(InvalidArgument):
        logs.update({"log_info": False, "log_level": 3})
    with pytest.raises(InvalidArgument):
        logs.update({"log_info": False, "log_verbose_level": True})
    with pytest.raises(InvalidArgument):
        logs.update({"log_info": False, "log_format": "yaml"})
    assert logs.current() == before
    assert logs.update({"log_file": before.log_file}) == before  # the same file is no change


def test_plain_lines_carry_fields() -> None:
    record = logging.LogRecord("naiad.access", logging.INFO, __file__, 1, "request", (), None)
    record.fields = {"model": "m", "id": "7"}
    line = logs.PlainFormatter().format(record)
    assert line.endswith("INFO naiad.access: request model=m id=7")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.emit(record)
    assert json.loads(stream.getvalue())["id"] == "7"
