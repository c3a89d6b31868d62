"""API keys: the keys file's format, lookups by secret, and rotation without a restart
(WatchedFile, driven by an injected monotonic clock)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from naiad.engine.context import Caller
from naiad.security.api_keys import (
    ApiKey,
    ApiKeys,
    hash_secret,
    key_entry,
    new_secret,
    parse_keys,
)
from naiad.security.scopes import Grant
from naiad.security.watched_file import WatchedFile

OLD = "naiad_old-secret"
NEW = "naiad_new-secret-rotated"
DIGEST = "a" * 64
EXPIRES = "2027-06-30T00:00:00Z"
EXPIRES_S = 1814313600.0
"""EXPIRES as seconds since the epoch."""


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def entry(identity: str, secret: str, *lines: str) -> str:
    body = "".join(f"{line}\n" for line in lines)
    return f'[[keys]]\nid = "{identity}"\nsha256 = "{hash_secret(secret)}"\n{body}'


def rewrite(path: Path, text: str) -> None:
    """Writes `text` and moves the mtime a second on, so the change is seen whatever the
    file system's timestamp resolution."""
    before = os.stat(path)
    path.write_text(text, encoding="utf-8")
    later = before.st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(later, later))


def problem(body: str) -> str:
    with pytest.raises(ValueError) as refused:
        parse_keys(f"[[keys]]\n{body}\n")
    return str(refused.value)


# --- the file's format ---------------------------------------------------------------------


def test_hash_secret_is_hex_sha256() -> None:
    assert hash_secret("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_new_secrets_are_prefixed_random_and_long() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("naiad_") and second.startswith("naiad_")
    assert first != second
    assert len(first) == len("naiad_") + 43  # 32 random bytes, URL-safe base64
    assert "." not in first  # never mistaken for a JWT


def test_parse_reads_every_field() -> None:
    text = (
        "[[keys]]\n"
        'id = "fraud-ci"\n'
        f'sha256 = "{DIGEST.upper()}"\n'
        'scopes = ["infer:fraud*", "metadata"]\n'
        "rate = 50.0\n"
        "burst = 100\n"
        f"expires = {EXPIRES}\n"
    )
    keys = parse_keys(text)
    assert list(keys) == [DIGEST]  # stored lower-case, as hash_secret writes it
    key = keys[DIGEST]
    assert key.expires_s == EXPIRES_S
    assert key.caller == Caller("fraud-ci", rate=(50.0, 100.0))
    assert key.caller.scopes.grants == (Grant("infer", "fraud*"), Grant("metadata", "*"))


def test_parse_defaults_of_the_optional_fields() -> None:
    keys = parse_keys(f'[[keys]]\nid = "app"\nsha256 = "{DIGEST}"\n')
    assert keys == {DIGEST: ApiKey(Caller("app"), None)}
    assert keys[DIGEST].caller.rate is None
    assert keys[DIGEST].caller.scopes.grants == ()


@pytest.mark.parametrize(
    ("fields", "rate"),
    [
        ("rate = 20", (20.0, 20.0)),
        ("rate = 0.5", (0.5, 1.0)),
        ("rate = 2.5\nburst = 1", (2.5, 1.0)),
        ("rate = 10\nburst = 3.5", (10.0, 3.5)),
    ],
)
def test_parse_rate_and_its_default_burst(fields: str, rate: tuple[float, float]) -> None:
    keys = parse_keys(f'[[keys]]\nid = "app"\nsha256 = "{DIGEST}"\n{fields}\n')
    assert keys[DIGEST].caller.rate == rate


@pytest.mark.parametrize(
    "expires",
    ["2027-06-30T00:00:00Z", "2027-06-30T00:00:00", "2027-06-30T02:00:00+02:00"],
    ids=["utc", "local-is-utc", "offset"],
)
def test_parse_expiry_in_any_zone(expires: str) -> None:
    keys = parse_keys(f'[[keys]]\nid = "app"\nsha256 = "{DIGEST}"\nexpires = {expires}\n')
    assert keys[DIGEST].expires_s == EXPIRES_S


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f'sha256 = "{DIGEST}"', "key 1: 'id' must be a non-empty string"),
        (f'id = ""\nsha256 = "{DIGEST}"', "key 1: 'id' must be a non-empty string"),
        (f'id = 5\nsha256 = "{DIGEST}"', "key 1: 'id' must be a non-empty string"),
        ('id = "app"', "key 1: 'app': 'sha256' must be 64 hex digits"),
        ('id = "app"\nsha256 = "abc"', "key 1: 'app': 'sha256' must be 64 hex digits"),
        (f'id = "app"\nsha256 = "{"g" * 64}"', "key 1: 'app': 'sha256' must be 64 hex digits"),
        (f'id = "app"\nsha256 = "{"a" * 65}"', "key 1: 'app': 'sha256' must be 64 hex digits"),
        ('id = "app"\nsha256 = 5', "key 1: 'app': 'sha256' must be 64 hex digits"),
        (
            f'id = "app"\nsha256 = "{DIGEST}"\nscopes = "infer"',
            "key 1: 'app': 'scopes' must be a list of strings",
        ),
        (
            f'id = "app"\nsha256 = "{DIGEST}"\nscopes = [1]',
            "key 1: 'app': 'scopes' must be a list of strings",
        ),
        (
            f'id = "app"\nsha256 = "{DIGEST}"\nscopes = ["infer", "read"]',
            "key 1: invalid scope(s) 'read': expected ACTION[:PATTERN] with ACTION one of"
            " infer, metadata, statistics, repository, admin or *",
        ),
        (
            f'id = "app"\nsha256 = "{DIGEST}"\nrate = 0',
            "key 1: 'app': 'rate' must be a positive number",
        ),
        (
            f'id = "app"\nsha256 = "{DIGEST}"\nrate = -1.5',
            "key 1: 'app': 'rate' must be a positive number",
        ),
        (
            f'id = "app"\nsha256 = "{DIGEST}"\nrate = true',
            "key 1: 'app': 'rate' must be a positive number",
        ),
        (
            f'id = "app"\nsha256 = "{DIGEST}"\nrate = "5"',
            "key 1: 'app': 'rate' must be a positive number",
        ),
        (f'id = "app"\nsha256 = "{DIGEST}"\nburst = 5', "key 1: 'app': 'burst' needs 'rate'"),
        (
            f'id = "app"\nsha256 = "{DIGEST}"\nrate = 5\nburst = 0.5',
            "key 1: 'app': 'burst' must be a number >= 1",
        ),
        (
            f'id = "app"\nsha256 = "{DIGEST}"\nrate = 5\nburst = true',
            "key 1: 'app': 'burst' must be a number >= 1",
        ),
        (
            f'id = "app"\nsha256 = "{DIGEST}"\nexpires = "2027-06-30"',
            "key 1: 'app': 'expires' must be a TOML date-time",
        ),
        (
            f'id = "app"\nsha256 = "{DIGEST}"\nexpires = 2027-06-30',
            "key 1: 'app': 'expires' must be a TOML date-time",
        ),
        (
            f'id = "app"\nsha256 = "{DIGEST}"\nexpires = 12:00:00',
            "key 1: 'app': 'expires' must be a TOML date-time",
        ),
        (
            f'id = "app"\nsha256 = "{DIGEST}"\nsecret = "x"\nowner = "y"',
            "key 1: unknown field(s) owner, secret",
        ),
    ],
)
def test_parse_refuses_each_invalid_field(body: str, message: str) -> None:
    assert problem(body) == message


