"""deploy/helm/naiad's tls and auth values: the flags, the mounts, the probes, and the refusals."""

from __future__ import annotations

from typing import Any

import pytest
from deploy_support import (
    Manifest,
    RenderError,
    by_kind,
    check_selectors,
    check_serving_deployment,
    naiad_container,
    parse_serve_args,
    render_chart,
    validate_rendered,
)

TLS = {"enabled": True, "secretName": "naiad-tls"}
JWT = {"jwksConfigMapName": "naiad-jwks", "issuer": "https://issuer.example", "audience": "naiad"}
SCENARIOS: dict[str, dict[str, Any]] = {
    "tls": {"tls": TLS},
    "mtls": {"tls": {**TLS, "clientAuth": True}},
    "mtls-own-ca": {"tls": {**TLS, "clientAuth": True, "clientCASecretName": "clients-ca"}},
    "api-keys": {"auth": {"apiKeys": {"secretName": "naiad-api-keys"}}},
    "jwt-configmap": {"auth": {"jwt": JWT}},
    "jwt-secret": {
        "auth": {
            "jwt": {
                "jwksSecretName": "naiad-jwks",
                "jwksKey": "keys.json",
                "issuer": "https://issuer.example",
                "audience": "naiad",
            }
        }
    },
    "everything": {
        "tls": {**TLS, "clientAuth": True},
        "auth": {"apiKeys": {"secretName": "naiad-api-keys", "key": "keys.toml"}, "jwt": JWT},
        "gpu": {"count": 1},
        "autoscaling": {"enabled": True, "metric": "queue"},
        "metrics": {"serviceMonitor": {"enabled": True}},
        "server": {"extraArgs": ["--repository-poll-secs=30"]},
    },
}


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def rendered(request: pytest.FixtureRequest) -> list[Manifest]:
    return render_chart(SCENARIOS[request.param])


def test_every_object_fits_the_kubernetes_schema(rendered: list[Manifest]) -> None:
    validate_rendered(rendered)


def test_naiad_parses_the_flags_and_every_file_is_mounted(rendered: list[Manifest]) -> None:
    (deployment,) = by_kind(rendered)["Deployment"]
    check_serving_deployment(deployment)  # parse, mounts under each path, probe scheme
    check_selectors(rendered)


def _deployment(values: dict[str, Any]) -> tuple[Manifest, dict[str, Any], dict[str, Manifest]]:
    """The Deployment, the naiad container's parsed flags, and the pod's volumes by name."""
    (deployment,) = by_kind(render_chart(values))["Deployment"]
    parsed = vars(parse_serve_args(naiad_container(deployment)["args"]))
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    return deployment, parsed, volumes


def _probe_schemes(deployment: Manifest) -> set[str]:
    container = naiad_container(deployment)
    kinds = ("startupProbe", "livenessProbe", "readinessProbe")
    return {container[kind]["httpGet"].get("scheme", "HTTP") for kind in kinds}


def test_defaults_have_no_tls_and_no_auth() -> None:
    manifests = render_chart({})
    (deployment,) = by_kind(manifests)["Deployment"]
    args = " ".join(naiad_container(deployment)["args"])
    assert "--tls" not in args and "--api-keys" not in args and "--jwt" not in args
    assert _probe_schemes(deployment) == {"HTTP"}
    (service,) = by_kind(manifests)["Service"]
    assert service["spec"]["ports"][0]["appProtocol"] == "kubernetes.io/h2c"


def test_tls_serves_the_secret_and_probes_over_https() -> None:
    deployment, parsed, volumes = _deployment(SCENARIOS["tls"])
    assert parsed["tls_cert"] == "/etc/naiad/tls/tls.crt"
    assert parsed["tls_key"] == "/etc/naiad/tls/tls.key"
    assert parsed["tls_client_ca"] is None
    assert volumes["tls"]["secret"] == {"secretName": "naiad-tls", "defaultMode": 0o440}
    assert _probe_schemes(deployment) == {"HTTPS"}
    # The pod's fsGroup makes the 0440 files readable by naiad's group only.
    assert deployment["spec"]["template"]["spec"]["securityContext"]["fsGroup"] == 10001


