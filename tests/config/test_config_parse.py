"""config.pbtxt and JSON configs: parsed, or refused with the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from naiad.config.parse import parse_config_json, parse_config_text, read_config_file
from naiad.errors import ModelLoadError


def test_text_format_is_parsed() -> None:
    config = parse_config_text(
        'name: "m"\nmax_batch_size: 8\ninput [{ name: "IN" data_type: TYPE_FP32 dims: [ 4 ] }]',
        model="m",
    )
    assert config.name == "m" and config.max_batch_size == 8
    assert config.input[0].name == "IN" and list(config.input[0].dims) == [4]


def test_missing_file_is_none(tmp_path: Path) -> None:
    assert read_config_file(tmp_path, model="m") is None


def test_malformed_file_names_model_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "config.pbtxt").write_text('name: "m"\nmax_batch_size: "eight"\n')
    with pytest.raises(ModelLoadError) as info:
        read_config_file(tmp_path, model="m")
    message = info.value.message
    assert message.startswith("model 'm': cannot parse ")
    assert str(tmp_path / "config.pbtxt") in message
    assert "2:" in message  # the line of the error


def test_unknown_field_is_an_error() -> None:
    with pytest.raises(ModelLoadError, match="no_such_field"):
        parse_config_text("no_such_field: 1", model="m")


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "config.pbtxt").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ModelLoadError, match="model 'm': cannot read"):
        read_config_file(tmp_path, model="m")


def test_json_config_is_parsed() -> None:
    config = parse_config_json(
        '{"name": "m", "max_batch_size": 2, "version_policy": {"all": {}}}', model="m"
    )
    assert config.max_batch_size == 2
    assert config.version_policy.WhichOneof("policy_choice") == "all"


def test_malformed_json_says_it_is_the_config_parameter() -> None:
    with pytest.raises(ModelLoadError, match="model 'm': cannot parse the 'config' parameter"):
        parse_config_json('{"max_batch_size": "many"}', model="m")


def test_an_enum_number_protobuf_cannot_hold_is_a_load_error() -> None:
    # protobuf raises ValueError, not ParseError, for a number outside int32.
    with pytest.raises(ModelLoadError, match="cannot parse config.pbtxt"):
        parse_config_text("input { data_type: 4294967296 }", model="m")
