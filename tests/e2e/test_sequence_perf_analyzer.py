"""perf_analyzer's sequence mode (--sequence-length) against a stateful model runs clean."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import needs_perf_analyzer, run_perf_analyzer
from modelgen import write_repository
from sequence_models import accumulator, accumulator_config
from server_process import ServerProcess, naiad_server

CONFIGS = {
    "acc_direct": accumulator_config("direct { }"),
    "acc_oldest": accumulator_config("oldest { max_candidate_sequences: 4 }"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    models = {name: {1: accumulator} for name in CONFIGS}
    root = write_repository(tmp_path_factory.mktemp("repo"), models, configs=CONFIGS)
    with naiad_server(root) as process:
        yield process


@needs_perf_analyzer
@pytest.mark.parametrize(
    ("model", "mode"), [("acc_direct", "grpc"), ("acc_direct", "streaming"), ("acc_oldest", "grpc")]
)
def test_perf_analyzer_sequences_run_clean(server: ServerProcess, model: str, mode: str) -> None:
    output = run_perf_analyzer(
        "-m", model, "-i", "grpc", "-u", server.url,
        "--sequence-length", "5", "--concurrency-range", "4",
        *(["--streaming"] if mode == "streaming" else []),
    )  # fmt: skip
    assert "Sequence count" in output and "throughput" in output
