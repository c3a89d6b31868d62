"""The authenticator: Bearer parsing, which verifier a token goes to, and one refusal for all."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from naiad.engine.context import Caller
from naiad.errors import ErrorCode, Unauthenticated
from naiad.security.api_keys import ApiKeys
from naiad.security.authenticator import AUTHORIZATION, Authenticator

REFUSED = "missing or invalid bearer token (send 'authorization: Bearer <token>')"
KEY = "naiad_key-secret"
JWT = "header.payload.signature"
APP = Caller("app")
ALICE = Caller("alice")


class FakeSource:
    """Answers `caller` from a table and records every token it is asked about."""

    def __init__(self, known: dict[str, Caller]) -> None:
        self.known = known
        self.asked: list[str] = []
        self.reloads = 0

    def caller(self, token: str) -> Caller | None:
        self.asked.append(token)
        return self.known.get(token)

    def reload(self) -> bool:
        self.reloads += 1
        return True


@pytest.fixture
def api_keys() -> FakeSource:
    return FakeSource({KEY: APP, "a.b": Caller("dotted"), "a.b.c.d": Caller("many-dots")})


@pytest.fixture
def jwt() -> FakeSource:
    return FakeSource({JWT: ALICE})


@pytest.fixture
def authenticator(api_keys: FakeSource, jwt: FakeSource) -> Authenticator:
    return Authenticator(api_keys=api_keys, jwt=jwt)  # type: ignore[arg-type]


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "naiad.audit"]


def test_the_header_name_is_lower_case() -> None:
    assert AUTHORIZATION == "authorization"


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {KEY}",
        f"bearer {KEY}",
        f"BEARER {KEY}",
        f"BeArEr {KEY}",
        f"Bearer    {KEY}",
        f"  Bearer {KEY}  ",
        f"Bearer {KEY}\t",
    ],
)
def test_bearer_parsing(
    authenticator: Authenticator,
    api_keys: FakeSource,
    jwt: FakeSource,
    header: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="naiad.audit")
    assert authenticator.authenticate(header, "grpc") is APP
    assert api_keys.asked == [KEY]
    assert jwt.asked == []
    assert audit_lines(caplog) == []  # an accepted token writes no audit line


def test_a_jwt_looking_token_goes_to_the_jwt_verifier(
    authenticator: Authenticator, api_keys: FakeSource, jwt: FakeSource
) -> None:
    assert authenticator.authenticate(f"Bearer {JWT}", "http") is ALICE
    assert jwt.asked == [JWT]
    assert api_keys.asked == []


@pytest.mark.parametrize(("token", "caller"), [("a.b", "dotted"), ("a.b.c.d", "many-dots")])
def test_other_tokens_go_to_the_api_keys(
    authenticator: Authenticator, api_keys: FakeSource, jwt: FakeSource, token: str, caller: str
) -> None:
    assert authenticator.authenticate(f"Bearer {token}", "grpc") == Caller(caller)
    assert api_keys.asked == [token]
    assert jwt.asked == []


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "no token"),
        ("", "no token"),
        (KEY, "token did not verify"),
        ("Bearer", "token did not verify"),
        ("Bearer ", "token did not verify"),
        ("Bearer    ", "token did not verify"),
        (f"Basic {KEY}", "token did not verify"),
        (f"Token {KEY}", "token did not verify"),
        (f"Bearer\t{KEY}", "token did not verify"),
        (f"Bearer{KEY}", "token did not verify"),
        ("Bearer naiad_unknown", "token did not verify"),
        ("Bearer x.y.z", "token did not verify"),
    ],
)
def test_every_refusal_reads_the_same_and_is_audited(
    authenticator: Authenticator,
    api_keys: FakeSource,
    jwt: FakeSource,
    header: str | None,
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="naiad.audit")
    with pytest.raises(Unauthenticated) as refused:
        authenticator.authenticate(header, "grpc")
    assert refused.value.message == REFUSED
    assert refused.value.code is ErrorCode.UNAUTHENTICATED
    assert audit_lines(caplog) == [
        (
            logging.WARNING,
            f"denied caller=- action=authenticate model=- protocol=grpc reason='{reason}'",
        )
    ]


@pytest.mark.parametrize("header", [KEY, f"Basic {KEY}", "Bearer", f"Bearer{KEY}"])
def test_a_header_that_is_not_bearer_reaches_no_verifier(
    authenticator: Authenticator, api_keys: FakeSource, jwt: FakeSource, header: str
) -> None:
    with pytest.raises(Unauthenticated):
        authenticator.authenticate(header, "grpc")
    assert api_keys.asked == []
    assert jwt.asked == []


def test_the_audit_line_names_the_protocol(
    authenticator: Authenticator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="naiad.audit")
    with pytest.raises(Unauthenticated):
        authenticator.authenticate(None, "http")
    assert audit_lines(caplog) == [
        (
            logging.WARNING,
            "denied caller=- action=authenticate model=- protocol=http reason='no token'",
        )
    ]


def test_without_a_jwt_verifier_a_jwt_is_refused_not_tried_as_a_key(api_keys: FakeSource) -> None:
    api_keys.known[JWT] = APP
    authenticator = Authenticator(api_keys=api_keys)  # type: ignore[arg-type]
    with pytest.raises(Unauthenticated) as refused:
        authenticator.authenticate(f"Bearer {JWT}", "grpc")
    assert refused.value.message == REFUSED
    assert api_keys.asked == []


def test_without_api_keys_a_key_is_refused_not_tried_as_a_jwt(jwt: FakeSource) -> None:
    authenticator = Authenticator(jwt=jwt)  # type: ignore[arg-type]
    with pytest.raises(Unauthenticated) as refused:
        authenticator.authenticate(f"Bearer {KEY}", "grpc")
    assert refused.value.message == REFUSED
    assert jwt.asked == []
    assert authenticator.authenticate(f"Bearer {JWT}", "grpc") is ALICE


def test_with_no_sources_everything_is_refused() -> None:
    for header in (f"Bearer {KEY}", f"Bearer {JWT}"):
        with pytest.raises(Unauthenticated):
            Authenticator().authenticate(header, "grpc")


def test_reload_rereads_both_sources(
    authenticator: Authenticator, api_keys: FakeSource, jwt: FakeSource
) -> None:
    authenticator.reload()
    assert (api_keys.reloads, jwt.reloads) == (1, 1)
    Authenticator(api_keys=api_keys).reload()  # type: ignore[arg-type]
    assert (api_keys.reloads, jwt.reloads) == (2, 1)


def test_with_a_real_keys_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    path.write_text(f'[[keys]]\nid = "app"\nsha256 = "{digest}"\nscopes = ["infer"]\n')
    authenticator = Authenticator(api_keys=ApiKeys(path))
    assert authenticator.authenticate(f"Bearer {KEY}", "grpc") == APP
    with pytest.raises(Unauthenticated) as refused:
        authenticator.authenticate(f"Bearer {KEY}x", "grpc")
    assert refused.value.message == REFUSED


def test_audit_values_from_callers_cannot_add_fields_or_lines(caplog) -> None:  # type: ignore[no-untyped-def]
    from naiad.security import audit

    with caplog.at_level("INFO", logger="naiad.audit"):
        audit.denied("app", "infer", "x\nINFO allowed caller=root", "grpc", "no")
        audit.allowed("ops team", "repository.load", "plain-name", "http")
    denied, allowed = (record.getMessage() for record in caplog.records)
    assert "\n" not in denied and "model='x\\nINFO allowed caller=root'" in denied
    assert (
        allowed == "allowed caller='ops team' action=repository.load model=plain-name protocol=http"
    )
