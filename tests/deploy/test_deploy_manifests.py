"""deploy/kubernetes: every file fits the Kubernetes schemas, and the objects fit together."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from deploy_support import (
    DEPLOY,
    by_kind,
    check_selectors,
    check_serving_deployment,
    load_documents,
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


# Strategic merge patch keys of the lists the TLS patch touches (the Kubernetes API's own).
MERGE_KEYS = {"containers": "name", "volumes": "name", "volumeMounts": "mountPath"}
TLS_PATCH = DEPLOY / "kubernetes" / "tls" / "deployment-patch.yaml"


def _strategic_merge(base: Any, patch: Any, field: str = "") -> Any:
    """What `kubectl patch` does with the TLS patch: maps merge, keyed lists merge by key,
    other lists (args) are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _strategic_merge(base.get(key), value, key) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(patch, list) and field in MERGE_KEYS:
        key = MERGE_KEYS[field]
        merged_list = list(base)
        for item in patch:
            index = next((i for i, b in enumerate(base) if b[key] == item[key]), None)
            if index is None:
                merged_list.append(item)
            else:
                merged_list[index] = _strategic_merge(base[index], item)
        return merged_list
    return patch


@pytest.mark.parametrize("mutual", [False, True], ids=["tls", "mtls-uncommented"])
def test_the_tls_patch_turns_on_tls_and_keeps_everything_else(mutual: bool) -> None:
    text = TLS_PATCH.read_text()
    if mutual:
        text = text.replace("# - --tls-client-ca", "- --tls-client-ca")
    (patch,) = load_documents(text)
    (base,) = by_kind(load_file(DEPLOY / "kubernetes" / "deployment.yaml"))["Deployment"]
    patched = _strategic_merge(base, patch)
    validate(patched)
    check_serving_deployment(patched)  # HTTPS probes, the Secret mounted at the flags' paths
    args = naiad_container(patched)["args"]
    base_args = naiad_container(base)["args"]
    # The patch repeats the base's args (a patch replaces a list whole); they must not drift.
    assert args[: len(base_args)] == base_args
    tls_args = ["--tls-cert=/etc/naiad/tls/tls.crt", "--tls-key=/etc/naiad/tls/tls.key"]
    if mutual:
        tls_args.append("--tls-client-ca=/etc/naiad/tls/ca.crt")
    assert args[len(base_args) :] == tls_args
    volumes = {v["name"]: v for v in patched["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tls"]["secret"] == {"secretName": "naiad-tls", "defaultMode": 0o440}
    assert set(volumes) == {"models", "tmp", "tls"}
