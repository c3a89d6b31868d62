"""SIGTERM: stop accepting, finish what is in flight, exit 0."""

from __future__ import annotations

import signal
import threading

import numpy as np
import tritonclient.grpc as grpcclient
from heavy import ONE_INSTANCE, heavy
from helpers import tensor, wait_until
from modelgen import write_repository


def test_sigterm_finishes_in_flight_requests_and_exits_zero(serve, tmp_path) -> None:
    repo = write_repository(
        tmp_path / "repo",
        {"slow": {1: lambda p: heavy(p, width=1024, depth=1000)}},
        configs={"slow": ONE_INSTANCE},
    )
    with serve(repo) as server:
        client = grpcclient.InferenceServerClient(server.url)
        answers: list[tuple[object, object]] = []
        done = threading.Semaphore(0)

        def collect(result: object, error: object) -> None:
            answers.append((result, error))
            done.release()

        x = np.ones((4, 1024), dtype=np.float32)
        for _ in range(3):
            client.async_infer("slow", [tensor("INPUT0", x, "FP32")], callback=collect)
        # Wait until the server holds all three (one running, two queued), then act under them.
        wait_until(
            lambda: server.metric("nv_inference_pending_request_count", "slow") == 2,
            "the three requests waited in the server together",
        )
        server.process.send_signal(signal.SIGTERM)
        for _ in range(3):
            assert done.acquire(timeout=60), server.output()
        assert [e for _, e in answers] == [None, None, None]
        assert server.process.wait(timeout=60) == 0, server.output()
        client.close()
