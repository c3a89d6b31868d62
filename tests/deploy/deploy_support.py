"""Shared by tests/deploy: load manifests, validate them offline, check the serving invariants.

Validation uses kubernetes-validate (the Kubernetes OpenAPI schemas bundled in the package,
strict: unknown fields fail); the chart is rendered by helm-python-sdk, Helm's own Go engine
(templates, sprig functions, values.schema.json) in a shared library, the same rendering as
`helm template`. Nothing is downloaded and no cluster is needed.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from helm_python import Chart
from helm_python.errors import HelmError
from kubernetes_validate import utils as kv_utils

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = kv_utils.latest_version()
"""The most recent Kubernetes release whose schemas kubernetes-validate bundles."""

CHART = DEPLOY / "helm" / "naiad"
RELEASE = "naiad"

Manifest = dict[str, Any]
RenderError = HelmError
"""What a render refused (a template's `fail`, a value outside values.schema.json)."""


def render_chart(values: dict[str, Any]) -> list[Manifest]:
    """The chart's objects for `values` (merged over values.yaml), as `helm template` makes them."""
    with Chart.load(CHART) as chart:
        rendered = chart.render(values, name=RELEASE, namespace="default", is_install=True)
    manifests = []
    for path, text in sorted(rendered.items()):
        if path.endswith(".yaml"):
            manifests.extend(load_documents(text))
    return manifests


def load_documents(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def load_file(path: Path) -> list[Manifest]:
    return load_documents(path.read_text())


def validate(manifest: Manifest) -> None:
    """Fails with the schema's message when `manifest` does not fit its kind's schema."""
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        name = manifest.get("metadata", {}).get("name")
        raise AssertionError(
            f"{manifest.get('kind')} {name}: {exc.message} at {list(exc.path)}"
        ) from exc


def validate_container(container: Manifest) -> None:
    """A container outside a Pod (e.g. in a KServe resource), checked as a Pod's container."""
    validate(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "container-check"},
            "spec": {"containers": [container]},
        }
    )


def by_kind(manifests: Iterable[Manifest]) -> dict[str, list[Manifest]]:
    kinds: dict[str, list[Manifest]] = {}
    for manifest in manifests:
        kinds.setdefault(manifest["kind"], []).append(manifest)
    return kinds


def flag(args: list[str], name: str) -> str | None:
    """The value of `--name=value` or `--name value` in a container's args."""
    for i, arg in enumerate(args):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
        if arg == f"--{name}" and i + 1 < len(args):
            return args[i + 1]
    return None


def parse_serve_args(args: list[str]) -> argparse.Namespace:
    """The args as `naiad serve` parses them: an unknown flag or bad value fails the test."""
    from naiad.cli import build_parser

    assert args[0] == "serve", args
    try:
        return build_parser().parse_args(args)
    except SystemExit as exc:
        raise AssertionError(f"naiad rejects these args: {args}") from exc


def naiad_container(deployment: Manifest) -> Manifest:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["args"][0] == "serve")