def test_tls_keeps_metrics_on_plain_http() -> None:
    values = {"tls": TLS, "metrics": {"serviceMonitor": {"enabled": True}}}
    kinds = by_kind(render_chart(values))
    (deployment,) = kinds["Deployment"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "8002"
    assert "prometheus.io/scheme" not in annotations
    (monitor,) = kinds["ServiceMonitor"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert "scheme" not in endpoint and "tlsConfig" not in endpoint
    (service,) = kinds["Service"]
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    # h2c is cleartext HTTP/2: a mesh or gateway taking the hint would skip the handshake.
    assert "appProtocol" not in ports["grpc"]


@pytest.mark.parametrize(
    ("tls", "volume", "path"),
    [
        ({**TLS, "clientAuth": True}, "tls", "/etc/naiad/tls/ca.crt"),
        (
            {**TLS, "clientAuth": True, "clientCASecretName": "clients-ca"},
            "tls-client-ca",
            "/etc/naiad/client-ca/ca.crt",
        ),
    ],
    ids=["ca-of-the-tls-secret", "own-ca-secret"],
)
def test_client_auth_checks_client_certificates(
    tls: dict[str, Any], volume: str, path: str
) -> None:
    deployment, parsed, volumes = _deployment({"tls": tls})
    assert parsed["tls_client_ca"] == path
    assert volumes[volume]["secret"]["secretName"] == tls.get("clientCASecretName", "naiad-tls")
    # naiad answers the health paths to any TLS client, so the kubelet needs no certificate.
    assert _probe_schemes(deployment) == {"HTTPS"}


def test_api_keys_file_from_a_secret() -> None:
    _, parsed, volumes = _deployment({"auth": {"apiKeys": {"secretName": "k", "key": "keys.toml"}}})
    assert parsed["api_keys"] == "/etc/naiad/api-keys/keys.toml"
    assert volumes["api-keys"]["secret"]["secretName"] == "k"
    _, parsed, _ = _deployment(SCENARIOS["api-keys"])
    assert parsed["api_keys"] == "/etc/naiad/api-keys/api-keys.toml"


@pytest.mark.parametrize("scenario", ["jwt-configmap", "jwt-secret"])
def test_jwt_key_set_issuer_and_audience(scenario: str) -> None:
    deployment, parsed, volumes = _deployment(SCENARIOS[scenario])
    jwt = SCENARIOS[scenario]["auth"]["jwt"]
    assert parsed["jwt_jwks"] == f"/etc/naiad/jwks/{jwt.get('jwksKey', 'jwks.json')}"
    assert parsed["jwt_issuer"] == "https://issuer.example"
    assert parsed["jwt_audience"] == "naiad"
    source = volumes["jwks"].get("configMap") or volumes["jwks"]["secret"]
    assert "naiad-jwks" in source.values()
    # Health stays open without a token: the probes are unchanged.
    assert _probe_schemes(deployment) == {"HTTP"}


def test_everything_together() -> None:
    deployment, parsed, volumes = _deployment(SCENARIOS["everything"])
    assert set(volumes) == {"models", "tmp", "tls", "api-keys", "jwks"}
    assert parsed["tls_client_ca"] == "/etc/naiad/tls/ca.crt"
    assert parsed["api_keys"] == "/etc/naiad/api-keys/keys.toml"
    assert parsed["jwt_jwks"] == "/etc/naiad/jwks/jwks.json"
    assert parsed["repository_poll_secs"] == 30
    container = naiad_container(deployment)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    mounts = [m["mountPath"] for m in container["volumeMounts"]]
    assert len(mounts) == len(set(mounts))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"tls": {"enabled": True}}, "tls.enabled needs tls.secretName"),
        ({"tls": {"secretName": "naiad-tls"}}, "tls.enabled is false, so the server would serve"),
        ({"tls": {"clientAuth": True}}, r"tls.clientAuth \(mutual TLS\) needs tls.enabled"),
        (
            {"tls": {**TLS, "clientCASecretName": "ca"}},
            "tls.clientAuth is false, so client certificates would not be checked",
        ),
        ({"auth": {"apiKeys": {"secretName": "k", "key": ""}}}, "auth.apiKeys.key"),
        (
            {"auth": {"jwt": {**JWT, "jwksSecretName": "s"}}},
            "one of jwksSecretName and jwksConfigMapName",
        ),
        ({"auth": {"jwt": {**JWT, "audience": ""}}}, "auth.jwt needs issuer and audience"),
        ({"auth": {"jwt": {**JWT, "issuer": ""}}}, "auth.jwt needs issuer and audience"),
        (
            {"auth": {"jwt": {"issuer": "https://issuer.example"}}},
            "without a key set",
        ),
        ({"server": {"extraArgs": ["--authenticate-health"]}}, "probes carry no token"),
        ({"auth": {"enabled": True}}, "enabled"),  # the old placeholder values: unknown now
        ({"tls": {"mountPath": "/tls"}}, "mountPath"),
        ({"auth": {"jwt": {"audiences": ["a"]}}}, "audiences"),
    ],
    ids=[
        "tls-without-secret",
        "secret-without-tls",
        "client-auth-without-tls",
        "client-ca-without-client-auth",
        "api-keys-without-key",
        "jwks-secret-and-configmap",
        "jwt-without-audience",
        "jwt-without-issuer",
        "jwt-without-key-set",
        "authenticated-health",
        "unknown-auth-key",
        "unknown-tls-key",
        "misspelled-jwt-key",
    ],
)
def test_inconsistent_security_values_fail_the_render(values: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError, match=message):
        render_chart(values)
