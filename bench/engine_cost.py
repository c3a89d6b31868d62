"""What the engine stack costs per request in process, without any transport: rollout_cost's
three repositories (no rollout, a 25 % canary, a 100 % shadow) served by NaiadServer's own
composition root, its engine called directly by asyncio tasks on the server's own event loop
(uvloop where installed).

Over gRPC the transport's work and the load generator share the 2-core machine with the
server and drown a 3 % difference; here the only work is the engine's, its layers' and the
tiny model's, so the rollout's own per-request cost shows. Reported per target: the event
loop thread's CPU per request (where the rollout layer, the engine and the inline model runs
all happen) and the process's, median of the rounds, and the ratio to no rollout. The
targets run in turn, their order reversed every other round.

    python -m bench.engine_cost [--rounds 5] [--requests 20000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.models import ensure_generated
from bench.scenario import load, target_model
from naiad.app import NaiadServer, ServerOptions
from naiad.datatypes import BY_WIRE
from naiad.engine.context import INTERNAL
from naiad.engine.request import InferInput, InferRequest
from naiad.event_loop import run

SCENARIO = "rollout_cost"


def repositories() -> dict[str, Path]:
    """Each rollout_cost target's repository, built (and cached) as the bench's runner does."""
    scenario = load(SCENARIO)
    return {
        target.label: Path(ensure_generated(target_model(scenario.model, target)).repository)
        for target in scenario.targets
    }


async def _cost(
    repository: Path, state: Path, num_requests: int, concurrency: int
) -> tuple[float, float, float]:
    """(loop thread CPU us, process CPU us, wall us) per request, after a warm-up."""
    options = ServerOptions(
        model_repository=str(repository), grpc_host="127.0.0.1", grpc_port=0, http_port=None,
        metrics_port=None, rollout_state_dir=str(state), grace_s=5.0,
    )  # fmt: skip
    server = NaiadServer(options)
    await server.start()
    try:
        engine = server.engine
        name = load(SCENARIO).model.name
        rows = np.random.default_rng(0).random((1, 64), dtype=np.float32)
        request = InferRequest(name, "", "", [InferInput("INPUT0", BY_WIRE["FP32"], (1, 64), rows)])
        remaining = [0]

        async def client() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                await engine.submit(request, INTERNAL)

        for count in (num_requests // 10, num_requests):
            remaining[0] = count
            thread_s, process_s, wall_s = (
                time.thread_time(),
                time.process_time(),
                time.perf_counter(),
            )
            await asyncio.gather(*(client() for _ in range(concurrency)))
            thread_s = time.thread_time() - thread_s
            process_s = time.process_time() - process_s
            wall_s = time.perf_counter() - wall_s
        scale = 1e6 / num_requests
        return thread_s * scale, process_s * scale, wall_s * scale
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="naiad-engine-cost-") as tmp:
        repos = repositories()
        labels = list(repos)
        results: dict[str, list[tuple[float, float, float]]] = {label: [] for label in labels}
        for round_number in range(args.rounds):
            order = labels if round_number % 2 == 0 else labels[::-1]
            for label in order:
                state = Path(tmp) / f"state-{label}-{round_number}"
                cost = run(_cost(repos[label], state, args.requests, args.concurrency))
                results[label].append(cost)
    print(f"load average {os.getloadavg()[0]:.1f}; c={args.concurrency}, {args.requests} requests"
          f" x {args.rounds} rounds; us per request, median [range]")  # fmt: skip
    base = [statistics.median(c[i] for c in results[labels[0]]) for i in range(3)]
    for label in labels:
        parts = []
        for i, what in enumerate(("loop cpu", "process cpu", "wall")):
            values = [c[i] for c in results[label]]
            median = statistics.median(values)
            parts.append(
                f"{what} {median:6.1f} ({median / base[i]:.2f}x [{min(values) / base[i]:.2f}-"
                f"{max(values) / base[i]:.2f}])"
            )
        print(f"  {label:12s} " + "  ".join(parts))


if __name__ == "__main__":
    main()