def check_serving_deployment(deployment: Manifest) -> None:
    """What every naiad Deployment here must get right, whatever renders it."""
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    container = naiad_container(deployment)
    args = container["args"]
    parse_serve_args(args)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["grpc"] == int(flag(args, "grpc-port") or 0)
    assert ports["http"] == int(flag(args, "http-port") or 0)
    assert ports["metrics"] == int(flag(args, "metrics-port") or 0)

    probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe")}
    probes["readinessProbe"] = container["readinessProbe"]["httpGet"]
    assert probes["startupProbe"]["path"] == "/v2/health/live"
    assert probes["livenessProbe"]["path"] == "/v2/health/live"
    assert probes["readinessProbe"]["path"] == "/v2/health/ready"
    assert all(probe["port"] == "http" for probe in probes.values())
    # With --tls-cert the HTTP port speaks only TLS: a plain probe would never pass.
    scheme = "HTTPS" if flag(args, "tls-cert") else "HTTP"
    assert all(probe.get("scheme", "HTTP") == scheme for probe in probes.values()), probes
    check_security_files(deployment)

    grace_s = float(flag(args, "grace-s") or 0)
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
    sleep_s = float(pre_stop[1]) if pre_stop and pre_stop[0] == "sleep" else 0.0
    assert spec["terminationGracePeriodSeconds"] > sleep_s + grace_s, (
        "SIGKILL would cut the drain short"
    )

    annotations = pod["metadata"].get("annotations", {})
    if "prometheus.io/scrape" in annotations:
        assert annotations["prometheus.io/port"] == str(ports["metrics"])
        assert annotations["prometheus.io/path"] == "/metrics"

    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["requests"]["cpu"]
    assert container["resources"]["requests"]["memory"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["models"]["mountPath"] == flag(args, "model-repository")


SECRET_FLAGS = ("tls-cert", "tls-key", "tls-client-ca", "api-keys", "jwt-jwks")
"""The `naiad serve` flags that name a file the pod must mount from a Secret or ConfigMap."""


def check_security_files(deployment: Manifest) -> None:
    """Each TLS/auth flag names a file in a read-only Secret or ConfigMap volume mounted as a
    directory: a subPath mount never sees the Secret change, so naiad could not reload it."""
    spec = deployment["spec"]["template"]["spec"]
    container = naiad_container(deployment)
    args = container["args"]
    mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for name in SECRET_FLAGS:
        path = flag(args, name)
        if path is None:
            continue
        directory, _, key = path.rpartition("/")
        assert directory in mounts, f"--{name}={path}: nothing is mounted at {directory}"
        mount = mounts[directory]
        assert "subPath" not in mount and "subPathExpr" not in mount, mount
        assert mount.get("readOnly") is True, mount
        volume = volumes[mount["name"]]
        source = volume.get("secret") or volume.get("configMap")
        assert source is not None, f"--{name}: {volume} is neither a Secret nor a ConfigMap"
        if "items" in source:
            assert key in {item["path"] for item in source["items"]}, (name, source)
        if name in ("tls-key", "api-keys"):  # private: never in a ConfigMap
            assert "secret" in volume, f"--{name} must come from a Secret"
    from naiad.security.flags import security_options

    parsed = parse_serve_args(args)
    try:
        security_options(parsed)  # naiad's own start-up check: cert with key, JWT with iss/aud
    except ValueError as exc:
        raise AssertionError(f"naiad would refuse to start: {exc}") from exc
    assert parsed.open_health, "the kubelet's probes carry no token: health must stay open"


def validate_rendered(manifests: Iterable[Manifest]) -> None:
    """Every object fits its schema; a ServiceMonitor (a CRD) is checked structurally."""
    for manifest in manifests:
        if manifest["kind"] == "ServiceMonitor":
            check_service_monitor(manifest)
        else:
            validate(manifest)


def check_service_monitor(monitor: Manifest) -> None:
    """Prometheus Operator's monitoring.coreos.com/v1 ServiceMonitor, structurally: it scrapes
    the plain-HTTP metrics port, whatever TLS the other ports have."""
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor["spec"]) <= {"selector", "endpoints", "namespaceSelector", "jobLabel"}
    assert monitor["spec"]["selector"]["matchLabels"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint == {"port": "metrics", "path": "/metrics", "interval": "15s"}


def check_selectors(manifests: list[Manifest]) -> None:
    """The Service, PDB and HPA point at the Deployment's pods and ports."""
    kinds = by_kind(manifests)
    (deployment,) = kinds["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    container_ports = {p["name"] for p in naiad_container(deployment)["ports"]}

    def selects(selector: dict[str, str]) -> bool:
        return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

    for service in kinds.get("Service", []):
        assert selects(service["spec"]["selector"])
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports
    for pdb in kinds.get("PodDisruptionBudget", []):
        assert selects(pdb["spec"]["selector"]["matchLabels"])
    for hpa in kinds.get("HorizontalPodAutoscaler", []):
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
