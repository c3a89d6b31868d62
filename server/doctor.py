"""`naiad doctor`: what a deployment needs to know, found the way `naiad serve` finds it.

The CPU budget and GPU probe are the runtime's own (threads.cpu_budget, runtime.gpu_status). The
models go through the server's real ModelRepository with a factory that only plans instances
(providers, devices, threads) and starts no session, so every state and reason is what
RepositoryIndex would report, minus what only ONNX Runtime can tell; `--load` swaps in the
server's real factory (sessions and warm-up), then stops each model.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from naiad.config.settings import ModelSettings
from naiad.errors import NaiadError
from naiad.repository.manager import ModelRepository
from naiad.repository.types import ControlMode, ModelFactory, ModelState, ServedModel
from naiad.runtime import onnx as runtime
from naiad.runtime import providers as prov
from naiad.runtime.instances import InstancePlan, plan_instances
from naiad.runtime.threads import CGROUP_ROOT, PROC_SELF_CGROUP, cgroup_cpu_limit, cpu_budget
from naiad_protocol.model_config_pb2 import ModelConfig

DESCRIPTION = """\
Prints what a deployment of this repository needs to know, found the way `naiad serve` finds it:
the CPU budget (affinity and cgroup quota), the GPUs and ONNX Runtime execution providers that
can run here, whether the ports are free (and, when the HTTP port is taken, what its health
endpoints answer), and every model version with the state the server would give it and the
instances it would run. Exits 1 when the server would not become ready.
"""

PLANNED = "PLANNED"
"""State of a version whose config checked out and whose instances were planned (no session)."""


@dataclass(frozen=True)
class ProviderCheck:
    name: str
    usable: bool | None
    """None: present in this onnxruntime build, not probed."""
    reason: str = ""


@dataclass(frozen=True)
class PortCheck:
    name: str
    port: int
    free: bool
    detail: str = ""


@dataclass(frozen=True)
class VersionCheck:
    model: str
    version: str
    """"" when the model failed before any version was known."""
    state: str
    """PLANNED, or a RepositoryIndex state (READY only with --load), or NOT LOADED."""
    detail: str = ""


@dataclass(frozen=True)
class Report:
    cpu_budget: int
    """Cores naiad sizes its threads for: the lower of the two below."""
    affinity_cores: int
    cgroup_cpu_limit: float | None
    onnxruntime_version: str
    gpu_count: int
    gpu_reason: str
    providers: list[ProviderCheck]
    ports: list[PortCheck]
    repository: str
    control_mode: str
    models: list[VersionCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """What would stop the server or leave it not ready; empty when it would serve."""


class _PlannedModel:
    """A ServedModel that holds instance plans instead of sessions."""

    def __init__(self, config: ModelConfig, plans: list[InstancePlan]) -> None:
        self._config = config
        self.plans = plans

    @property
    def config(self) -> ModelConfig:
        return self._config

    def stop(self) -> None:
        pass


def _planning_factory(
    budget: int, plans: dict[tuple[str, int], list[InstancePlan]]
) -> ModelFactory:
    def factory(settings: ModelSettings, config: ModelConfig) -> ServedModel:
        planned = plan_instances(settings, budget)
        plans[(settings.name, settings.version)] = planned
        return _PlannedModel(config, planned)

    return factory


def describe_plans(plans: list[InstancePlan]) -> str:
    """One line: each instance, where it runs, on which providers, with how many threads."""
    parts = []
    for plan in plans:
        where = f" device {plan.device_id}" if plan.device_id is not None else ""
        note = f" [{plan.note}]" if plan.note else ""
        parts.append(
            f"{plan.name} {plan.kind.name}{where} ({', '.join(plan.provider_names)}, "
            f"{plan.intra_op_threads} intra-op{', spinning' if plan.thread_spinning else ''})"
            f"{note}"
        )
    count = len(plans)
    return f"{count} instance{'s' if count != 1 else ''}: " + "; ".join(parts)


def check_providers(gpu_count: int, gpu_reason: str) -> list[ProviderCheck]:
    """Every provider this onnxruntime build lists, and whether it can run here."""
    checks = []
    for name in runtime.available_providers():
        if name == prov.CPU:
            checks.append(ProviderCheck(name, True))
        elif name == prov.CUDA:
            checks.append(ProviderCheck(name, gpu_count > 0, gpu_reason))
        elif name == prov.TENSORRT:
            if gpu_count == 0:
                checks.append(ProviderCheck(name, False, "needs a usable CUDA GPU"))
            else:
                problem = runtime.provider_problem(name)
                checks.append(ProviderCheck(name, not problem, problem))
        elif name == prov.OPENVINO:
            problem = runtime.provider_problem(name)
            checks.append(ProviderCheck(name, not problem, problem))
        else:
            checks.append(ProviderCheck(name, None, "not used by naiad"))
    return checks


def check_port(name: str, host: str, port: int) -> PortCheck:
    """Whether `port` can be bound; when it cannot and it is the HTTP port, what answers there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return PortCheck(name, port, False, f"cannot bind {host}:{port}: {exc.strerror}")
    return PortCheck(name, port, True)


def probe_health(port: int) -> str:
    """The answers of /v2/health/live and /ready on 127.0.0.1:`port`, e.g. in a running pod."""
    answers = []
    for path in ("/v2/health/live", "/v2/health/ready"):
        url = f"http://127.0.0.1:{port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                answers.append(f"{path} {reply.status}")
        except urllib.error.HTTPError as exc:
            answers.append(f"{path} {exc.code}")
        except OSError as exc:
            answers.append(f"{path} no answer ({exc})")
    return ", ".join(answers)


