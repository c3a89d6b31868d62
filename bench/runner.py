"""Runs a scenario: prepares the model and inputs once, starts every target, then measures each
(mode, level) on each target in turn — interleaved, on the same pre-encoded requests."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import http_client, inputs, models, perf_analyzer, report, serverside, targets
from bench.measure import measure
from bench.scenario import Scenario
from bench.worker import Job, WorkerPool
from naiad_client import Client

GENERATOR_BOUND_CPU = 0.8
"""A load process busier than this (cores) is likely the bottleneck, not the server."""
GENERATOR_SHARE_OF_SATURATED = 0.25
"""Cores a generator may take on a saturated machine before a server beside it is flagged."""
CLIENT_SHARE_OF_P50 = 0.15
"""Above this share of p50, the generator's own CPU per request is flagged as part of latency."""


def split_load(scenario: Scenario, level: float) -> list[dict[str, Any]]:
    """Per-process shares of a load level: concurrency (closed) or rate, offset, seed (open)."""
    processes = scenario.load.processes
    if scenario.load.kind == "closed":
        level = int(level)
        processes = min(processes, level)
        shares = [
            level // processes + (1 if k < level % processes else 0) for k in range(processes)
        ]
        return [{"concurrency": c} for c in shares]
    # Constant arrivals are staggered so the processes together keep an even spacing.
    return [
        {"rate": level / processes, "offset_s": k / level, "seed": 1000 + k}
        for k in range(processes)
    ]


