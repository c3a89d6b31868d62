"""A front-end process: the gRPC service and the HTTP server, unchanged, over a RemoteEngine.

Started by the engine's FrontEndPool as `python -m naiad.frontends.process SPEC_FILE` with the
region's descriptors inherited. It binds the shared ports (SO_REUSEPORT), then attaches to the
engine over the control socket; that connection is its lifeline both ways:
- the engine sends ("serving", bool) and ("stop", grace_s);
- EOF means the engine is gone: requests in flight fail with UNAVAILABLE, the listeners close,
  the process exits.
SIGINT is ignored (a terminal's Ctrl-C reaches the whole process group; the engine decides);
SIGTERM stops this front end alone, draining within the spec's grace; SIGHUP (passed on by the
engine) reads the certificates and key files again.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import shutil
import signal
import sys
from pathlib import Path
from typing import cast

from naiad import event_loop
from naiad.front_end import FrontEnd
from naiad.frontends.control import ControlClient, read_message, write_message
from naiad.frontends.region import SharedRegion
from naiad.frontends.remote_engine import RemoteEngine
from naiad.frontends.rollout_proxy import RemoteRolloutAdmin
from naiad.frontends.spec import FrontEndSpec
from naiad.observability import logs
from naiad.rollout.admin import RolloutAdmin
from naiad.security.server_security import ServerSecurity
from naiad.transport.grpc_server import GrpcFrontEnd
from naiad.transport.http.limits import HttpLimits
from naiad.transport.http.rest import RestApi
from naiad.transport.http.server import HttpServer

log = logging.getLogger("naiad.frontends")

ENGINE_GONE = "the engine process has stopped"


def _listeners(
    spec: FrontEndSpec, engine: RemoteEngine, security: ServerSecurity, control: ControlClient
) -> list[FrontEnd]:
    listeners: list[FrontEnd] = [
        GrpcFrontEnd(
            engine,
            spec.grpc_host,
            spec.grpc_port,
            spec.max_message_bytes,
            guard=security.guard,
            tls=security.tls,
            max_streams_per_connection=spec.max_streams_per_connection,
            reuse_port=True,
        )
    ]
    if spec.http_port is not None:
        rollout = RemoteRolloutAdmin(control) if spec.rollout_routes else None
        # The same six verbs as RolloutAdmin, answered by the engine's.
        api = RestApi(
            engine,
            security.guard,
            spec.max_message_bytes,
            rollout=cast("RolloutAdmin | None", rollout),
        )
        listeners.append(
            HttpServer(
                spec.http_host or spec.grpc_host,
                spec.http_port,
                api,
                "http",
                tls=security.tls,
                limits=HttpLimits(max_body_bytes=spec.max_message_bytes),
                reuse_port=True,
            )
        )
    return listeners


async def serve(spec: FrontEndSpec) -> None:
    loop = asyncio.get_running_loop()
    region = SharedRegion(spec.fds, spec.layout, front_end=True, initialize=False)
    control = ControlClient(spec.control_path)
    engine = RemoteEngine(region, control, id_base=spec.id_base)
    engine.attach(loop)
    security = ServerSecurity(spec.security)
    listeners = _listeners(spec, engine, security, control)
    for listener in listeners:
        await listener.start()
    reader, writer = await asyncio.open_unix_connection(spec.control_path)
    ports = {listener.name: int(listener.address.rsplit(":", 1)[1]) for listener in listeners}
    await write_message(writer, ("attach", spec.index, ports))

    grace_s = [spec.grace_s]
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGHUP, security.reload)

    async def follow_engine() -> None:
        try:
            while True:
                message = await read_message(reader)
                if message[0] == "serving":
                    for listener in listeners:
                        await listener.serving(bool(message[1]))
                elif message[0] == "stop":
                    grace_s[0] = float(message[1])
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            grace_s[0] = 0.0
            engine.close(ENGINE_GONE)
            # An engine that died could not remove its socket directory; whoever sees it first.
            shutil.rmtree(Path(spec.control_path).parent, ignore_errors=True)
        stop.set()

    follower = loop.create_task(follow_engine())
    await stop.wait()
    log.info("front end %d stopping (grace %.1f s)", spec.index, grace_s[0])
    for listener in listeners:
        await listener.serving(False)
    for listener in listeners:
        await listener.stop(grace_s[0])
    engine.close("the front end is shutting down")
    follower.cancel()
    writer.close()
    control.close()


def main(argv: list[str]) -> int:
    spec: FrontEndSpec = pickle.loads(Path(argv[1]).read_bytes())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logs.configure(spec.log_config)
    event_loop.run(serve(spec), spec.event_loop)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
