"""From the server's options to a FrontEndPool, and how many front ends a machine gets by
default."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from naiad import event_loop
from naiad.engine.protocol import InferenceEngine
from naiad.frontends.pool import FrontEndPool
from naiad.frontends.region import RegionFds, RegionLayout
from naiad.frontends.spec import FrontEndSpec
from naiad.observability import logs
from naiad.transport.grpc_server import MAX_STREAMS_PER_CONNECTION

if TYPE_CHECKING:
    from naiad.app import ServerOptions

MIN_CPUS_PER_EXTRA_FRONTEND = 4
"""See default_frontends."""
MAX_DEFAULT_FRONTENDS = 8


def default_frontends(num_cpus: int | None = None) -> int:
    """Front-end processes for a CPU budget (default: this process's affinity mask).

    The engine process needs cores of its own (its event loop, the scheduler, ONNX Runtime's
    threads), so a second front end only pays where there are cores to spare: measured on a
    2-core machine (bench/scenarios/frontends.toml), two front ends cost more per request
    than they gained. One front end per 4 CPUs, at least 1, at most 8.
    """
    cpus = num_cpus if num_cpus is not None else len(os.sched_getaffinity(0))
    return max(1, min(MAX_DEFAULT_FRONTENDS, cpus // MIN_CPUS_PER_EXTRA_FRONTEND))


def pooled_front_ends(
    options: ServerOptions, engine: InferenceEngine, retains_inputs: Callable[[], bool]
) -> FrontEndPool:
    """The pool `options.frontends` asks for. Raises ValueError for options that only work
    in one process."""
    if options.allow_client_shm:
        raise ValueError(
            "--allow-client-shm needs --frontends 1: clients register shared memory with one"
            " process, and another front end would not know their regions"
        )
    template = FrontEndSpec(
        index=0,
        control_path="",
        fds=RegionFds(-1, -1, -1),
        layout=RegionLayout(),
        grpc_host=options.grpc_host,
        grpc_port=options.grpc_port,
        http_host=options.http_host,
        http_port=options.http_port,
        max_message_bytes=options.max_message_bytes,
        max_streams_per_connection=(
            options.security.max_streams_per_connection or MAX_STREAMS_PER_CONNECTION
        ),
        security=options.security,
        event_loop=event_loop.default_kind(),
        log_config=logs.current(),
        grace_s=options.grace_s,
    )
    return FrontEndPool(engine, options.frontends, template, copy_inputs=retains_inputs)