def check_models(
    repository: str, mode: ControlMode, startup_models: list[str], gpu_count: int, load: bool
) -> tuple[list[VersionCheck], list[str]]:
    """One row per model version, as the server's repository would start them."""
    plans: dict[tuple[str, int], list[InstancePlan]] = {}
    factory: ModelFactory
    if load:
        from naiad.engine.loader import load_served_model

        factory = load_served_model
    else:
        factory = _planning_factory(cpu_budget(), plans)
    try:
        repo = ModelRepository(
            repository,
            factory,
            control_mode=mode,
            startup_models=startup_models,
            poll_interval_s=None,
            gpu_available=gpu_count > 0,
        )
        repo.start()
    except NaiadError as exc:
        return [], [exc.message]
    try:
        entries = repo.index()
    finally:
        repo.stop()
    rows: list[VersionCheck] = []
    problems: list[str] = []
    for entry in entries:
        if entry.state is None:
            rows.append(
                VersionCheck(entry.name, "", "NOT LOADED", "explicit mode: not a startup model")
            )
            continue
        state = entry.state.wire
        detail = entry.reason
        if entry.state is ModelState.READY and not load:
            state = PLANNED
            detail = describe_plans(plans.get((entry.name, int(entry.version)), []))
        rows.append(VersionCheck(entry.name, entry.version, state, detail))
        if not entry.state.expected:
            problems.append(entry.reason or f"model '{entry.name}' is {state}")
    if not entries:
        problems.append(f"model repository '{repository}' holds no model directory")
    return rows, problems


def run_checks(args: argparse.Namespace) -> Report:
    status = runtime.gpu_status()
    ports = [
        check_port(name, args.host, port)
        for name, port in (
            ("grpc", args.grpc_port),
            ("http", args.http_port),
            ("metrics", args.metrics_port),
        )
        if port
    ]
    ports = [
        dataclasses.replace(p, detail=f"{p.detail}; {probe_health(p.port)}")
        if p.name == "http" and not p.free
        else p
        for p in ports
    ]
    mode = ControlMode(args.model_control_mode)
    models, problems = check_models(
        args.model_repository, mode, list(args.load_model), status.count, args.load
    )
    return Report(
        cpu_budget=cpu_budget(),
        affinity_cores=(
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1
        ),
        cgroup_cpu_limit=cgroup_cpu_limit(CGROUP_ROOT, PROC_SELF_CGROUP),
        onnxruntime_version=str(runtime.ort().__version__),
        gpu_count=status.count,
        gpu_reason=status.reason,
        providers=check_providers(status.count, status.reason),
        ports=ports,
        repository=str(Path(args.model_repository)),
        control_mode=mode.value,
        models=models,
        problems=problems,
    )


def render_text(report: Report) -> str:
    quota = (
        f"cgroup quota {report.cgroup_cpu_limit:g} CPUs"
        if report.cgroup_cpu_limit is not None
        else "no cgroup CPU quota"
    )
    gpu = (
        f"{report.gpu_count} usable through CUDA"
        if report.gpu_count
        else f"none usable ({report.gpu_reason})"
    )
    lines = [
        f"CPU budget: {report.cpu_budget} cores (the lower of CPU affinity, "
        f"{report.affinity_cores} cores, and {quota}; ONNX Runtime threads are sized to it)",
        f"GPU: {gpu}",
        f"execution providers (onnxruntime {report.onnxruntime_version}):",
    ]
    for p in report.providers:
        verdict = {True: "usable", False: "not usable", None: "present"}[p.usable]
        lines.append(f"  {p.name:<28} {verdict}{': ' + p.reason if p.reason else ''}")
    lines.append("ports:")
    for port in report.ports:
        verdict = "free" if port.free else "in use"
        lines.append(
            f"  {port.name:<8} {port.port:<6} {verdict}{': ' + port.detail if port.detail else ''}"
        )
    lines.append(f"model repository {report.repository} (control mode {report.control_mode}):")
    width = max((len(m.model) for m in report.models), default=0)
    for m in report.models:
        version = f"version {m.version}" if m.version else "-"
        lines.append(f"  {m.model:<{width}}  {version:<10} {m.state:<11} {m.detail}".rstrip())
    if report.problems:
        lines.append(f"problems ({len(report.problems)}):")
        lines.extend(f"  {problem}" for problem in report.problems)
    else:
        lines.append("no problems: `naiad serve` with these settings would become ready")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-repository", required=True, help="repository directory")
    parser.add_argument(
        "--model-control-mode", choices=("none", "explicit", "poll"), default="none"
    )
    parser.add_argument(
        "--load-model",
        action="append",
        default=[],
        help="explicit mode: loaded at start ('*': all)",
    )
    parser.add_argument("--host", default="0.0.0.0", help="the host the ports are checked on")
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--http-port", type=int, default=8000, help="0: not checked")
    parser.add_argument("--metrics-port", type=int, default=8002, help="0: not checked")
    parser.add_argument(
        "--load",
        action="store_true",
        help="also create the ONNX Runtime sessions and warm them up (as serve does), then stop",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")


def run(args: argparse.Namespace) -> int:
    """Prints the report; exit status 1 when the server would not become ready."""
    report = run_checks(args)
    if args.json:
        print(json.dumps(dataclasses.asdict(report), indent=2))
    else:
        print(render_text(report))
    sys.stdout.flush()
    return 1 if report.problems else 0
