"""The engine side of the control socket: each call a front end makes, answered from the
engine stack (so statistics, readiness and repository state are server-wide)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from naiad.engine.protocol import InferenceEngine
from naiad.errors import Unimplemented
from naiad.frontends import wire
from naiad.frontends.engine_host import ParkedAnswers
from naiad.frontends.rollout_proxy import VERBS as ROLLOUT_VERBS
from naiad.frontends.snapshot import stats_snapshot
from naiad.rollout.admin import RolloutAdmin


class ControlService:
    """`ready`: whether every front end is up; the server is ready only when the engine is
    too."""

    def __init__(
        self,
        engine: InferenceEngine,
        parked: ParkedAnswers,
        ready: Callable[[], bool],
        rollout: RolloutAdmin | None = None,
    ) -> None:
        """`rollout`: the admin verbs the front ends' HTTP rollout routes ask for."""
        self._engine = engine
        self._parked = parked
        self._ready = ready
        self._rollout = rollout

    async def answer(self, verb: str, args: tuple[Any, ...]) -> tuple[bool, Any]:
        """(True, value) or (False, error state); never raises."""
        try:
            return True, await self._call(verb, args)
        except Exception as exc:  # noqa: BLE001 - every error goes back to the caller
            return False, wire.error_state(exc)

    async def _call(self, verb: str, args: tuple[Any, ...]) -> Any:
        engine = self._engine
        if verb == "server_ready":
            return self._ready() and engine.server_ready()
        if verb == "describe":
            name, version, context = args
            return engine.describe(name, version, wire.context_from_state(context))
        if verb == "config":
            name, version, context = args
            return engine.config(name, version, wire.context_from_state(context))
        if verb == "statistics":
            name, version, context = args
            stats = engine.statistics(name, version, wire.context_from_state(context))
            return stats_snapshot(stats)
        if verb == "model_ready":
            name, version, context = args
            return engine.model_ready(name, version, wire.context_from_state(context))
        if verb == "index":
            ready_only, context = args
            return await engine.index(ready_only, wire.context_from_state(context))
        if verb == "load":
            name, config_json, files, context = args
            return await engine.load(name, config_json, files, wire.context_from_state(context))
        if verb == "unload":
            name, context = args
            return await engine.unload(name, wire.context_from_state(context))
        if verb == "submit":
            request, context = args
            return await engine.submit(request, wire.context_from_state(context))
        if verb == "rollout" and self._rollout is not None:
            method, method_args = args
            if method not in ROLLOUT_VERBS:
                raise Unimplemented(f"unknown rollout verb {method!r}")
            return getattr(self._rollout, method)(*method_args)
        if verb == "take_parked":
            (request_id,) = args
            return self._parked.take(request_id)
        raise Unimplemented(f"unknown control verb {verb!r}")
