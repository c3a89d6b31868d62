"""The `naiad serve` security flags, and their conversion to SecurityOptions (checked once)."""

from __future__ import annotations

import argparse
from pathlib import Path

from naiad.limits import DEFAULT_LIMITS, TensorLimits
from naiad.security.jwt_tokens import JwtSettings
from naiad.security.rate_limit import Limits, Rate
from naiad.security.scopes import ACTIONS
from naiad.security.server_security import SecurityOptions
from naiad.security.tls import TlsFiles


def add_arguments(serve: argparse.ArgumentParser) -> None:
    tls = serve.add_argument_group("TLS (gRPC and HTTP ports; metrics stays plain)")
    tls.add_argument("--tls-cert", help="PEM certificate chain; with --tls-key turns TLS on")
    tls.add_argument("--tls-key", help="PEM private key of --tls-cert")
    tls.add_argument(
        "--tls-client-ca",
        help="PEM CA bundle: mutual TLS, clients must present a certificate it signed (HTTP "
        "health paths excepted, for probes). Files are re-read when they change and on SIGHUP",
    )

    auth = serve.add_argument_group("authentication and authorization")
    auth.add_argument(
        "--api-keys", help="TOML file of API keys (hashed secrets, scopes); see `naiad keys new`"
    )
    auth.add_argument("--jwt-jwks", help="JSON Web Key Set file that verifies JWT bearer tokens")
    auth.add_argument("--jwt-issuer", help="the `iss` a JWT must carry (with --jwt-jwks)")
    auth.add_argument("--jwt-audience", help="the `aud` a JWT must carry (with --jwt-jwks)")
    auth.add_argument(
        "--jwt-leeway-s", type=float, default=30.0, help="clock skew allowed on JWT times"
    )
    auth.add_argument(
        "--authenticate-health",
        dest="open_health",
        action="store_false",
        help="server live/ready need a token too (by default they answer anyone, for probes)",
    )
    auth.add_argument(
        "--disable-api",
        action="append",
        default=[],
        choices=ACTIONS,
        help="switch an endpoint group off for every caller (repeatable)",
    )

    limits = serve.add_argument_group("limits")
    limits.add_argument("--rate-limit", help="inference requests/s for the server: RATE[:BURST]")
    limits.add_argument(
        "--rate-limit-per-caller",
        help="inference requests/s per authenticated caller: RATE[:BURST] (an API key's own "
        "rate overrides it)",
    )
    limits.add_argument(
        "--rate-limit-model",
        action="append",
        default=[],
        metavar="MODEL=RATE[:BURST]",
        help="inference requests/s for one model, over all callers (repeatable)",
    )
    limits.add_argument("--max-inflight-per-caller", type=int, help="queued + running requests")
    limits.add_argument("--max-streams-per-caller", type=int, help="open inference streams")
    limits.add_argument(
        "--max-streams-per-connection",
        type=int,
        help="concurrent HTTP/2 streams (calls) per gRPC connection",
    )
    limits.add_argument(
        "--max-tensor-elements",
        type=int,
        default=DEFAULT_LIMITS.max_elements,
        help=f"elements in one input tensor (default {DEFAULT_LIMITS.max_elements})",
    )
    limits.add_argument(
        "--max-element-bytes",
        type=int,
        default=DEFAULT_LIMITS.max_element_bytes,
        help=f"bytes in one BYTES element (default {DEFAULT_LIMITS.max_element_bytes})",
    )


def security_options(args: argparse.Namespace) -> SecurityOptions:
    """SecurityOptions from parsed flags; raises ValueError listing every inconsistency."""
    problems: list[str] = []
    tls = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            problems.append("--tls-cert and --tls-key go together")
        else:
            client_ca = Path(args.tls_client_ca) if args.tls_client_ca else None
            tls = TlsFiles(Path(args.tls_cert), Path(args.tls_key), client_ca)
    elif args.tls_client_ca:
        problems.append("--tls-client-ca needs --tls-cert and --tls-key")
    jwt = None
    if args.jwt_jwks:
        if not (args.jwt_issuer and args.jwt_audience):
            problems.append("--jwt-jwks needs --jwt-issuer and --jwt-audience")
        else:
            jwt = JwtSettings(
                Path(args.jwt_jwks), args.jwt_issuer, args.jwt_audience, args.jwt_leeway_s
            )
    elif args.jwt_issuer or args.jwt_audience:
        problems.append("--jwt-issuer and --jwt-audience need --jwt-jwks")
    if not 0 <= args.jwt_leeway_s <= 3600:
        problems.append("--jwt-leeway-s must be between 0 and 3600 seconds")
    limits = _limits(args, problems)
    per_caller = {
        "--rate-limit-per-caller": args.rate_limit_per_caller,
        "--max-inflight-per-caller": args.max_inflight_per_caller,
        "--max-streams-per-caller": args.max_streams_per_caller,
    }
    if not (args.api_keys or args.jwt_jwks):
        # Without authentication every call is the same anonymous caller: a per-caller cap
        # would silently become a server-wide one.
        for flag, value in per_caller.items():
            if value is not None:
                problems.append(f"{flag} needs authentication (--api-keys or --jwt-jwks)")
    for flag in ("max_inflight_per_caller", "max_streams_per_caller", "max_streams_per_connection"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            problems.append(f"--{flag.replace('_', '-')} must be at least 1")
    try:
        tensor_limits = TensorLimits(args.max_tensor_elements, args.max_element_bytes)
    except ValueError as exc:
        problems.append(str(exc))
        tensor_limits = DEFAULT_LIMITS
    if problems:
        raise ValueError("; ".join(problems))
    return SecurityOptions(
        tls=tls,
        api_keys=Path(args.api_keys) if args.api_keys else None,
        jwt=jwt,
        open_health=args.open_health,
        disabled_apis=frozenset(args.disable_api),
        limits=limits,
        max_streams_per_caller=args.max_streams_per_caller,
        max_streams_per_connection=args.max_streams_per_connection,
        tensor_limits=tensor_limits,
    )


def _limits(args: argparse.Namespace, problems: list[str]) -> Limits:
    def rate(text: str | None) -> Rate | None:
        if text is None:
            return None
        try:
            return Rate.parse(text)
        except ValueError as exc:
            problems.append(str(exc))
            return None

    per_model: dict[str, Rate] = {}
    for spec in args.rate_limit_model:
        model, sep, text = spec.partition("=")
        if not sep or not model:
            problems.append(f"--rate-limit-model {spec!r}: expected MODEL=RATE[:BURST]")
            continue
        found = rate(text)
        if found is not None:
            per_model[model] = found
    return Limits(
        rate=rate(args.rate_limit),
        per_caller=rate(args.rate_limit_per_caller),
        per_model=per_model,
        max_inflight_per_caller=args.max_inflight_per_caller,
    )
