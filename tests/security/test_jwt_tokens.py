"""JWT bearer tokens against a key set file: what verifies, what is refused, and the cache.

Keys are made at test time. The verifier checks token times against its injected wall clock
(the one its cache uses too), so every time here is a fixed instant the tests move on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, RSAAlgorithm

from naiad.engine.context import Caller
from naiad.security.jwt_tokens import JwtSettings, JwtVerifier
from naiad.security.scopes import Grant

ISSUER = "https://idp.example.com/"
AUDIENCE = "naiad"
HMAC_SECRET = b"an HMAC secret of at least thirty-two bytes, for HS256"
HOUR_S = 3600
NOW = 1_800_000_000.0
"""The wall clock's start: 2027-01-15, whatever the machine's clock says."""


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def outsider_key() -> rsa.RSAPrivateKey:
    """An RSA key the key set does not hold."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def signing(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> dict[str, tuple[Any, str]]:
    """kid -> (signing key, algorithm)."""
    return {"rsa": (rsa_key, "RS256"), "ec": (ec_key, "ES256"), "hs": (HMAC_SECRET, "HS256")}


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str | None = "rsa") -> dict[str, Any]:
    jwk = dict(RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), alg="RS256", use="sig")
    return dict(jwk, kid=kid) if kid is not None else jwk


def ec_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    return dict(ECAlgorithm.to_jwk(key.public_key(), as_dict=True), alg="ES256", kid="ec")


def hs_jwk() -> dict[str, Any]:
    return dict(HMACAlgorithm.to_jwk(HMAC_SECRET, as_dict=True), alg="HS256", kid="hs")


def write_jwks(path: Path, *keys: dict[str, Any]) -> Path:
    """Writes the set, moving the mtime on so a rewrite is always seen."""
    before = os.stat(path).st_mtime_ns if path.exists() else None
    path.write_text(json.dumps({"keys": list(keys)}), encoding="utf-8")
    if before is not None:
        later = before + 1_000_000_000
        os.utime(path, ns=(later, later))
    return path


@pytest.fixture
def now() -> float:
    return NOW


@pytest.fixture
def wall_clock(now: float) -> Clock:
    return Clock(now)


@pytest.fixture
def monotonic() -> Clock:
    return Clock(50.0)