def test_parse_lists_the_problems_of_every_key() -> None:
    text = (
        '[[keys]]\nid = ""\n'
        + entry("good", OLD)
        + '[[keys]]\nid = "bad"\nsha256 = "x"\n'
        + entry("also-good", NEW)
    )
    with pytest.raises(ValueError) as refused:
        parse_keys(text)
    assert str(refused.value) == (
        "key 1: 'id' must be a non-empty string; key 3: 'bad': 'sha256' must be 64 hex digits"
    )


def test_parse_refuses_two_keys_with_one_secret() -> None:
    text = (
        f'[[keys]]\nid = "first"\nsha256 = "{DIGEST}"\n'
        + entry("other", OLD)
        + f'[[keys]]\nid = "second"\nsha256 = "{DIGEST.upper()}"\n'
    )
    with pytest.raises(ValueError) as refused:
        parse_keys(text)
    assert str(refused.value) == "key 3: the same secret as key 'first'"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[server]\nport = 1\n[[keys]]\nid = "a"\n', "expected only [[keys]] tables"),
        ("keys = 1\n", "expected only [[keys]] tables"),
        ('[keys]\nid = "a"\n', "expected only [[keys]] tables"),
        ("keys = [1]\n", "key 1: not a table"),
    ],
)
def test_parse_refuses_other_layouts(text: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_keys(text)
    assert str(refused.value) == message


def test_parse_refuses_what_is_not_toml() -> None:
    with pytest.raises(ValueError) as refused:
        parse_keys("[[keys]\nid = ")
    assert str(refused.value).startswith("not TOML: ")


def test_an_empty_file_has_no_keys() -> None:
    assert parse_keys("") == {}
    assert parse_keys("# no keys yet\n") == {}


def test_key_entry_is_what_parse_keys_reads() -> None:
    text = key_entry("fraud-ci", OLD, ["infer:fraud*", "metadata"])
    assert text == (
        "[[keys]]\n"
        'id = "fraud-ci"\n'
        f'sha256 = "{hash_secret(OLD)}"\n'
        'scopes = ["infer:fraud*", "metadata"]\n'
    )
    keys = parse_keys(text)
    assert keys == {hash_secret(OLD): ApiKey(Caller("fraud-ci"), None)}
    assert keys[hash_secret(OLD)].caller.scopes.grants == (
        Grant("infer", "fraud*"),
        Grant("metadata", "*"),
    )


def test_key_entry_refuses_an_invalid_scope() -> None:
    with pytest.raises(ValueError, match=r"^invalid scope\(s\) 'infer:'"):
        key_entry("app", OLD, ["infer:"])


@pytest.mark.parametrize("identity", ['team "ci"', "corp\\ci", "tab\there"])
def test_key_entry_escapes_what_toml_needs(identity: str) -> None:
    keys = parse_keys(key_entry(identity, OLD, ['infer:a"b*', "metadata:c\\d"]))
    caller = keys[hash_secret(OLD)].caller
    assert caller.identity == identity
    assert caller.scopes.grants == (Grant("infer", 'a"b*'), Grant("metadata", "c\\d"))


# --- lookups --------------------------------------------------------------------------------


@pytest.fixture
def monotonic() -> Clock:
    return Clock(100.0)


@pytest.fixture
def wall_clock() -> Clock:
    return Clock(EXPIRES_S - 60.0)


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.toml"
    path.write_text(
        entry("app", OLD, 'scopes = ["infer:fraud*"]')
        + entry("temp", "naiad_temporary", f"expires = {EXPIRES}")
        + entry("limited", "naiad_limited", "rate = 5", "burst = 10"),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def api_keys(keys_file: Path, monotonic: Clock, wall_clock: Clock) -> ApiKeys:
    return ApiKeys(keys_file, recheck_s=1.0, monotonic=monotonic, wall_clock=wall_clock)


def test_caller_of_a_known_key(api_keys: ApiKeys) -> None:
    caller = api_keys.caller(OLD)
    assert caller == Caller("app")
    assert caller is not None and caller.scopes.grants == (Grant("infer", "fraud*"),)
    assert api_keys.caller("naiad_limited") == Caller("limited", rate=(5.0, 10.0))


@pytest.mark.parametrize(
    "secret", ["naiad_unknown", "", hash_secret(OLD), OLD.upper(), OLD + " ", OLD[:-1]]
)
def test_an_unknown_key_has_no_caller(api_keys: ApiKeys, secret: str) -> None:
    assert api_keys.caller(secret) is None


def test_a_key_stops_at_its_expiry(api_keys: ApiKeys, wall_clock: Clock) -> None:
    wall_clock.now = EXPIRES_S - 0.001
    assert api_keys.caller("naiad_temporary") == Caller("temp")
    wall_clock.now = EXPIRES_S
    assert api_keys.caller("naiad_temporary") is None
    wall_clock.now = EXPIRES_S + 86_400
    assert api_keys.caller("naiad_temporary") is None
    assert api_keys.caller(OLD) == Caller("app")  # keys without an expiry go on


def test_a_file_that_does_not_parse_refuses_to_start(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text('[[keys]]\nid = "app"\n', encoding="utf-8")
    with pytest.raises(ValueError) as refused:
        ApiKeys(path)
    assert str(refused.value) == f"{path}: key 1: 'app': 'sha256' must be 64 hex digits"


def test_a_missing_file_refuses_to_start(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ValueError) as refused:
        ApiKeys(path)
    assert str(refused.value) == f"cannot read {path}: No such file or directory"


# --- rotation without a restart --------------------------------------------------------------


def test_rotation_takes_effect_once_recheck_s_has_passed(
    api_keys: ApiKeys, keys_file: Path, monotonic: Clock
) -> None:
    rewrite(keys_file, entry("app-rotated", NEW, 'scopes = ["infer:fraud*"]'))
    monotonic.now = 100.999
    assert api_keys.caller(OLD) == Caller("app")
    assert api_keys.caller(NEW) is None
    monotonic.now = 101.0
    assert api_keys.caller(NEW) == Caller("app-rotated")
    assert api_keys.caller(OLD) is None


def test_the_file_is_looked_at_once_per_recheck_s(
    api_keys: ApiKeys, keys_file: Path, monotonic: Clock
) -> None:
    monotonic.now = 101.0
    assert api_keys.caller(OLD) == Caller("app")  # checked now; next check at 102.0
    rewrite(keys_file, entry("app-rotated", NEW))
    monotonic.now = 101.999
    assert api_keys.caller(NEW) is None
    assert api_keys.caller(OLD) == Caller("app")
    monotonic.now = 102.0
    assert api_keys.caller(NEW) == Caller("app-rotated")
    assert api_keys.caller(OLD) is None


def test_adding_a_key_keeps_the_old_ones(
    api_keys: ApiKeys, keys_file: Path, monotonic: Clock
) -> None:
    rewrite(keys_file, keys_file.read_text(encoding="utf-8") + entry("second", NEW))
    monotonic.now = 101.0
    assert api_keys.caller(NEW) == Caller("second")
    assert api_keys.caller(OLD) == Caller("app")


def test_a_broken_rewrite_keeps_the_old_keys_and_is_logged(
    api_keys: ApiKeys, keys_file: Path, monotonic: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="naiad.security")
    rewrite(keys_file, entry("app-rotated", NEW) + '[[keys]]\nid = "oops"\n')
    monotonic.now = 101.0
    assert api_keys.caller(OLD) == Caller("app")
    assert api_keys.caller(NEW) is None
    records = [r for r in caplog.records if r.name == "naiad.security"]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (
            logging.ERROR,
            f"keeping the previous {keys_file}: key 2: 'oops': 'sha256' must be 64 hex digits",
        )
    ]
    # The broken file is not re-read on every later check...
    monotonic.now = 105.0
    assert api_keys.caller(OLD) == Caller("app")
    assert len([r for r in caplog.records if r.name == "naiad.security"]) == 1
    # ...and the fix is picked up at the next check.
    rewrite(keys_file, entry("app-rotated", NEW))
    monotonic.now = 106.0
    assert api_keys.caller(NEW) == Caller("app-rotated")
    assert api_keys.caller(OLD) is None
    last = [r for r in caplog.records if r.name == "naiad.security"][-1]
    assert (last.levelno, last.getMessage()) == (logging.INFO, f"reloaded {keys_file}")


def test_a_deleted_file_keeps_the_old_keys(
    api_keys: ApiKeys, keys_file: Path, monotonic: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="naiad.security")
    keys_file.unlink()
    monotonic.now = 101.0
    assert api_keys.caller(OLD) == Caller("app")
    messages = [r.getMessage() for r in caplog.records if r.name == "naiad.security"]
    assert len(messages) == 1
    assert messages[0].startswith(f"keeping the previous {keys_file}: ")


def test_reload_forces_a_reread_before_recheck_s(api_keys: ApiKeys, keys_file: Path) -> None:
    rewrite(keys_file, entry("app-rotated", NEW))
    assert api_keys.caller(NEW) is None
    assert api_keys.reload() is True
    assert api_keys.caller(NEW) == Caller("app-rotated")
    assert api_keys.caller(OLD) is None


def test_reload_of_a_broken_file_keeps_the_old_keys(api_keys: ApiKeys, keys_file: Path) -> None:
    rewrite(keys_file, "not = [toml")
    assert api_keys.reload() is False
    assert api_keys.caller(OLD) == Caller("app")


def test_an_unchanged_file_is_not_parsed_again(tmp_path: Path) -> None:
    path = tmp_path / "value.txt"
    path.write_text("one", encoding="utf-8")
    parsed: list[str] = []
    clock = Clock(0.0)

    def parse(text: str) -> str:
        parsed.append(text)
        return text.upper()

    watched = WatchedFile(path, parse, recheck_s=2.0, clock=clock)
    assert parsed == ["one"]
    for now in (1.0, 2.0, 3.0, 10.0, 100.0):
        clock.now = now
        assert watched.current() == "ONE"
    assert parsed == ["one"]
    rewrite(path, "three")
    clock.now = 101.0  # the last check was at 100.0
    assert watched.current() == "ONE"
    clock.now = 102.0
    assert watched.current() == "THREE"
    assert parsed == ["one", "three"]


def test_a_same_size_rewrite_is_seen_by_its_mtime(tmp_path: Path) -> None:
    path = tmp_path / "value.txt"
    path.write_text("aaa", encoding="utf-8")
    clock = Clock(0.0)
    watched = WatchedFile(path, str.upper, recheck_s=1.0, clock=clock)
    rewrite(path, "bbb")
    clock.now = 1.0
    assert watched.current() == "BBB"


def test_the_anonymous_callers_name_is_not_a_key_id() -> None:
    # "-" names unauthenticated calls in limits and audit lines; a key must not share it.
    with pytest.raises(ValueError, match="'id' must not be '-'"):
        parse_keys(f'[[keys]]\nid = "-"\nsha256 = "{"a" * 64}"\n')
