"""`naiad serve`'s security flags to SecurityOptions, what ServerSecurity builds from them, and
`naiad keys new`."""

from __future__ import annotations

import argparse
import functools
import hashlib
from pathlib import Path

import pytest

from naiad import cli
from naiad.engine.context import Caller
from naiad.limits import DEFAULT_LIMITS, TensorLimits
from naiad.observability import logs
from naiad.security.api_keys import ApiKey, ApiKeys, hash_secret, parse_keys
from naiad.security.authorization import AuthorizationLayer
from naiad.security.flags import security_options
from naiad.security.jwt_tokens import JwtSettings
from naiad.security.rate_limit import Limits, Rate, RateLimitLayer
from naiad.security.scopes import Grant
from naiad.security.server_security import SecurityOptions, ServerSecurity
from naiad.security.tls import TlsFiles

INVALID_RATE = "invalid rate {!r}: expected RATE[:BURST], RATE > 0"


def serve_args(*flags: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(["serve", "--model-repository", "repo", *flags])


def problems(*flags: str) -> str:
    with pytest.raises(ValueError) as refused:
        security_options(serve_args(*flags))
    return str(refused.value)


# --- flags -----------------------------------------------------------------------------------


def test_no_flags_is_an_open_server() -> None:
    options = security_options(serve_args())
    assert options == SecurityOptions()
    assert options.tls is None
    assert not options.authenticated
    assert options.open_health
    assert not options.limits.any
    assert options.tensor_limits == DEFAULT_LIMITS


def test_every_flag_at_once() -> None:
    options = security_options(
        serve_args(
            "--tls-cert", "cert.pem",
            "--tls-key", "key.pem",
            "--tls-client-ca", "ca.pem",
            "--api-keys", "keys.toml",
            "--jwt-jwks", "jwks.json",
            "--jwt-issuer", "https://idp/",
            "--jwt-audience", "naiad",
            "--jwt-leeway-s", "5",
            "--authenticate-health",
            "--disable-api", "repository",
            "--disable-api", "admin",
            "--rate-limit", "100:20",
            "--rate-limit-per-caller", "10",
            "--rate-limit-model", "fraud=5:2",
            "--rate-limit-model", "resnet=0.5",
            "--max-inflight-per-caller", "8",
            "--max-streams-per-caller", "2",
            "--max-streams-per-connection", "64",
            "--max-tensor-elements", "1000",
            "--max-element-bytes", "4096",
        )
    )  # fmt: skip
    assert options == SecurityOptions(
        tls=TlsFiles(Path("cert.pem"), Path("key.pem"), Path("ca.pem")),
        api_keys=Path("keys.toml"),
        jwt=JwtSettings(Path("jwks.json"), "https://idp/", "naiad", 5.0),
        open_health=False,
        disabled_apis=frozenset({"repository", "admin"}),
        limits=Limits(
            rate=Rate(100.0, 20.0),
            per_caller=Rate(10.0, 10.0),
            per_model={"fraud": Rate(5.0, 2.0), "resnet": Rate(0.5, 1.0)},
            max_inflight_per_caller=8,
        ),
        max_streams_per_caller=2,
        max_streams_per_connection=64,
        tensor_limits=TensorLimits(1000, 4096),
    )
    assert options.authenticated


def test_tls_without_a_client_ca() -> None:
    options = security_options(serve_args("--tls-cert", "c.pem", "--tls-key", "k.pem"))
    assert options.tls == TlsFiles(Path("c.pem"), Path("k.pem"), None)
    assert not options.authenticated


def test_either_credential_source_authenticates() -> None:
    assert security_options(serve_args("--api-keys", "k.toml")).authenticated
    jwt_only = security_options(
        serve_args("--jwt-jwks", "j.json", "--jwt-issuer", "i", "--jwt-audience", "a")
    )
    assert jwt_only.authenticated
    assert jwt_only.jwt == JwtSettings(Path("j.json"), "i", "a", 30.0)
    assert jwt_only.api_keys is None


def test_caps_of_one_are_valid() -> None:
    options = security_options(
        serve_args(
            "--api-keys", "keys.toml",
            "--max-inflight-per-caller", "1",
            "--max-streams-per-caller", "1",
            "--max-streams-per-connection", "1",
        )
    )  # fmt: skip
    assert options.limits == Limits(max_inflight_per_caller=1)
    assert (options.max_streams_per_caller, options.max_streams_per_connection) == (1, 1)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--tls-cert", "c.pem"), "--tls-cert and --tls-key go together"),
        (("--tls-key", "k.pem"), "--tls-cert and --tls-key go together"),
        (
            ("--tls-key", "k.pem", "--tls-client-ca", "ca.pem"),
            "--tls-cert and --tls-key go together",
        ),
        (("--tls-client-ca", "ca.pem"), "--tls-client-ca needs --tls-cert and --tls-key"),
        (("--jwt-jwks", "j.json"), "--jwt-jwks needs --jwt-issuer and --jwt-audience"),
        (
            ("--jwt-jwks", "j.json", "--jwt-issuer", "i"),
            "--jwt-jwks needs --jwt-issuer and --jwt-audience",
        ),
        (
            ("--jwt-jwks", "j.json", "--jwt-audience", "a"),
            "--jwt-jwks needs --jwt-issuer and --jwt-audience",
        ),
        (("--jwt-issuer", "i"), "--jwt-issuer and --jwt-audience need --jwt-jwks"),
        (("--jwt-audience", "a"), "--jwt-issuer and --jwt-audience need --jwt-jwks"),
        (("--rate-limit", "0"), INVALID_RATE.format("0")),
        (("--rate-limit", "fast"), INVALID_RATE.format("fast")),
        (("--api-keys", "k", "--rate-limit-per-caller", "10:0"), INVALID_RATE.format("10:0")),
        (
            ("--rate-limit-model", "fraud"),
            "--rate-limit-model 'fraud': expected MODEL=RATE[:BURST]",
        ),
        (("--rate-limit-model", "=5"), "--rate-limit-model '=5': expected MODEL=RATE[:BURST]"),
        (("--rate-limit-model", "fraud=-1"), INVALID_RATE.format("-1")),
        (("--rate-limit-model", "fraud="), INVALID_RATE.format("")),
        (
            ("--api-keys", "k", "--max-inflight-per-caller", "0"),
            "--max-inflight-per-caller must be at least 1",
        ),
        (
            ("--api-keys", "k", "--max-streams-per-caller", "-1"),
            "--max-streams-per-caller must be at least 1",
        ),
        (
            ("--rate-limit-per-caller", "5", "--max-streams-per-caller", "2"),
            "--rate-limit-per-caller needs authentication (--api-keys or --jwt-jwks); "
            "--max-streams-per-caller needs authentication (--api-keys or --jwt-jwks)",
        ),
        (
            ("--max-streams-per-connection", "0"),
            "--max-streams-per-connection must be at least 1",
        ),
        (("--max-tensor-elements", "0"), "tensor limits must be positive"),
        (("--max-element-bytes", "-5"), "tensor limits must be positive"),
    ],
)
def test_each_inconsistency_is_refused(flags: tuple[str, ...], message: str) -> None:
    assert problems(*flags) == message


