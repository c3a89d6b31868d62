"""deploy/kubernetes: every file fits the Kubernetes schemas, and the objects fit together."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from deploy_support import (
    DEPLOY,
    by_kind,
    check_selectors,
    check_serving_deployment,
    load_file,
    naiad_container,
    validate,
)

FILES = sorted((DEPLOY / "kubernetes").glob("*.yaml"))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_object_fits_the_kubernetes_schema(path: Path) -> None:
    manifests = load_file(path)
    assert manifests
    for manifest in manifests:
        validate(manifest)


def test_the_objects_fit_together() -> None:
    manifests = [m for path in FILES for m in load_file(path)]
    kinds = by_kind(manifests)
    assert set(kinds) == {"Deployment", "Service", "PersistentVolumeClaim", "PodDisruptionBudget"}
    (deployment,) = kinds["Deployment"]
    check_serving_deployment(deployment)
    check_selectors(manifests)
    (claim,) = kinds["PersistentVolumeClaim"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    # Several replicas mount the repository at once.
    assert deployment["spec"]["replicas"] > 1
    assert "ReadWriteOnce" not in claim["spec"]["accessModes"]


def test_the_image_is_the_one_the_dockerfile_builds() -> None:
    (deployment,) = by_kind(load_file(DEPLOY / "kubernetes" / "deployment.yaml"))["Deployment"]
    image = naiad_container(deployment)["image"]
    version = re.search(
        r'^version = "([^"]+)"', (DEPLOY.parent / "pyproject.toml").read_text(), re.M
    )
    assert version is not None
    assert image == f"naiad:{version.group(1)}"
