"""deploy/kserve, checked structurally: KServe's CRDs are not in the Kubernetes schemas.

The field names below are KServe's own (serving.kserve.io v1alpha1 ServingRuntimeSpec and
SupportedModelFormat, v1beta1 ComponentExtensionSpec and ModelSpec, and its protocol names
v1 / v2 / grpc-v1 / grpc-v2). Everything in them that is a core Kubernetes type (the
containers) is validated against the Kubernetes schema as such.
"""

from __future__ import annotations

from deploy_support import DEPLOY, Manifest, flag, load_file, parse_serve_args, validate_container

RUNTIME_SPEC_FIELDS = {
    "supportedModelFormats", "multiModel", "disabled", "protocolVersions", "workerSpec",
    "containers", "volumes", "nodeSelector", "affinity", "tolerations", "labels", "annotations",
    "imagePullSecrets", "hostIPC", "grpcEndpoint", "grpcDataEndpoint", "httpDataEndpoint",
    "replicas", "storageHelper", "builtInAdapter",
}  # fmt: skip
MODEL_FORMAT_FIELDS = {"name", "version", "autoSelect", "priority"}
PROTOCOLS = {"v1", "v2", "grpc-v1", "grpc-v2"}
COMPONENT_FIELDS = {
    "minReplicas", "maxReplicas", "scaleTarget", "scaleMetric", "containerConcurrency",
    "timeout", "canaryTrafficPercent", "logger", "batcher", "labels", "annotations",
    "deploymentStrategy",
}  # fmt: skip
MODEL_SPEC_FIELDS = {
    "modelFormat", "runtime", "storageUri", "runtimeVersion", "protocolVersion", "storage",
}  # fmt: skip
"""ModelSpec's own fields; the rest of `model` is an inline core Container."""


def _runtime() -> Manifest:
    (runtime,) = load_file(DEPLOY / "kserve" / "cluster-serving-runtime.yaml")
    return runtime


def _service() -> Manifest:
    (service,) = load_file(DEPLOY / "kserve" / "inference-service.yaml")
    return service


def test_cluster_serving_runtime_declares_onnx_over_the_v2_protocol() -> None:
    runtime = _runtime()
    assert (runtime["apiVersion"], runtime["kind"]) == (
        "serving.kserve.io/v1alpha1",
        "ClusterServingRuntime",
    )
    spec = runtime["spec"]
    assert set(spec) <= RUNTIME_SPEC_FIELDS
    formats = spec["supportedModelFormats"]
    assert all(set(f) <= MODEL_FORMAT_FIELDS for f in formats)
    assert all(isinstance(f.get("version", ""), str) for f in formats)
    assert all(f.get("priority", 1) >= 1 for f in formats)
    assert "onnx" in {f["name"] for f in formats}
    assert set(spec["protocolVersions"]) <= PROTOCOLS
    # v2 REST is not declared: naiad's HTTP port serves health and metrics only.
    assert spec["protocolVersions"] == ["grpc-v2"]
    assert all(isinstance(v, str) for v in spec["annotations"].values())


def test_the_runtime_container_is_a_valid_container_running_naiad() -> None:
    (container,) = _runtime()["spec"]["containers"]
    validate_container(container)
    assert container["name"] == "kserve-container"  # the name KServe merges its overrides into
    args = container["args"]
    parse_serve_args(args)
    assert flag(args, "model-repository") == "/mnt/models"  # where the storage initializer puts it
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"h2c": int(flag(args, "grpc-port") or 0)}  # h2c: KServe's gRPC port name
    http_port = int(flag(args, "http-port") or 0)
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": http_port}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": http_port}
    annotations = _runtime()["spec"]["annotations"]
    assert annotations["prometheus.kserve.io/port"] == flag(args, "metrics-port")


def test_the_inference_service_selects_this_runtime() -> None:
    service = _service()
    assert (service["apiVersion"], service["kind"]) == (
        "serving.kserve.io/v1beta1",
        "InferenceService",
    )
    assert set(service["spec"]) == {"predictor"}
    predictor = service["spec"]["predictor"]
    assert set(predictor) <= COMPONENT_FIELDS | {"model"}
    assert predictor["minReplicas"] <= predictor["maxReplicas"]
    model = predictor["model"]
    container_part = {k: v for k, v in model.items() if k not in MODEL_SPEC_FIELDS}
    validate_container({"name": "kserve-container", **container_part})

    runtime = _runtime()
    assert model["runtime"] == runtime["metadata"]["name"]
    assert set(model["modelFormat"]) <= {"name", "version"}
    wanted = (model["modelFormat"]["name"], model["modelFormat"].get("version"))
    offered = {(f["name"], f.get("version")) for f in runtime["spec"]["supportedModelFormats"]}
    assert wanted in offered
    # KServe picks a runtime only if it lists the predictor's protocol (v1 when unset).
    assert model.get("protocolVersion", "v1") in runtime["spec"]["protocolVersions"]
    assert model["storageUri"]
