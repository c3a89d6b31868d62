"""A Triton-format ensemble repository served unchanged, called through tritonclient over gRPC,
HTTP and a stream: normalise -> classifier -> top-2 with labels, as one model, equal to calling
the three members by hand; member and ensemble statistics; classification with labels."""

from __future__ import annotations

import queue

import ensemble_repo
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from helpers import tensor
from server_process import naiad_server

TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = ensemble_repo.write(tmp_path_factory.mktemp("ensemble") / "repo")
    with naiad_server(root) as process:
        yield process


def sample(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (np.asarray(ensemble_repo.MEAN) + rng.standard_normal((rows, 4))).astype(np.float32)


def by_hand(client: grpcclient.InferenceServerClient, raw: np.ndarray) -> dict[str, np.ndarray]:
    """The three members called one after another, as a client would without the ensemble."""
    normalised = client.infer("normalise", [tensor("RAW", raw, "FP32")]).as_numpy("NORMALISED")
    probabilities = client.infer(
        "classifier", [tensor("features", normalised, "FP32")], model_version="1"
    ).as_numpy("probabilities")
    top = client.infer("top2", [tensor("SCORES", probabilities, "FP32")])
    return {
        "PROBABILITIES": probabilities,
        "BEST_SCORES": top.as_numpy("TOP_SCORES"),
        "BEST_LABELS": top.as_numpy("TOP_LABELS"),
    }


def check(result: object, want: dict[str, np.ndarray]) -> None:
    for name in ("PROBABILITIES", "BEST_SCORES"):
        np.testing.assert_allclose(result.as_numpy(name), want[name], **TOLERANCE)  # type: ignore[attr-defined]
    assert result.as_numpy("BEST_LABELS").tolist() == want["BEST_LABELS"].tolist()  # type: ignore[attr-defined]


def test_the_ensemble_equals_its_steps_by_hand_and_the_numpy_reference(server) -> None:  # type: ignore[no-untyped-def]
    client = grpcclient.InferenceServerClient(server.url)
    raw = sample(5)
    result = client.infer("pipeline", [tensor("RAW_FEATURES", raw, "FP32")])
    manual = by_hand(client, raw)
    check(result, manual)
    check(result, ensemble_repo.reference(raw))
    assert result.get_response().model_name == "pipeline"
    metadata = client.get_model_metadata("pipeline")
    assert metadata.platform == "ensemble"
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.outputs] == [
        ("PROBABILITIES", "FP32", [-1, 3]),
        ("BEST_SCORES", "FP32", [-1, 2]),
        ("BEST_LABELS", "BYTES", [-1, 2]),
    ]
    config = client.get_model_config("pipeline", as_json=True)["config"]
    assert config["platform"] == "ensemble"
    assert [s["model_name"] for s in config["ensemble_scheduling"]["step"]] == [
        "normalise",
        "classifier",
        "top2",
    ]


def test_http_and_streaming_reach_the_ensemble_too(server) -> None:  # type: ignore[no-untyped-def]
    raw = sample(3, seed=4)
    want = ensemble_repo.reference(raw)
    http = httpclient.InferenceServerClient(server.http_url)
    given = httpclient.InferInput("RAW_FEATURES", list(raw.shape), "FP32")
    given.set_data_from_numpy(raw)
    check(http.infer("pipeline", [given]), want)

    client = grpcclient.InferenceServerClient(server.url)
    answers: queue.Queue[tuple[object, object]] = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        for i in range(6):
            client.async_stream_infer(
                "pipeline", [tensor("RAW_FEATURES", raw, "FP32")], request_id=f"s{i}"
            )
        for _ in range(6):
            result, error = answers.get(timeout=30)
            assert error is None
            check(result, want)
    finally:
        client.stop_stream()


def test_classification_answers_top_k_with_the_label_file(server) -> None:  # type: ignore[no-untyped-def]
    client = grpcclient.InferenceServerClient(server.url)
    raw = sample(2, seed=7)
    outputs = [grpcclient.InferRequestedOutput("PROBABILITIES", class_count=2)]
    result = client.infer("pipeline", [tensor("RAW_FEATURES", raw, "FP32")], outputs=outputs)
    texts = result.as_numpy("PROBABILITIES")
    assert texts.shape == (2, 2)
    want = ensemble_repo.reference(raw)
    for row, got in zip(want["PROBABILITIES"], texts, strict=True):
        best = np.argsort(-row, kind="stable")[:2]
        fields = [t.decode().split(":") for t in got]
        assert [(int(i), label) for _, i, label in fields] == [
            (int(i), ensemble_repo.LABELS[i]) for i in best
        ]
        np.testing.assert_allclose([float(s) for s, _, _ in fields], row[best], atol=1e-5)


def test_members_and_the_ensemble_count_their_own_requests(server) -> None:  # type: ignore[no-untyped-def]
    client = grpcclient.InferenceServerClient(server.url)

    def counts() -> dict[str, int]:
        stats = client.get_inference_statistics(as_json=True)["model_stats"]
        return {s["name"]: int(s["inference_stats"]["success"].get("count", 0)) for s in stats}

    before = counts()
    for i in range(4):
        client.infer("pipeline", [tensor("RAW_FEATURES", sample(1, seed=i), "FP32")])
    after = counts()
    for name in ("pipeline", "normalise", "classifier", "top2"):
        assert after[name] - before[name] == 4, name
    assert client.is_model_ready("pipeline")