@pytest.fixture
def jwks(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> Path:
    return write_jwks(tmp_path / "jwks.json", rsa_jwk(rsa_key), ec_jwk(ec_key), hs_jwk())


@pytest.fixture
def make_verifier(jwks: Path, monotonic: Clock, wall_clock: Clock) -> Callable[..., JwtVerifier]:
    def make(leeway_s: float = 30.0, path: Path | None = None) -> JwtVerifier:
        settings = JwtSettings(path or jwks, ISSUER, AUDIENCE, leeway_s)
        return JwtVerifier(settings, recheck_s=1.0, monotonic=monotonic, wall_clock=wall_clock)

    return make


@pytest.fixture
def verifier(make_verifier: Callable[..., JwtVerifier]) -> JwtVerifier:
    return make_verifier()


@pytest.fixture
def mint(signing: dict[str, tuple[Any, str]], now: float) -> Callable[..., str]:
    """A token signed with the set's key `kid`; claims set to None are left out."""

    def make(kid: str = "rsa", *, key: Any = None, headers: Any = None, **claims: Any) -> str:
        own_key, algorithm = signing[kid]
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "alice",
            "iat": int(now),
            "exp": int(now) + HOUR_S,
            "scope": "openid infer:fraud* metadata profile",
        }
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        header = {"kid": kid} if headers is None else headers
        return jwt.encode(payload, own_key if key is None else key, algorithm, headers=header)

    return make


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_token(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """Signs by hand, as an attacker would: PyJWT refuses a PEM key as an HMAC secret."""
    signed = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{b64(signature)}"


def claims_of(now: float, **changes: Any) -> dict[str, Any]:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": int(now) + HOUR_S}
    claims.update(changes)
    return claims


# --- what verifies ---------------------------------------------------------------------------


@pytest.mark.parametrize("kid", ["rsa", "ec", "hs"])
def test_a_valid_token_names_its_subject_and_scopes(
    verifier: JwtVerifier, mint: Callable[..., str], kid: str
) -> None:
    caller = verifier.caller(mint(kid))
    assert caller == Caller("alice")
    assert caller is not None
    assert caller.rate is None
    # openid and profile are the identity provider's own scopes: not naiad's, ignored.
    assert caller.scopes.grants == (Grant("infer", "fraud*"), Grant("metadata", "*"))


def test_scopes_from_a_scp_list(verifier: JwtVerifier, mint: Callable[..., str]) -> None:
    caller = verifier.caller(mint(scope=None, scp=["infer:resnet", "email", "statistics"]))
    assert caller == Caller("alice")
    assert caller is not None
    assert caller.scopes.grants == (Grant("infer", "resnet"), Grant("statistics", "*"))


def test_scopes_from_a_space_separated_scp(verifier: JwtVerifier, mint: Callable[..., str]) -> None:
    caller = verifier.caller(mint(scope=None, scp="repository:fraud* openid"))
    assert caller is not None
    assert caller.scopes.grants == (Grant("repository", "fraud*"),)


def test_a_token_without_scopes_grants_nothing(
    verifier: JwtVerifier, mint: Callable[..., str]
) -> None:
    caller = verifier.caller(mint(scope=None))
    assert caller == Caller("alice")
    assert caller is not None
    assert caller.scopes.grants == ()


def test_an_audience_list_holding_ours_verifies(
    verifier: JwtVerifier, mint: Callable[..., str]
) -> None:
    assert verifier.caller(mint(aud=["other", AUDIENCE])) == Caller("alice")


def test_a_single_key_set_needs_no_kid(
    make_verifier: Callable[..., JwtVerifier],
    mint: Callable[..., str],
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
) -> None:
    single = write_jwks(tmp_path / "single.json", rsa_jwk(rsa_key, kid=None))
    verifier = make_verifier(path=single)
    assert verifier.caller(mint("rsa", headers={})) == Caller("alice")


# --- what is refused -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": -HOUR_S},
        {"nbf": HOUR_S},
        {"iat": HOUR_S},
        {"aud": "someone-else"},
        {"aud": ["someone-else", "another"]},
        {"iss": "https://evil.example.com/"},
        {"sub": None},
        {"exp": None},
        {"iss": None},
        {"aud": None},
        {"sub": 42},
        {"scope": 5},
        {"scope": None, "scp": ["infer", 3]},
    ],
    ids=[
        "expired",
        "not-yet-valid",
        "issued-in-the-future",
        "wrong-audience",
        "wrong-audiences",
        "wrong-issuer",
        "no-sub",
        "no-exp",
        "no-iss",
        "no-aud",
        "sub-not-a-string",
        "scope-not-a-string",
        "scp-not-strings",
    ],
)
def test_a_token_with_bad_claims_is_refused(
    verifier: JwtVerifier, mint: Callable[..., str], now: float, changes: dict[str, Any]
) -> None:
    relative = {"exp", "nbf", "iat"}
    claims = {
        name: int(now) + value if name in relative and value is not None else value
        for name, value in changes.items()
    }
    for kid in ("rsa", "ec", "hs"):
        assert verifier.caller(mint(kid, **claims)) is None, kid
    assert verifier.caller(mint()) == Caller("alice")  # the same verifier, a good token


def test_a_token_signed_by_a_key_outside_the_set_is_refused(
    verifier: JwtVerifier, mint: Callable[..., str], outsider_key: rsa.RSAPrivateKey
) -> None:
    assert verifier.caller(mint("rsa", key=outsider_key)) is None
    assert verifier.caller(mint("rsa", key=outsider_key, headers={"kid": "other"})) is None
    assert verifier.caller(mint("hs", key=b"another HMAC secret, also thirty-two bytes")) is None


def test_a_kid_the_set_does_not_hold_is_refused(
    verifier: JwtVerifier, mint: Callable[..., str]
) -> None:
    assert verifier.caller(mint("rsa", headers={"kid": "retired"})) is None


def test_without_a_kid_a_set_of_several_keys_verifies_nothing(
    verifier: JwtVerifier, mint: Callable[..., str]
) -> None:
    assert verifier.caller(mint("rsa", headers={})) is None


def test_alg_none_is_refused(
    verifier: JwtVerifier,
    make_verifier: Callable[..., JwtVerifier],
    now: float,
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
) -> None:
    claims = claims_of(now)
    with_kid = jwt.encode(claims, None, algorithm="none", headers={"kid": "rsa"})
    assert jwt.decode(with_kid, options={"verify_signature": False})["sub"] == "mallory"
    assert verifier.caller(with_kid) is None
    single = make_verifier(path=write_jwks(tmp_path / "single.json", rsa_jwk(rsa_key, None)))
    assert single.caller(jwt.encode(claims, None, algorithm="none")) is None