def test_every_inconsistency_is_listed_at_once() -> None:
    message = problems(
        "--tls-cert", "c.pem",
        "--jwt-jwks", "j.json",
        "--rate-limit", "0",
        "--rate-limit-per-caller", "x",
        "--rate-limit-model", "fraud",
        "--rate-limit-model", "resnet=abc",
        "--rate-limit-model", "bert=5",
        "--max-inflight-per-caller", "0",
        "--max-streams-per-caller", "0",
        "--max-streams-per-connection", "0",
        "--max-tensor-elements", "0",
    )  # fmt: skip
    assert message.split("; ") == [
        "--tls-cert and --tls-key go together",
        "--jwt-jwks needs --jwt-issuer and --jwt-audience",
        "--rate-limit-model 'fraud': expected MODEL=RATE[:BURST]",
        INVALID_RATE.format("abc"),
        INVALID_RATE.format("0"),
        INVALID_RATE.format("x"),
        "--max-inflight-per-caller must be at least 1",
        "--max-streams-per-caller must be at least 1",
        "--max-streams-per-connection must be at least 1",
        "tensor limits must be positive",
    ]


def test_an_unknown_api_group_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        serve_args("--disable-api", "health")
    assert exited.value.code == 2
    assert "argument --disable-api: invalid choice: 'health'" in capsys.readouterr().err


# --- ServerSecurity --------------------------------------------------------------------------


class Inner:
    """Stands for the core engine; the layers only hold it."""


def test_an_open_server_has_no_authenticator_and_only_authorization(tmp_path: Path) -> None:
    security = ServerSecurity(SecurityOptions())
    assert security.tls is None
    assert security.guard.authenticator is None
    assert not security.policy.authenticated
    assert security.guard.policy is security.policy
    assert security.guard.open_health
    layers = security.layers()
    assert len(layers) == 1
    layer = layers[0](Inner())  # type: ignore[arg-type]
    assert isinstance(layer, AuthorizationLayer)
    assert layer.policy is security.policy


