"""deploy/helm/naiad rendered by Helm's own engine and every object validated offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from deploy_support import (
    CHART,
    KUBERNETES_VERSION,
    Manifest,
    RenderError,
    by_kind,
    check_selectors,
    check_serving_deployment,
    flag,
    naiad_container,
    render_chart,
    validate_rendered,
)
from helm_python import lint

import naiad.observability as observability
from naiad.cli import build_parser

SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "gpu": {"gpu": {"count": 1}, "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}]},
    "hpa-cpu": {"autoscaling": {"enabled": True, "metric": "cpu"}},
    "hpa-queue": {"autoscaling": {"enabled": True, "metric": "queue", "minReplicas": 3}},
    "pvc-created": {"modelRepository": {"source": "pvc", "pvc": {"storageClassName": "nfs"}}},
    "pvc-existing": {"modelRepository": {"source": "pvc", "pvc": {"existingClaim": "models"}}},
    "emptydir-init": {
        "modelRepository": {
            "source": "emptyDir",
            "initContainers": [
                {
                    "name": "fetch",
                    "image": "amazon/aws-cli:2.17.0",
                    "args": ["s3", "sync", "s3://bucket/repository", "/models"],
                    "volumeMounts": [{"name": "models", "mountPath": "/models"}],
                }
            ],
        }
    },
    "servicemonitor": {"metrics": {"podAnnotations": False, "serviceMonitor": {"enabled": True}}},
    "server-flags": {
        "replicaCount": 1,
        "startupTimeoutS": 600,
        "image": {"repository": "registry.example/naiad", "tag": "0.1.0-rc1"},
        "server": {
            "graceS": 90,
            "modelControlMode": "explicit",
            "loadModels": ["classifier", "simple"],
            "logFormat": "plain",
            "accessLog": True,
            "extraArgs": ["--repository-poll-secs=30"],
        },
        "podAnnotations": {"team": "ml"},
    },
}


def test_helm_lint_finds_no_warning() -> None:
    version = ".".join(KUBERNETES_VERSION.split(".")[:2]) + ".0"
    report = lint(CHART, strict=True, kube_version=f"v{version}")
    assert report["errors"] == []
    # Severity 1 is information (e.g. "icon is recommended"); 2 warning, 3 error.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[Manifest]]:
    return request.param, render_chart(SCENARIOS[request.param])


def test_every_object_fits_the_kubernetes_schema(rendered: tuple[str, list[Manifest]]) -> None:
    _, manifests = rendered
    validate_rendered(manifests)


def test_the_objects_serve_naiad_and_fit_together(rendered: tuple[str, list[Manifest]]) -> None:
    _, manifests = rendered
    (deployment,) = by_kind(manifests)["Deployment"]
    check_serving_deployment(deployment)
    check_selectors(manifests)
    for init in deployment["spec"]["template"]["spec"].get("initContainers", []):
        if init["name"] == "demo-models":
            build_parser().parse_args(init["args"])


def test_defaults_serve_the_demo_repository_on_two_cpu_replicas() -> None:
    kinds = by_kind(render_chart({}))
    assert set(kinds) == {"Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"}
    (deployment,) = kinds["Deployment"]
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["args"] == ["demo", "/models"]
    assert init["image"] == naiad_container(deployment)["image"] == "naiad:0.1.0"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["models"] == {"name": "models", "emptyDir": {}}
    assert pod["terminationGracePeriodSeconds"] == 5 + 30 + 10
    assert naiad_container(deployment)["startupProbe"]["failureThreshold"] == 30
    assert "nvidia.com/gpu" not in naiad_container(deployment)["resources"]["limits"]


def test_gpu_requests_the_device_and_the_cuda_image() -> None:
    (deployment,) = by_kind(render_chart(SCENARIOS["gpu"]))["Deployment"]
    container = naiad_container(deployment)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["resources"]["limits"]["cpu"] == "2"
    assert container["image"] == "naiad:0.1.0-cuda"


def test_queue_autoscaling_uses_a_metric_naiad_exports() -> None:
    kinds = by_kind(render_chart(SCENARIOS["hpa-queue"]))
    (hpa,) = kinds["HorizontalPodAutoscaler"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    name = metric["pods"]["metric"]["name"]
    assert name == "nv_inference_pending_request_count"
    sources = "".join(p.read_text() for p in Path(observability.__file__).parent.glob("*.py"))
    assert f'"{name}"' in sources
    assert hpa["spec"]["minReplicas"] == 3
    (deployment,) = kinds["Deployment"]
    assert "replicas" not in deployment["spec"]  # the HPA owns it
    assert kinds["PodDisruptionBudget"]


def test_cpu_autoscaling() -> None:
    (hpa,) = by_kind(render_chart(SCENARIOS["hpa-cpu"]))["HorizontalPodAutoscaler"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"] == {
        "name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 70},
    }


def test_pvc_sources() -> None:
    created = by_kind(render_chart(SCENARIOS["pvc-created"]))
    (claim,) = created["PersistentVolumeClaim"]
    assert claim["spec"]["storageClassName"] == "nfs"
    assert claim["spec"]["accessModes"] == ["ReadOnlyMany"]
    (deployment,) = created["Deployment"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert "initContainers" not in deployment["spec"]["template"]["spec"]

    existing = by_kind(render_chart(SCENARIOS["pvc-existing"]))
    assert "PersistentVolumeClaim" not in existing
    (deployment,) = existing["Deployment"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == "models"


def test_server_flags_reach_naiad() -> None:
    kinds = by_kind(render_chart(SCENARIOS["server-flags"]))
    (deployment,) = kinds["Deployment"]
    container = naiad_container(deployment)
    args = container["args"]
    parsed = build_parser().parse_args(args)
    assert parsed.grace_s == 90
    assert parsed.model_control_mode == "explicit"
    assert parsed.load_model == ["classifier", "simple"]
    assert parsed.access_log is True
    assert parsed.repository_poll_secs == 30
    assert flag(args, "log-format") == "plain"
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 105
    assert container["image"] == "registry.example/naiad:0.1.0-rc1"
    assert container["startupProbe"]["failureThreshold"] * 2 == 600
    assert deployment["spec"]["template"]["metadata"]["annotations"]["team"] == "ml"
    assert "PodDisruptionBudget" not in kinds  # one replica: a PDB would block every drain


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"modelRepository": {"source": "emptyDir"}}, "needs modelRepository.initContainers"),
        ({"modelRepository": {"source": "s3"}}, "source"),
        ({"autoscaling": {"metric": "latency"}}, "metric"),
    ],
    ids=["emptydir-without-init", "unknown-source", "unknown-metric"],
)
def test_values_naiad_cannot_honour_fail_the_render(values: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError, match=message):
        render_chart(values)