class Runner:
    """One scenario's run; ``run()`` returns the result document (also written to ``out_dir``)."""

    def __init__(
        self, scenario: Scenario, out_dir: Path, progress: Callable[[str], None] | None = None
    ) -> None:
        self.scenario = scenario
        self.out_dir = out_dir
        self.progress = progress or (lambda text: None)
        self.rows: list[dict[str, Any]] = []
        self.http_bodies: list[tuple[bytes, int]] = []
        """The same requests as v2 REST bodies (JSON header + binary tensors), for http
        targets; filled by run()."""

    def run(self, emit: Callable[[str], None] = print) -> dict[str, Any]:
        scenario = self.scenario
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.progress(f"preparing model {scenario.model.name}")
        urls = [t.url for t in scenario.targets if t.url]
        signature = models.signature_for(scenario.model, urls[0] if urls else None)
        rows = scenario.request.batch_size
        variants = inputs.make_inputs(signature, scenario.request, rows)
        payloads = inputs.encode_requests(
            signature, scenario.request, variants, scenario.model.version
        )
        if any(t.protocol == "http" for t in scenario.targets):
            self.http_bodies = inputs.encode_http_bodies(scenario.request, variants)
        started: list[targets.RunningTarget] = []
        try:
            for spec in scenario.targets:
                self.progress(f"starting {spec.label}")
                served = models.target_signature(scenario.model, spec, signature)
                started.append(targets.start(spec, served, self.out_dir))
            for mode in scenario.request.modes:
                for level in scenario.load.levels:
                    for round_, target in self._schedule(started):
                        row = self._measure_one(target, mode, level, signature, payloads, variants)
                        row["round"] = round_
                        self.rows.append(row)
                        self.progress("")
                        emit(report.summary_line(row))
                        if target.pid:
                            self.progress(f"waiting for {target.label} to go idle")
                            row["settle_s"] = serverside.wait_idle(target.pid)
        finally:
            for target in started:
                target.stop()
        document = report.document(scenario, signature, self.rows, host_info())
        for line in report.ratio_lines(document):
            emit(line)
        report.write_all(document, self.out_dir)
        return document

    def _measure_one(
        self,
        target: targets.RunningTarget,
        mode: str,
        level: float,
        signature: models.Signature,
        payloads: list[bytes],
        variants: list[dict],
    ) -> dict[str, Any]:
        scenario = self.scenario
        base = {
            "scenario": scenario.name,
            "target": target.label,
            "kind": target.spec.kind,
            "protocol": None if target.spec.kind == "onnxruntime-inprocess" else target.protocol,
            "mode": mode,
            "load": scenario.load.kind,
            "arrival": scenario.load.arrival if scenario.load.kind == "open" else None,
            "level": level,
            "batch_size": scenario.request.batch_size,
        }
        if target.spec.kind == "onnxruntime-inprocess":
            # Measured again beside every mode: the limit moves with the machine, not the mode.
            return self._measure_inprocess(target, base, signature)
        if scenario.load.engine == "perf_analyzer":
            self.progress(f"{target.label} {mode} {level}: perf_analyzer")
            return perf_analyzer.run(
                target.url or "", signature, scenario, mode, level, variants, self.out_dir, base
            )
        if target.protocol == "http":
            payloads = self.http_payloads(target, signature.name)
        jobs = [
            Job(
                engine=mode,
                payloads=payloads,
                url=target.load_url,
                protocol=target.protocol,
                timeout_s=scenario.request.timeout_s,
                max_inflight=scenario.load.max_inflight,
                arrival=scenario.load.arrival,
                access=target.access,
                connections=scenario.load.connections,
                **share,
            )
            for share in split_load(scenario, level)
        ]
        return self._measure_jobs(target, base, jobs, signature.name)

    def http_payloads(self, target: targets.RunningTarget, model: str) -> list[bytes]:
        """The run's REST bodies as whole requests to ``target`` (its Host, its token)."""
        path = http_client.infer_path(model, self.scenario.model.version)
        host = target.http_url or ""
        return [
            http_client.infer_request(path, host, body, json_length, target.access.token)
            for body, json_length in self.http_bodies
        ]

    def _schedule(
        self, started: list[targets.RunningTarget]
    ) -> list[tuple[int, targets.RunningTarget]]:
        """(round, target) in measuring order: every target once per round, the order reversed
        every other round so that each target is as often early as late."""
        order = []
        for round_ in range(self.scenario.measure.rounds):
            turn = started if round_ % 2 == 0 else started[::-1]
            order.extend((round_, target) for target in turn)
        return order

    def _measure_inprocess(
        self, target: targets.RunningTarget, base: dict[str, Any], signature: models.Signature
    ) -> dict[str, Any]:
        rows = target.spec.batch_size or self.scenario.request.batch_size
        feeds = inputs.make_inputs(signature, self.scenario.request, rows, seed=1)
        job = Job(engine="inprocess", payloads=feeds, onnx_path=signature.onnx_path)
        return self._measure_jobs(target, {**base, "batch_size": rows}, [job], signature.name)

    def _measure_jobs(
        self, target: targets.RunningTarget, base: dict[str, Any], jobs: list[Job], model: str
    ) -> dict[str, Any]:
        label = f"{target.label} {base['mode']} {base['load']}={base['level']:g}"
        if target.exit_code() is not None:
            # Load on a dead server would only count refused connections as fast as it can spin.
            return not_measured(base, f"{target.label} exited with code {target.exit_code()}")
        self.progress(f"{label}: warming up")
        client = Client(target.url, **target.access.client_args()) if target.url else None
        try:
            probe = serverside.make_probe(client, model, target.pid, target.http_url, target.access)
            with WorkerPool(jobs) as pool:
                measured = measure(
                    pool,
                    self.scenario.measure,
                    probe,
                    lambda text: self.progress(f"{label}: {text}"),
                )
                pool.stop()
        finally:
            if client:
                client.close()
        stats = measured.stats
        server = serverside.split(*measured.probes)
        row = {
            **base,
            "engine": "python",
            "processes": len(jobs),
            "throughput_rps": stats.throughput_rps,
            "throughput_rows": stats.throughput_rps * base["batch_size"],
            "offered_rps": stats.offered_rps,
            "num_ok": stats.num_ok,
            "errors": stats.errors,
            "latency_ms": stats.latency_ms,
            "trials": measured.num_trials,
            "stable": measured.stable,
            "generator_cpu": stats.cpu_per_process,
            "generator_us_per_request": _cpu_per_request_us(
                stats.cpu_per_process, stats.throughput_rps
            ),
            "server": server,
            "max_lag_ms": stats.max_lag_ms if base["load"] == "open" else None,
            "capped_sends": stats.num_capped,
            "histogram": stats.histogram,
        }
        row["warnings"] = warnings_for(row)
        exit_code = target.exit_code()
        if exit_code is not None:
            row["warnings"].insert(0, f"{target.label} exited with code {exit_code}; see its log")
        return row


