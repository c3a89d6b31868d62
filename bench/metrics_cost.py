"""What /metrics costs: naiad with metrics on (and scraped) vs off, in alternating windows.

    python -m bench.metrics_cost [-c 1,16] [--rounds 10] [--window-s 2] [--scrape-interval-s 1]

Starts the two naiad targets of scenarios/metrics_cost.toml once, then measures them in turns
(off, on, on, off, ...) on the same pre-encoded requests, scraping the metrics-on server while
it runs. On a shared machine, load from other processes drifts over seconds; pairing adjacent
windows and taking the median ratio cancels most of it, where one long run per target would not.
Prints one line per target and level, then the median on/off ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench import event_loop, inputs, models, scenario, targets
from naiad_client import AsyncClient


async def _window(
    client: AsyncClient, payloads: list[bytes], concurrency: int, seconds: float
) -> list[int]:
    """Latencies (ns) of the requests completed in one closed-loop window."""
    latencies: list[int] = []
    end = time.perf_counter() + seconds

    async def user(first: int) -> None:
        i = first
        while time.perf_counter() < end:
            start = time.perf_counter_ns()
            await client.infer_prepared(payloads[i % len(payloads)])
            latencies.append(time.perf_counter_ns() - start)
            i += concurrency

    await asyncio.gather(*(user(k) for k in range(concurrency)))
    return latencies


async def _measure(
    running: list[targets.RunningTarget], payloads: list[bytes], args: argparse.Namespace
) -> None:
    # One event loop and one channel per target for the whole run (grpc.aio keeps per-loop state).
    clients = [AsyncClient(t.url or "", **t.access.client_args()) for t in running]
    try:
        for client in clients:
            await client.infer_prepared(payloads[0])
        for level in (int(c) for c in args.concurrency.split(",")):
            rates: list[list[float]] = [[] for _ in running]
            p50s: list[list[float]] = [[] for _ in running]
            for round_number in range(args.rounds):
                order = (
                    range(len(running)) if round_number % 2 == 0 else reversed(range(len(running)))
                )
                for k in order:
                    done = await _window(clients[k], payloads, level, args.window_s)
                    rates[k].append(len(done) / args.window_s)
                    p50s[k].append(statistics.median(done) / 1e3)
            for target, rate, p50 in zip(running, rates, p50s, strict=True):
                print(
                    f"{target.label} async closed={level}: median {statistics.median(rate):,.0f}"
                    f" req/s over {args.rounds} windows of {args.window_s:g} s,"
                    f" p50 {statistics.median(p50):.0f} us"
                )
            ratios = [on / off for off, on in zip(rates[0], rates[1], strict=True)]
            print(
                f"ratio {running[1].label}/{running[0].label} closed={level}: median"
                f" {statistics.median(ratios):.3f} (windows {min(ratios):.2f}..{max(ratios):.2f})",
                flush=True,
            )
    finally:
        for client in clients:
            await client.close()


def _scrape_forever(
    address: str, interval_s: float, stop: threading.Event, count: list[int]
) -> None:
    while not stop.wait(interval_s):
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as answer:
            answer.read()
        count[0] += 1


def _metrics_address(spec: scenario.TargetSpec) -> str | None:
    args = list(spec.args)
    if "--metrics-port" not in args:
        return None
    return f"127.0.0.1:{args[args.index('--metrics-port') + 1]}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_cost", description=__doc__)
    parser.add_argument("-c", "--concurrency", default="1,16")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--window-s", type=float, default=2.0)
    parser.add_argument("--scrape-interval-s", type=float, default=1.0)
    args = parser.parse_args()

    chosen = scenario.load("metrics_cost")
    signature = models.ensure_generated(chosen.model)
    variants = inputs.make_inputs(signature, chosen.request, chosen.request.batch_size)
    payloads = inputs.encode_requests(signature, chosen.request, variants, "")
    log_dir = Path(tempfile.mkdtemp(prefix="metrics-cost-"))
    running = [
        targets.start(spec, models.target_signature(chosen.model, spec, signature), log_dir)
        for spec in chosen.targets
    ]
    stop, scrapes = threading.Event(), [0]
    try:
        for target in running:
            address = _metrics_address(target.spec)
            if address is not None:
                scraper = (address, args.scrape_interval_s, stop, scrapes)
                threading.Thread(target=_scrape_forever, args=scraper, daemon=True).start()
        event_loop.run(_measure(running, payloads, args))
    finally:
        stop.set()
        for target in running:
            target.stop()
    print(f"scrapes of /metrics during the run: {scrapes[0]}")


if __name__ == "__main__":
    main()
