"""Command line: ``python -m bench.http_stacks --python /tmp/httpvenv/bin/python`` (repo root).

Starts each candidate server in turn (one process, uvloop), measures it with the same
generator at each concurrency (closed loop, keep-alive, warm-up then windows), over rounds in
alternating order, and prints req/s, p50/p99 and the ratio to the best per level. With
``--engine`` every candidate answers through naiad's engine serving a 64-in/10-out MLP
(engine_behind.py) instead of with a fixed response; the interpreter must have naiad.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import event_loop
from bench.http_stacks import candidates as registry
from bench.http_stacks import engine_behind, loadgen, payload

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


def _csv(kind: type):
    return lambda text: tuple(kind(x) for x in text.split(",") if x)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.http_stacks", description=__doc__)
    p.add_argument("--python", default=sys.executable, help="interpreter with the candidates")
    p.add_argument("--candidates", type=_csv(str), help="comma list (default: all)")
    p.add_argument("-c", "--concurrency", type=_csv(int), default=(1, 16))
    p.add_argument("--warmup", type=float, default=1.0, help="seconds before the windows")
    p.add_argument("--windows", type=int, default=3)
    p.add_argument("--window", type=float, default=3.0, help="seconds per window")
    p.add_argument("--rounds", type=int, default=2, help="order alternates between rounds")
    p.add_argument("--json", type=Path, help="also write the raw windows and summary here")
    p.add_argument("--engine", action="store_true", help="naiad's engine behind every candidate")
    return p


@dataclass
class Row:
    candidate: str
    concurrency: int
    rps: float
    """Median of the per-window rates over all rounds."""
    rps_min: float
    rps_max: float
    p50_ms: float
    p99_ms: float
    ratio: float = 0.0
    """rps over the best rps at this concurrency."""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100.0 * len(ordered))))
    return ordered[rank - 1]


def summarize(results: dict[tuple[str, int], list[loadgen.LevelResult]]) -> list[Row]:
    """One row per (candidate, concurrency), in first-seen order, ratios to each level's best."""
    rows = []
    for (name, level), parts in results.items():
        rates = [r for part in parts for r in part.window_rates]
        latencies = [x for part in parts for x in part.latencies_ms]
        if not latencies:
            rows.append(Row(name, level, 0.0, 0.0, 0.0, float("nan"), float("nan")))
            continue
        rows.append(
            Row(
                name,
                level,
                statistics.median(rates),
                min(rates),
                max(rates),
                percentile(latencies, 50),
                percentile(latencies, 99),
            )
        )
    for level in {row.concurrency for row in rows}:
        same = [row for row in rows if row.concurrency == level]
        best = max(row.rps for row in same)
        for row in same:
            row.ratio = row.rps / best if best else 0.0
    return rows


def format_table(rows: list[Row]) -> str:
    head = (
        f"{'candidate':<20} {'c':>3} {'req/s':>9} {'(min-max windows)':>19} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'vs best':>8}"
    )
    lines = [head, "-" * len(head)]
    for row in sorted(rows, key=lambda r: (r.concurrency, -r.rps)):
        spread = f"{row.rps_min:.0f}-{row.rps_max:.0f}"
        lines.append(
            f"{row.candidate:<20} {row.concurrency:>3} {row.rps:>9.0f} {spread:>19} "
            f"{row.p50_ms:>8.3f} {row.p99_ms:>8.3f} {row.ratio:>8.2f}"
        )
    return "\n".join(lines)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def versions(python: str, names: list[str]) -> str:
    code = (
        "import importlib.metadata as m, sys\n"
        "out = [sys.version.split()[0]]\n"
        f"for n in {names!r}:\n"
        "    try: out.append(n + ' ' + m.version(n))\n"
        "    except m.PackageNotFoundError: out.append(n + ' MISSING')\n"
        "print(', '.join(out))"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


class Server:
    """One candidate process (own session, so its workers go with it), stopped by process id."""

    def __init__(self, python: str, candidate: registry.Candidate, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        command = [python, "-m", candidate.module, "--host", HOST, "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*command, *candidate.args],
            cwd=REPO_ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **env},
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


async def measure_candidate(
    python: str,
    candidate: registry.Candidate,
    levels: tuple[int, ...],
    plan: loadgen.Plan,
    env: dict[str, str],
) -> list[loadgen.LevelResult]:
    server = Server(python, candidate, env)
    try:
        try:
            await loadgen.wait_ready(HOST, server.port, 30.0, server.alive)
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(f"{candidate.name}: {error}\n{server.log_tail()}") from error
        body = await loadgen.check_once(HOST, server.port)
        if not _answers(json.loads(body), engine=bool(env)):
            raise RuntimeError(f"{candidate.name} answered {body[:200]!r}")
        return [await loadgen.measure_level(HOST, server.port, c, plan) for c in levels]
    finally:
        server.stop()


def _answers(answer: dict, engine: bool) -> bool:
    """Whether a candidate's answer is the fixed one, or the engine's for the payload's model."""
    if not engine:
        return answer == json.loads(payload.RESPONSE)
    outputs = answer.get("outputs", [])
    return len(outputs) == 1 and outputs[0]["shape"] == [1, payload.RESPONSE_FLOATS]


async def run(args: argparse.Namespace) -> list[Row]:
    chosen = registry.select(args.candidates)
    env: dict[str, str] = {}
    if args.engine:
        root = Path(tempfile.mkdtemp(prefix="naiad-http-stacks-"))
        env[engine_behind.ENV] = str(engine_behind.write_repository(root))
    plan = loadgen.Plan(args.warmup, args.windows, args.window)
    needs = sorted({n for c in chosen for n in c.needs})
    print(f"servers: {args.python} (Python {versions(args.python, needs)})")
    loop = type(asyncio.get_running_loop()).__module__
    print(f"client: {sys.executable} (loop {loop}), cpus {os.cpu_count()}")
    print(
        f"plan: c={','.join(map(str, args.concurrency))}, warm-up {plan.warmup_s:g} s, "
        f"{plan.windows} x {plan.window_s:g} s windows, {args.rounds} rounds,"
        f" {'naiad engine behind (64-in/10-out MLP)' if env else 'do-nothing handlers'}\n"
    )
    results: dict[tuple[str, int], list[loadgen.LevelResult]] = {
        (c.name, level): [] for c in chosen for level in args.concurrency
    }
    for index in range(args.rounds):
        for candidate in registry.round_order(chosen, index):
            levels = await measure_candidate(args.python, candidate, args.concurrency, plan, env)
            for level in levels:
                results[(candidate.name, level.concurrency)].append(level)
                rates = " ".join(f"{r:.0f}" for r in level.window_rates)
                print(f"round {index + 1} {candidate.name:<20} c={level.concurrency:<3} {rates}")
    rows = summarize(results)
    if args.json:
        raw = {
            f"{name}@{level}": [part.window_rates for part in parts]
            for (name, level), parts in results.items()
        }
        summary = [vars(row) for row in rows]
        args.json.write_text(json.dumps({"windows": raw, "summary": summary}))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    rows = event_loop.run(run(args))
    print()
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