def test_hs256_signed_with_the_rsa_public_key_is_refused(
    verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey, now: float
) -> None:
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa"}
    token = hs256_token(public_pem, header, claims_of(now))
    assert verifier.caller(token) is None
    # The same hand-made signing does verify where the key set holds an HMAC key:
    # the refusal above is the algorithm's, not a malformed token's.
    genuine = hs256_token(HMAC_SECRET, dict(header, kid="hs"), claims_of(now))
    assert verifier.caller(genuine) == Caller("mallory")


def test_an_rs256_token_naming_the_hmac_key_is_refused(
    verifier: JwtVerifier, mint: Callable[..., str]
) -> None:
    assert verifier.caller(mint("rsa", headers={"kid": "hs"})) is None


def test_a_tampered_token_is_refused(verifier: JwtVerifier, mint: Callable[..., str]) -> None:
    header, payload, signature = mint().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = b64(json.dumps(dict(claims, scope="*")).encode())
    assert verifier.caller(f"{header}.{forged}.{signature}") is None


@pytest.mark.parametrize("token", ["a.b.c", "..", "not-a-jwt", "", "e30.e30.e30"])
def test_garbage_is_refused(verifier: JwtVerifier, token: str) -> None:
    assert verifier.caller(token) is None


@pytest.mark.parametrize(
    ("claim", "offset_s", "leeway_s", "verifies"),
    [
        ("exp", -10, 30.0, True),
        ("exp", -10, 0.0, False),
        ("nbf", 10 * 60, 30 * 60.0, True),
        ("nbf", 10 * 60, 0.0, False),
    ],
)
def test_leeway_is_honoured(
    make_verifier: Callable[..., JwtVerifier],
    mint: Callable[..., str],
    now: float,
    claim: str,
    offset_s: int,
    leeway_s: float,
    verifies: bool,
) -> None:
    verifier = make_verifier(leeway_s=leeway_s)
    token = mint(**{claim: int(now) + offset_s})
    assert (verifier.caller(token) == Caller("alice")) is verifies


# --- the key set file -------------------------------------------------------------------------


def test_a_key_set_that_is_not_one_refuses_to_start(
    make_verifier: Callable[..., JwtVerifier], tmp_path: Path
) -> None:
    for name, text in [("bad.json", "{not json"), ("empty.json", '{"keys": []}')]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError) as refused:
            make_verifier(path=path)
        assert str(refused.value).startswith(f"{path}: not a usable JSON Web Key Set: ")


@pytest.mark.parametrize("text", ["[]", "null", '"keys"', "3"])
def test_a_key_set_that_is_not_an_object_refuses_to_start(
    make_verifier: Callable[..., JwtVerifier], tmp_path: Path, text: str
) -> None:
    path = tmp_path / "not-an-object.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as refused:
        make_verifier(path=path)
    assert str(refused.value) == (
        f"{path}: not a usable JSON Web Key Set: the top level is not an object"
    )


def test_a_rewrite_to_a_json_list_keeps_the_previous_set(
    verifier: JwtVerifier,
    mint: Callable[..., str],
    jwks: Path,
    monotonic: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="naiad.security")
    jwks.write_text("[]", encoding="utf-8")
    monotonic.now += 1.0
    assert verifier.caller(mint("ec")) == Caller("alice")
    assert [r.getMessage() for r in caplog.records if r.name == "naiad.security"] == [
        f"keeping the previous {jwks}: not a usable JSON Web Key Set: the top level is not an"
        " object"
    ]


def test_a_broken_rewrite_keeps_the_previous_set(
    verifier: JwtVerifier,
    mint: Callable[..., str],
    jwks: Path,
    monotonic: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="naiad.security")
    before = os.stat(jwks).st_mtime_ns + 1_000_000_000
    jwks.write_text('{"keys": [', encoding="utf-8")
    os.utime(jwks, ns=(before, before))
    monotonic.now += 1.0
    assert verifier.caller(mint("ec")) == Caller("alice")
    messages = [r.getMessage() for r in caplog.records if r.name == "naiad.security"]
    assert len(messages) == 1
    assert messages[0].startswith(f"keeping the previous {jwks}: not a usable JSON Web Key Set")


