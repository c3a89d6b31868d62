"""The engine process's side of `--frontends N`: starts N front-end processes on the same
ports, serves their rings and control calls, restarts one that dies, stops them all.

To the composition root the pool is one FrontEnd (named "grpc"; PoolListener names the HTTP
port the processes share). Port 0 is resolved by the first process; the others, and every
restart, bind the port it got. Readiness: the server is ready only while every front end is
attached (ControlService asks all_attached()).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from naiad.engine.protocol import InferenceEngine
from naiad.frontends.control import read_message, write_message
from naiad.frontends.control_service import ControlService
from naiad.frontends.engine_host import EngineHost, ParkedAnswers
from naiad.frontends.region import SharedRegion
from naiad.frontends.spec import FrontEndSpec
from naiad.rollout.admin import RolloutAdmin

log = logging.getLogger("naiad.frontends")

ATTACH_TIMEOUT_S = 60.0
"""A front end that has not bound its ports and attached by then failed to start."""


@dataclass
class _Member:
    """One running front-end process and what the engine keeps for it."""

    process: asyncio.subprocess.Process
    host: EngineHost
    attached: asyncio.Future[dict[str, int]]
    lifeline: asyncio.StreamWriter | None = None
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)


class FrontEndPool:
    """`template`: every field of the processes' spec but index, control_path and fds.
    `copy_inputs`: see EngineHost. `rollout`: serves the front ends' HTTP rollout routes."""

    name = "grpc"

    def __init__(
        self, engine: InferenceEngine, num_frontends: int, template: FrontEndSpec, *,
        copy_inputs: Callable[[], bool], rollout: RolloutAdmin | None = None,
    ) -> None:  # fmt: skip
        if num_frontends < 2:
            raise ValueError("a front-end pool needs 2 or more processes; 1 serves in-process")
        self._engine = engine
        self._num = num_frontends
        self._template = template
        self._copy_inputs = copy_inputs
        self._parked = ParkedAnswers()
        self._service = ControlService(engine, self._parked, self.all_attached, rollout)
        self._members: dict[int, _Member] = {}
        self._directory = ""
        self._server: asyncio.AbstractServer | None = None
        self._serving = False
        self._stopping = False
        self.num_restarts = 0

    @property
    def address(self) -> str:
        return self._address(self._template.grpc_host, self._template.grpc_port)

    @property
    def http_address(self) -> str:
        return self._address(self._template.http_host or self._template.grpc_host,
                             self._template.http_port or 0)  # fmt: skip

    @staticmethod
    def _address(host: str, port: int) -> str:
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "[::]", "") else host
        return f"{host}:{port}"

    def all_attached(self) -> bool:
        return len(self._members) == self._num and all(
            member.attached.done() and not member.attached.exception()
            for member in self._members.values()
        )

    def pids(self) -> dict[int, int]:
        """Front-end index -> process id, for operators (and tests)."""
        return {index: member.process.pid for index, member in self._members.items()}

    async def start(self) -> None:
        """Starts every front end; returns once all have bound and attached. Raises OSError
        when one cannot bind or does not attach in time."""
        self._directory = tempfile.mkdtemp(prefix="naiad-frontends-")  # mode 0700
        path = os.path.join(self._directory, "control.sock")
        self._template = replace(self._template, control_path=path)
        self._server = await asyncio.start_unix_server(self._connection, path)
        ports = await self._launch(0)
        self._template = replace(
            self._template, grpc_port=ports["grpc"], http_port=ports.get("http")
        )
        await asyncio.gather(*(self._launch(index) for index in range(1, self._num)))

    async def _launch(self, index: int) -> dict[str, int]:
        region = SharedRegion.create(self._template.layout)
        host = EngineHost(self._engine, region, self._parked, copy_inputs=self._copy_inputs)
        spec = replace(self._template, index=index, fds=region.fds)
        spec_path = Path(self._directory) / f"frontend-{index}.spec"
        spec_path.write_bytes(pickle.dumps(spec))
        fds = region.fds
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "naiad.frontends.process", str(spec_path),
            pass_fds=(fds.memory, fds.engine_wake, fds.front_end_wake),
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        member = _Member(process, host, loop.create_future())
        self._members[index] = member
        host.attach(loop)
        member.watcher = loop.create_task(self._watch(index, member))
        try:
            return await asyncio.wait_for(asyncio.shield(member.attached), ATTACH_TIMEOUT_S)
        except (TimeoutError, asyncio.CancelledError):
            raise OSError(f"front end {index} did not start") from None

    async def _watch(self, index: int, member: _Member) -> None:
        code = await member.process.wait()
        member.host.close()
        if not member.attached.done():
            # It never came up (a port it cannot bind, a crash at start): restarting would
            # fail the same way, so whoever launched it gets the error instead.
            log.error("front end %d exited with %s before it came up", index, code)
            member.attached.set_exception(OSError(f"front end {index} exited with {code}"))
            return
        if self._stopping or self._members.get(index) is not member:
            return
        log.warning("front end %d (pid %d) exited with %s; restarting it", index,
                    member.process.pid, code)  # fmt: skip
        del self._members[index]
        self.num_restarts += 1
        try:
            await self._launch(index)
        except OSError:
            log.exception("front end %d could not be restarted", index)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first = await read_message(reader)
            if first[0] == "attach":
                await self._lifeline(first[1], first[2], reader, writer)
                return
            message = first
            while True:
                verb, args = message
                await write_message(writer, await self._service.answer(verb, args))
                message = await read_message(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _lifeline(
        self, index: int, ports: dict[str, int], reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:  # fmt: skip
        member = self._members.get(index)
        if member is None or member.attached.done():
            return
        member.lifeline = writer
        await write_message(writer, ("serving", self._serving))
        member.attached.set_result(ports)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await reader.read()  # EOF: the process is gone (its watcher restarts it)

    def reload(self) -> None:
        """Passes SIGHUP on: each front end reads its certificates and key files again."""
        for member in self._members.values():
            if member.process.returncode is None:
                member.process.send_signal(signal.SIGHUP)

    async def serving(self, serving: bool) -> None:
        self._serving = serving
        await self._tell_all(("serving", serving))

    async def _tell_all(self, message: tuple[object, ...]) -> None:
        for member in list(self._members.values()):
            if member.lifeline is not None:
                with contextlib.suppress(ConnectionError):
                    await write_message(member.lifeline, message)

    async def stop(self, grace_s: float) -> None:
        """Front ends stop accepting and drain within `grace_s` (the engine still serves
        them), then exit; one that does not is killed."""
        self._stopping = True
        await self._tell_all(("stop", grace_s))
        members = list(self._members.values())
        for member in members:
            try:
                await asyncio.wait_for(member.process.wait(), grace_s + 10)
            except TimeoutError:
                member.process.kill()
                await member.process.wait()
        for member in members:
            if member.watcher is not None:
                await member.watcher
        if self._server is not None:
            self._server.close()
        shutil.rmtree(self._directory, ignore_errors=True)


class PoolListener:
    """The HTTP port of a pool's processes, as one more entry of the server's front ends: it
    names the address; the pool starts and stops the listeners themselves."""

    name = "http"

    def __init__(self, pool: FrontEndPool) -> None:
        self._pool = pool

    @property
    def address(self) -> str:
        return self._pool.http_address

    async def start(self) -> None:
        return None

    async def serving(self, serving: bool) -> None:
        return None

    async def stop(self, grace_s: float) -> None:
        return None
