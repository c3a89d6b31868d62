"""Targets under load: servers the harness starts (naiad, grpc-noop, http-noop, naive), a running
server at a URL, or ONNX Runtime in-process. Started servers announce themselves with one stdout
line ``<name> ready grpc=HOST:PORT`` (and/or ``http=HOST:PORT``, as naiad does)."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bench import security
from bench.models import Signature, naiad_executable
from bench.scenario import TargetSpec

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_LINE = re.compile(r"\bready\b.*\b(?:grpc|http)=")
ADDRESS = re.compile(r"\b(\w+)=(\S+)")
SERVER_MODULES = {
    "grpc-noop": "bench.servers.noop",
    "http-noop": "bench.servers.http_noop",
    "naive": "bench.servers.naive",
}


class ServerProcess:
    """A server subprocess: started, waited on until ready, stopped with SIGTERM."""

    def __init__(self, command: list[str], log_path: Path, ready_timeout_s: float = 300.0) -> None:
        self.command = command
        self.log_path = log_path
        self.ready_timeout_s = ready_timeout_s
        self.process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self._pump_thread: threading.Thread | None = None
        self.addresses: dict[str, str] = {}
        """What the ready line named: front end ("grpc", "http", ...) -> dialable host:port."""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> str:
        """Starts the server; returns its gRPC address ("" if it serves none) once it printed
        its ready line."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
            cwd=REPO_ROOT,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, args=(lines,), daemon=True)
        self._pump_thread.start()
        while True:
            try:
                line = lines.get(timeout=self.ready_timeout_s)
            except queue.Empty:
                self.stop()
                raise RuntimeError(
                    f"{self.command[0]} not ready in {self.ready_timeout_s:.0f} s"
                ) from None
            if line is None:
                self.stop()
                raise RuntimeError(
                    f"{' '.join(self.command[:3])} exited before ready: {self._tail()}"
                )
            if READY_LINE.search(line):
                named = ADDRESS.findall(line)
                self.addresses = {name: local_address(address) for name, address in named}
                return self.addresses.get("grpc", "")

    def _pump(self, lines: queue.Queue[str | None]) -> None:
        # Keeps draining stdout after the ready line so a chatty server never blocks on the pipe.
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            lines.put(line)
            if self._log and not self._log.closed:
                self._log.write(line)
        lines.put(None)

    def _tail(self) -> str:
        if self._log:
            self._log.flush()
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-2000:] or "(no output)"

    def stop(self, grace_s: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace_s``; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._pump_thread:
            self._pump_thread.join(5)
        if self.process.stdout:
            self.process.stdout.close()
        if self._log:
            self._log.close()
        return self.process.returncode


def local_address(address: str) -> str:
    """A dialable address from a listening one (0.0.0.0 / [::] become 127.0.0.1)."""
    host, _, port = address.rpartition(":")
    if host in ("0.0.0.0", "[::]", "::", ""):
        host = "127.0.0.1"
    return f"{host}:{port}"


def naiad_command(
    executable: str, repository: str, extra: tuple[str, ...], http: bool = False
) -> list[str]:
    """``naiad serve`` on a free loopback port, metrics off and HTTP off (``http``: on a free
    port too), as far as this naiad's ``serve --help`` offers those options."""
    command = [executable, "serve", "--model-repository", repository, "--grpc-port", "0"]
    help_text = subprocess.run(
        [executable, "serve", "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    if "--grpc-host" in help_text:
        command += ["--grpc-host", "127.0.0.1"]
    if http:
        command += ["--http-port", "0"]
    off = ("--no-metrics",) if http else ("--no-http", "--no-metrics")
    command += [flag for flag in off if flag in help_text]
    return command + list(extra)


@dataclass
class RunningTarget:
    spec: TargetSpec
    url: str | None = None
    """gRPC address; None for the in-process target and servers without gRPC (http-noop)."""
    server: ServerProcess | None = None
    access: security.Access = security.PLAIN
    """What clients need to reach it: CA and token, for naiad targets with tls or token."""
    http_url: str | None = None
    """HTTP address, for targets the load reaches over HTTP."""

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def protocol(self) -> str:
        return self.spec.protocol

    @property
    def load_url(self) -> str | None:
        """Where the load goes: the HTTP address for http targets, else the gRPC one."""
        return self.http_url if self.protocol == "http" else self.url

    @property
    def pid(self) -> int | None:
        return self.server.pid if self.server else None

    def exit_code(self) -> int | None:
        """The started server's exit code if it is no longer running, else None."""
        if self.server and self.server.process:
            return self.server.process.poll()
        return None

    def stop(self) -> None:
        if self.server:
            self.server.stop()


def start(spec: TargetSpec, signature: Signature, log_dir: Path) -> RunningTarget:
    """Starts (or attaches to) one target and returns it ready for load."""
    if spec.kind == "url":
        if spec.protocol == "http":
            return RunningTarget(spec, http_url=spec.url)
        return RunningTarget(spec, url=spec.url)
    if spec.kind == "onnxruntime-inprocess":
        if not signature.onnx_path:
            raise RuntimeError("onnxruntime-inprocess needs the model's ONNX file")
        return RunningTarget(spec)
    if spec.kind == "naiad":
        if not signature.repository:
            raise RuntimeError("the naiad target needs a model repository")
        executable = spec.executable or naiad_executable()
        flags, access = security.prepare(spec, log_dir / "security" / file_stem(spec.label))
        http = spec.protocol == "http"
        extra = (*flags, *spec.args)
        if spec.frontends is not None:
            extra = (*extra, "--frontends", str(spec.frontends))
        if spec.rollout:
            # The run's own state: a cached repository never carries a rollout's progress (or
            # its rollback) from one run into the next.
            state_dir = log_dir / "rollout-state" / file_stem(spec.label)
            extra = (*extra, "--rollout-state-dir", str(state_dir))
        command = naiad_command(executable, signature.repository, extra, http)
    else:
        module = SERVER_MODULES[spec.kind]
        command = [sys.executable, "-m", module, "--signature", signature.to_json()]
        access = security.PLAIN
    server = ServerProcess(command, log_dir / f"{file_stem(spec.label)}.log")
    url = server.start() or None
    running = RunningTarget(spec, url=url, server=server, access=access)
    if spec.protocol == "http":
        running.http_url = server.addresses.get("http")
        if running.http_url is None:
            server.stop()
            raise RuntimeError(f"{spec.label} named no http= address in its ready line")
    return running


def file_stem(label: str) -> str:
    """A target's label as a file name ("tls+token" -> "tls_token")."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", label)