def test_a_key_added_to_the_set_verifies_after_recheck_s(
    verifier: JwtVerifier,
    mint: Callable[..., str],
    jwks: Path,
    monotonic: Clock,
    rsa_key: rsa.RSAPrivateKey,
    outsider_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    token = mint("rsa", key=outsider_key, headers={"kid": "new"})
    assert verifier.caller(token) is None
    write_jwks(jwks, rsa_jwk(rsa_key), ec_jwk(ec_key), hs_jwk(), rsa_jwk(outsider_key, "new"))
    monotonic.now += 0.5
    assert verifier.caller(token) is None
    monotonic.now += 0.5
    assert verifier.caller(token) == Caller("alice")


# --- the cache -------------------------------------------------------------------------------


def test_a_second_verification_answers_from_the_cache(
    verifier: JwtVerifier, mint: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = mint()
    first = verifier.caller(token)
    assert first == Caller("alice")

    def no_decoding(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a cached token was decoded again")

    monkeypatch.setattr(jwt, "decode", no_decoding)
    assert verifier.caller(token) is first
    assert verifier.caller(token) is first


def test_a_refused_token_is_not_cached(
    make_verifier: Callable[..., JwtVerifier], mint: Callable[..., str], now: float
) -> None:
    verifier = make_verifier(leeway_s=0.0)
    token = mint(exp=int(now) - 10)
    assert verifier.caller(token) is None
    assert verifier.caller(token) is None


def test_a_cached_token_stops_verifying_after_its_exp(
    verifier: JwtVerifier, mint: Callable[..., str], wall_clock: Clock, now: float
) -> None:
    token = mint(exp=int(now) + 60)
    first = verifier.caller(token)
    assert first == Caller("alice")
    wall_clock.now = now + 60 + 30 - 0.001  # exp + leeway, just before
    assert verifier.caller(token) is first
    wall_clock.now = now + 60 + 30
    assert verifier.caller(token) is None
    # The expired entry was dropped: with the clock set back, the token is verified afresh.
    wall_clock.now = now
    assert verifier.caller(token) is not first
    assert verifier.caller(token) == Caller("alice")


@pytest.mark.parametrize(
    ("claim", "wall_offset_s", "verifies"),
    [
        ("exp", 89.999, True),
        ("exp", 90.0, False),
        ("nbf", 29.999, False),
        ("nbf", 30.0, True),
        ("iat", 29.999, False),
        ("iat", 30.0, True),
    ],
)
def test_the_validity_window_on_the_injected_clock(
    verifier: JwtVerifier,
    mint: Callable[..., str],
    wall_clock: Clock,
    now: float,
    claim: str,
    wall_offset_s: float,
    verifies: bool,
) -> None:
    # Each claim at now + 60 s, leeway 30 s: exp holds until +90 s, nbf and iat from +30 s.
    claims = {"exp": int(now) + HOUR_S, "iat": None, claim: int(now) + 60}
    wall_clock.now = now + wall_offset_s
    assert (verifier.caller(mint(**claims)) == Caller("alice")) is verifies


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["soon", True, [1], {"s": 1}])
def test_a_time_claim_that_is_not_a_number_is_refused(
    verifier: JwtVerifier, mint: Callable[..., str], claim: str, value: object
) -> None:
    assert verifier.caller(mint(**{claim: value})) is None


def test_a_cached_token_stops_verifying_once_its_key_leaves_the_set(
    verifier: JwtVerifier,
    mint: Callable[..., str],
    jwks: Path,
    monotonic: Clock,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    token = mint("rsa")
    first = verifier.caller(token)
    assert first == Caller("alice")
    write_jwks(jwks, ec_jwk(ec_key), hs_jwk())
    monotonic.now += 0.999
    assert verifier.caller(token) is first  # the file is not looked at before recheck_s
    monotonic.now += 0.001
    assert verifier.caller(token) is None
    assert verifier.caller(mint("ec")) == Caller("alice")  # keys still in the set verify


def test_reload_applies_a_changed_set_at_once(
    verifier: JwtVerifier, mint: Callable[..., str], jwks: Path, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    token = mint("rsa")
    assert verifier.caller(token) == Caller("alice")
    write_jwks(jwks, ec_jwk(ec_key))
    assert verifier.reload() is True
    assert verifier.caller(token) is None
    assert verifier.caller(mint("ec", headers={})) == Caller("alice")  # now the only key