def not_measured(base: dict[str, Any], reason: str) -> dict[str, Any]:
    """A row for a run that could not take place, with the reason as its warning."""
    return {
        **base,
        "engine": "none",
        "processes": 0,
        "throughput_rps": 0.0,
        "throughput_rows": 0.0,
        "offered_rps": 0.0,
        "num_ok": 0,
        "errors": {},
        "latency_ms": dict.fromkeys(["p50", "p90", "p99", "p99.9", "max", "mean"]),
        "trials": 0,
        "stable": False,
        "generator_cpu": [],
        "server": None,
        "max_lag_ms": None,
        "capped_sends": 0,
        "histogram": {"edges_ms": [], "counts": []},
        "warnings": [f"not measured: {reason}"],
    }


def warnings_for(row: dict[str, Any]) -> list[str]:
    """Reasons to distrust a row: a generator that is the bottleneck, that adds its own work to
    latency or takes a saturated machine's CPU, that fell behind schedule; outside interference."""
    notes = []
    served = row["kind"] != "onnxruntime-inprocess"
    busy = [c for c in row["generator_cpu"] if c >= GENERATOR_BOUND_CPU]
    if busy and served:
        notes.append(
            f"load generator at {max(busy):.0%} of a core: the generator may be the bottleneck "
            "(add load.processes or use load.engine = perf_analyzer)"
        )
    client_us = row.get("generator_us_per_request")
    p50 = row["latency_ms"].get("p50")
    if client_us and p50 and served and client_us / 1000 / p50 > CLIENT_SHARE_OF_P50:
        notes.append(
            f"the generator spends {client_us:.0f} us of CPU per request, "
            f"{client_us / 1000 / p50:.0%} of p50: latency includes the client's own per-call "
            "work (load.engine = perf_analyzer costs about half)"
        )
    generator = sum(row["generator_cpu"])
    server_cpu = (row.get("server") or {}).get("cpu_cores")
    machine = (row.get("server") or {}).get("machine_cores")
    cores = os.cpu_count() or 1
    if server_cpu is not None and server_cpu + generator >= 0.9 * cores:
        notes.append(
            f"machine saturated: generator {generator:.1f} + server {server_cpu:.1f} of {cores} "
            "cores"
        )
    elif (
        served
        and machine is not None
        and machine >= 0.9 * cores
        and generator >= GENERATOR_SHARE_OF_SATURATED
    ):
        # A server at a url: its own CPU is unknown, but the machine is full and the generator
        # holds a real share of it, which a server on this machine does not get.
        notes.append(
            f"machine saturated: {machine:.1f} of {cores} cores busy, {generator:.1f} of them "
            "the generator's"
        )
    # Without the server's own CPU (a url target) its work would count as interference.
    if machine is not None and (server_cpu is not None or not served):
        others = machine - generator - (server_cpu or 0.0)
        if others > 0.5:
            notes.append(f"other processes used {others:.1f} cores during the run")
    if row.get("capped_sends"):
        notes.append(
            f"{row['capped_sends']} sends waited for the in-flight cap (load.max_inflight); "
            "their latency counts from the intended send time"
        )
    elif row.get("max_lag_ms") and row["max_lag_ms"] > 50:
        notes.append(
            f"the generator ran up to {row['max_lag_ms']:.0f} ms behind schedule "
            "(latency counts from the intended send time)"
        )
    if not row["stable"]:
        notes.append(f"not stable after {row['trials']} trials")
    return notes


def _cpu_per_request_us(cores_per_process: list[float], requests_per_s: float) -> float | None:
    """The load generator's CPU per request (all processes), in microseconds."""
    if not cores_per_process or requests_per_s <= 0:
        return None
    return sum(cores_per_process) / requests_per_s * 1e6


def host_info() -> dict[str, Any]:
    return {
        "hostname": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
