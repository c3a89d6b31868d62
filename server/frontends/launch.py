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
from naiad.rollout.admin import RolloutAdmin
from naiad.transport.grpc_server import MAX_STREAMS_PER_CONNECTION

if TYPE_CHECKING:
    from naiad.app import ServerOptions

ENGINE_CPUS = 2
"""Cores the engine process keeps for itself: its event loop, the scheduler, ONNX Runtime."""
MAX_DEFAULT_FRONTENDS = 4
"""Past this the engine process, not the front ends, is the limit (see default_frontends)."""


def default_frontends(num_cpus: int | None = None) -> int:
    """Front-end processes for a CPU budget (default: this process's affinity mask): one per
    core left after the engine's ENGINE_CPUS, at least 1, at most MAX_DEFAULT_FRONTENDS.

    Measured on a 2-core machine (bench/scenarios/frontends.toml, bench/README.md): a request
    costs about 430-460 us of CPU in one process; split, about 500-590 us in a front end plus
    about 190 us in the engine process. Two front ends there lose throughput (they compete
    with the engine and the clients for two cores), so small machines keep 1; and at about
    190 us per request the engine process saturates near 5k requests/s, which about three
    front ends already deliver.
    """
    cpus = num_cpus if num_cpus is not None else len(os.sched_getaffinity(0))
    return max(1, min(MAX_DEFAULT_FRONTENDS, cpus - ENGINE_CPUS))


def frontends_for(options: ServerOptions, *, monitoring: bool) -> int:
    """The front-end processes `options` get: `options.frontends`, or when it is None (auto)
    default_frontends(), except 1 where a feature lives in one process only: clients' shared
    memory regions (--allow-client-shm) and the HTTP monitoring routes (`monitoring`)."""
    if options.frontends is not None:
        return options.frontends
    if options.allow_client_shm or monitoring:
        return 1
    return default_frontends()


def pooled_front_ends(
    options: ServerOptions,
    num_frontends: int,
    engine: InferenceEngine,
    retains_inputs: Callable[[], bool],
    rollout: RolloutAdmin,
) -> FrontEndPool:
    """A pool of `num_frontends` processes serving `options`' ports. Raises ValueError for
    options that only work in one process."""
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
        rollout_routes=True,
        grace_s=options.grace_s,
    )
    return FrontEndPool(
        engine, num_frontends, template, copy_inputs=retains_inputs, rollout=rollout
    )