def test_limits_add_a_rate_limit_layer_inside_authorization() -> None:
    options = SecurityOptions(
        limits=Limits(rate=Rate(5.0, 5.0)), disabled_apis=frozenset({"admin"})
    )
    security = ServerSecurity(options)
    assert security.policy.disabled == frozenset({"admin"})
    layers = security.layers()
    assert [type(layer) for layer in layers] == [functools.partial, functools.partial]
    inner = Inner()
    rate_layer = layers[1](inner)  # type: ignore[arg-type]
    outer = layers[0](rate_layer)
    assert isinstance(outer, AuthorizationLayer) and outer.inner is rate_layer
    assert isinstance(rate_layer, RateLimitLayer) and rate_layer.inner is inner


def test_an_api_keys_file_gives_an_authenticator(tmp_path: Path) -> None:
    secret = "naiad_server-security"
    path = tmp_path / "keys.toml"
    path.write_text(f'[[keys]]\nid = "app"\nsha256 = "{hash_secret(secret)}"\n')
    security = ServerSecurity(SecurityOptions(api_keys=path, max_streams_per_caller=3))
    authenticator = security.guard.authenticator
    assert authenticator is not None
    assert isinstance(authenticator.api_keys, ApiKeys)
    assert authenticator.jwt is None
    assert security.policy.authenticated
    assert authenticator.authenticate(f"Bearer {secret}", "grpc") == Caller("app")
    # reload() re-reads the keys file at once.
    rotated = "naiad_rotated"
    path.write_text(f'[[keys]]\nid = "rotated-app"\nsha256 = "{hash_secret(rotated)}"\n')
    security.reload()
    assert authenticator.authenticate(f"Bearer {rotated}", "grpc") == Caller("rotated-app")


def test_a_missing_keys_file_refuses_to_start(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ValueError) as refused:
        ServerSecurity(SecurityOptions(api_keys=path))
    assert str(refused.value) == f"cannot read {path}: No such file or directory"


# --- naiad keys new --------------------------------------------------------------------------


@pytest.fixture
def keys_main(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """cli.main without its root-logger set-up, which would outlive the test."""
    monkeypatch.setattr(logs, "configure", lambda config: None)
    return cli.main


def test_keys_new_prints_the_secret_to_stderr_and_the_entry_to_stdout(
    keys_main, capsys: pytest.CaptureFixture[str]
) -> None:
    assert keys_main(["keys", "new", "--id", "x", "--scope", "infer:fraud*"]) == 0
    out, err = capsys.readouterr()
    notice, secret, *rest = err.split("\n")
    assert notice == "key for 'x' (shown once; send 'authorization: Bearer <key>'):"
    assert rest == [""]
    assert secret.startswith("naiad_") and len(secret) == len("naiad_") + 43
    assert secret not in out
    digest = hashlib.sha256(secret.encode()).hexdigest()
    assert out == f'[[keys]]\nid = "x"\nsha256 = "{digest}"\nscopes = ["infer:fraud*"]\n'
    keys = parse_keys(out)
    assert keys == {digest: ApiKey(Caller("x"), None)}
    assert keys[digest].caller.scopes.grants == (Grant("infer", "fraud*"),)


def test_keys_new_appended_twice_makes_a_file_of_two_keys(
    keys_main, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "keys.toml"
    secrets = []
    for identity, scopes in (("a", ["metadata", "infer:m*"]), ("b", [])):
        flags = [flag for scope in scopes for flag in ("--scope", scope)]
        assert keys_main(["keys", "new", "--id", identity, *flags]) == 0
        out, err = capsys.readouterr()
        secrets.append(err.split("\n")[1])
        with path.open("a", encoding="utf-8") as file:
            file.write(out)
    api_keys = ApiKeys(path)
    first, second = (api_keys.caller(secret) for secret in secrets)
    assert (first, second) == (Caller("a"), Caller("b"))
    assert first is not None and second is not None
    assert first.scopes.grants == (Grant("metadata", "*"), Grant("infer", "m*"))
    assert second.scopes.grants == ()


def test_keys_new_with_an_invalid_scope_exits_2_on_stderr(
    keys_main, capsys: pytest.CaptureFixture[str]
) -> None:
    assert keys_main(["keys", "new", "--id", "x", "--scope", "infer", "--scope", "read"]) == 2
    out, err = capsys.readouterr()
    # Nothing on stdout: `naiad keys new ... >> keys.toml` must not write the error there.
    assert out == ""
    assert err == (
        "naiad keys: invalid scope(s) 'read': expected ACTION[:PATTERN] with ACTION one of"
        " infer, metadata, statistics, repository, admin or *\n"
    )  # and no secret shown for a key that was not made


def test_keys_new_needs_an_id(keys_main, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        keys_main(["keys", "new", "--scope", "infer"])
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "the following arguments are required: --id" in err
