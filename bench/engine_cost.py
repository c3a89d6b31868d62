"""What the engine stack costs per request in process, without any transport: a scenario's
naiad targets (rollout_cost: no rollout, a 25 % canary, a 100 % shadow; monitor_cost: no
monitor, default and full sampling) served by NaiadServer's own composition root, its engine
called directly by asyncio tasks on the server's own event loop (uvloop where installed).

Over gRPC the transport's work and the load generator share the 2-core machine with the
server and drown a 3 % difference; here the only work is the engine's, its layers' (and the
monitor's worker thread's) and the tiny model's. Reported per target: the event loop thread's
CPU per request (where the layers, the engine and the inline model runs all happen), the
process's (worker threads included) and wall time, median of the rounds [range], as ratios
to the scenario's baseline. The targets run in turn, their order reversed every other round.

    python -m bench.engine_cost [--scenario rollout_cost] [--rounds 5] [--requests 20000] [-c 16]
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
from naiad.cli import build_parser
from naiad.datatypes import BY_WIRE
from naiad.engine.context import INTERNAL
from naiad.engine.request import InferInput, InferRequest
from naiad.event_loop import run
from naiad.monitor.cli import monitor_defaults
from naiad.monitor.settings import MonitorSettings


def targets(scenario: str) -> dict[str, tuple[Path, MonitorSettings | None]]:
    """Each naiad target's repository, built (and cached) as the bench's runner does, and the
    monitoring its `naiad serve` arguments ask for."""
    loaded = load(scenario)
    parser = build_parser()
    found = {}
    for target in loaded.targets:
        if target.kind != "naiad":
            continue
        repository = Path(ensure_generated(target_model(loaded.model, target)).repository)
        args = parser.parse_args(["serve", "--model-repository", str(repository), *target.args])
        found[target.label] = (repository, monitor_defaults(args))
    return found


async def _cost(
    repository: Path,
    monitor: MonitorSettings | None,
    name: str,
    state: Path,
    num_requests: int,
    concurrency: int,
) -> tuple[float, float, float]:
    """(loop thread CPU us, process CPU us, wall us) per request, after a warm-up."""
    options = ServerOptions(
        model_repository=str(repository), grpc_host="127.0.0.1", grpc_port=0, http_port=None,
        metrics_port=None, rollout_state_dir=str(state / "rollout"), grace_s=5.0, monitor=monitor,
        monitor_state_dir=str(state / "monitor"),
    )  # fmt: skip
    server = NaiadServer(options)
    await server.start()
    try:
        engine = server.engine
        # random rows, as the gRPC scenarios send: the monitor sees real windows
        rows = np.random.default_rng(0).random((256, 1, 64), dtype=np.float32)
        requests = [
            InferRequest(name, "", "", [InferInput("INPUT0", BY_WIRE["FP32"], (1, 64), r)])
            for r in rows
        ]
        remaining = [0]

        async def client() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                await engine.submit(requests[remaining[0] % len(requests)], INTERNAL)

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
    parser.add_argument("--scenario", default="rollout_cost")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="naiad-engine-cost-") as tmp:
        found = targets(args.scenario)
        name = load(args.scenario).model.name
        labels = list(found)
        results: dict[str, list[tuple[float, float, float]]] = {label: [] for label in labels}
        for round_number in range(args.rounds):
            order = labels if round_number % 2 == 0 else labels[::-1]
            for label in order:
                state = Path(tmp) / f"state-{label}-{round_number}"
                repository, monitor = found[label]
                cost = run(_cost(repository, monitor, name, state, args.requests, args.concurrency))
                results[label].append(cost)
    print(
        f"{args.scenario}: load average {os.getloadavg()[0]:.1f}; c={args.concurrency},"
        f" {args.requests} requests x {args.rounds} rounds; us per request, median, added"
        " to the baseline's, ratio [range]"
    )
    base = [statistics.median(c[i] for c in results[labels[0]]) for i in range(3)]
    for label in labels:
        parts = []
        for i, what in enumerate(("loop cpu", "process cpu", "wall")):
            values = [c[i] for c in results[label]]
            median = statistics.median(values)
            parts.append(
                f"{what} {median:6.1f} {median - base[i]:+6.1f} ({median / base[i]:.2f}x"
                f" [{min(values) / base[i]:.2f}-{max(values) / base[i]:.2f}])"
            )
        print(f"  {label:16s} " + "  ".join(parts))


if __name__ == "__main__":
    main()
