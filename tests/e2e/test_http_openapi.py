"""The OpenAPI document at /v2/openapi.json against the real server: schemathesis generates
requests from it for every operation (hypothesis drives it) and checks every answer against the
document: no 5xx, documented status codes and content types, bodies that match their schemas."""

from __future__ import annotations

import json
import urllib.request
from importlib import resources

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from modelgen import add_sub, identity, write_repository
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from server_process import naiad_server

DOCUMENT = json.loads(resources.files("naiad.transport.http").joinpath("openapi.json").read_text())
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
# Load and unload change what the other operations see; tests/e2e/test_http_* cover them.
OPERATIONS = [
    op.ok() for op in SCHEMA.get_all_operations() if not op.ok().path.endswith(("load", "unload"))
]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def http_url(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("repo")
    write_repository(
        root,
        {
            "simple": {1: lambda p: add_sub(p, "INT32", [4])},
            "ident": {1: lambda p: identity(p, "FP32", [-1])},
        },
    )
    # "simple" is monitored, so the /v2/monitor operations also answer for a watched model
    (root / "simple" / "monitor.toml").write_text("reference_rows = 20\nwindow_rows = 20\n")
    # and client shared memory is on: the system shared memory operations do their work
    with naiad_server(root, "--allow-client-shm") as server:
        yield "http://" + server.http_url


def test_the_server_serves_the_document(http_url: str) -> None:
    with urllib.request.urlopen(f"{http_url}/v2/openapi.json", timeout=10) as reply:
        assert json.load(reply) == DOCUMENT


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_every_operation_answers_as_documented(http_url: str, operation) -> None:  # type: ignore[no-untyped-def]
    @given(case=operation.as_strategy())
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=http_url, checks=CHECKS)
        # Random model names only meet 404s; the same case on served models and version 1
        # checks the answers of a model that exists.
        path = case.path_parameters or {}
        if "model_name" in path:
            for model in ("simple", "ident"):
                path["model_name"] = model
                if "model_version" in path:
                    path["model_version"] = "1"
                case.call_and_validate(base_url=http_url, checks=CHECKS)

    check()


def test_the_document_covers_every_endpoint() -> None:
    paths = set(DOCUMENT["paths"])
    for endpoint in (
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{model_name}",
        "/v2/models/{model_name}/versions/{model_version}/infer",
        "/v2/models/{model_name}/ready",
        "/v2/models/{model_name}/config",
        "/v2/models/{model_name}/stats",
        "/v2/models/stats",
        "/v2/repository/index",
        "/v2/repository/models/{model_name}/load",
        "/v2/repository/models/{model_name}/unload",
        "/v2/logging",
        "/v2/monitor",
        "/v2/monitor/models/{model_name}",
        "/v2/monitor/models/{model_name}/report.html",
        "/v2/monitor/models/{model_name}/labels",
        "/v2/systemsharedmemory/status",
        "/v2/systemsharedmemory/region/{region_name}/status",
        "/v2/systemsharedmemory/region/{region_name}/register",
        "/v2/systemsharedmemory/unregister",
        "/v2/systemsharedmemory/region/{region_name}/unregister",
    ):
        assert endpoint in paths, endpoint
