"""Rate limits (token buckets) and in-flight caps, as an engine layer in front of the core.

Buckets: one global, one per model named in --rate-limit-model, and one per caller (the
server's --rate-limit-per-caller, or the caller's own rate from its API key). A request is
admitted only when every bucket that applies has a token; then each gives one. A refusal is
RESOURCE_EXHAUSTED with the time until the emptiest bucket refills (gRPC's
grpc-retry-pushback-ms, HTTP's Retry-After).

In-flight: a caller may have at most --max-inflight-per-caller requests queued or running;
one more is refused at once, without a retry hint (it depends on when earlier ones finish).

Time comes from an injected clock, so tests drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from naiad.engine.context import CallContext
from naiad.engine.layers import EngineLayer
from naiad.engine.protocol import InferenceEngine
from naiad.engine.request import InferRequest, InferResponse
from naiad.errors import ResourceExhausted

_MAX_CALLER_BUCKETS = 10_000
ANONYMOUS = "-"


@dataclass(frozen=True)
class Rate:
    per_s: float
    burst: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.per_s) and math.isfinite(self.burst)):
            raise ValueError("a rate and its burst must be finite numbers")
        if self.per_s <= 0 or self.burst < 1:
            raise ValueError("a rate must be positive and its burst at least 1")

    @classmethod
    def parse(cls, text: str) -> Rate:
        """`RATE[:BURST]`, e.g. `100` or `100:20`; the burst defaults to one second's worth."""
        rate, _, burst = text.partition(":")
        try:
            per_s = float(rate)
            return cls(per_s, float(burst) if burst else max(1.0, per_s))
        except ValueError:
            raise ValueError(f"invalid rate {text!r}: expected RATE[:BURST], RATE > 0") from None


class TokenBucket:
    """`burst` tokens at most, refilled at `per_s` a second."""

    __slots__ = ("per_s", "burst", "_tokens", "_at")

    def __init__(self, rate: Rate, now: float) -> None:
        self.per_s = rate.per_s
        self.burst = rate.burst
        self._tokens = rate.burst
        self._at = now

    def wait_s(self, now: float) -> float:
        """0 when a token is available at `now`, else the seconds until one is."""
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_s)
        self._at = now
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.per_s

    def take(self) -> None:
        self._tokens -= 1.0

    def full(self, now: float) -> bool:
        return self._tokens + (now - self._at) * self.per_s >= self.burst


@dataclass(frozen=True)
class Limits:
    """What --rate-limit, --rate-limit-per-caller, --rate-limit-model and
    --max-inflight-per-caller ask for."""

    rate: Rate | None = None
    per_caller: Rate | None = None
    per_model: dict[str, Rate] = field(default_factory=dict)
    max_inflight_per_caller: int | None = None

    @property
    def any(self) -> bool:
        return bool(self.rate or self.per_caller or self.per_model or self.max_inflight_per_caller)


class RateLimitLayer(EngineLayer):
    def __init__(
        self,
        inner: InferenceEngine,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(inner)
        self._limits = limits
        self._clock = clock
        now = clock()
        self._global = TokenBucket(limits.rate, now) if limits.rate else None
        self._models = {name: TokenBucket(rate, now) for name, rate in limits.per_model.items()}
        self._callers: dict[tuple[str, float, float], TokenBucket] = {}
        self._inflight = CallerSlots(limits.max_inflight_per_caller)

    def submit(self, request: InferRequest, context: CallContext) -> asyncio.Future[InferResponse]:
        caller = context.caller
        who = caller.identity if caller is not None else ANONYMOUS
        if self._inflight.full(who):
            raise ResourceExhausted(
                f"caller '{who}' already has {self._inflight.limit} requests in flight"
            )
        buckets = self._admit(who, caller.rate if caller is not None else None, request.model_name)
        future = self.inner.submit(request, context)
        # Taken only once queued: a request the engine refuses (unknown model, bad input,
        # full queue) costs the caller nothing. Nothing runs between the check and here.
        for bucket in buckets:
            bucket.take()
        if self._inflight.limit is not None:
            self._inflight.take(who)
            future.add_done_callback(lambda _: self._inflight.give_back(who))
        return future

    def _admit(
        self, who: str, own_rate: tuple[float, float] | None, model: str
    ) -> list[TokenBucket]:
        """The buckets that apply, each with a token; raises ResourceExhausted otherwise."""
        now = self._clock()
        found = [self._global, self._models.get(model), self._caller_bucket(who, own_rate, now)]
        buckets = [bucket for bucket in found if bucket is not None]
        wait_s = max((bucket.wait_s(now) for bucket in buckets), default=0.0)
        if wait_s > 0.0:
            raise ResourceExhausted(
                f"rate limit reached; retry in {wait_s:.3f} s", retry_after_s=wait_s
            )
        return buckets

    def _caller_bucket(
        self, who: str, own_rate: tuple[float, float] | None, now: float
    ) -> TokenBucket | None:
        if who == ANONYMOUS:
            return None  # without authentication there is no caller to limit, only the server
        rate = Rate(*own_rate) if own_rate is not None else self._limits.per_caller
        if rate is None:
            return None
        # Keyed by identity and rate: two principals sharing a name with different rates (a key
        # id that is also a JWT subject, or a key whose rate was just edited) cannot reset each
        # other's bucket by alternating. Identities are verified ones, so the map is bounded
        # by them; past a size the idle (full) buckets go.
        key = (who, rate.per_s, rate.burst)
        bucket = self._callers.get(key)
        if bucket is None:
            if len(self._callers) >= _MAX_CALLER_BUCKETS:
                self._callers = {k: b for k, b in self._callers.items() if not b.full(now)}
            bucket = self._callers[key] = TokenBucket(rate, now)
        return bucket


class CallerSlots:
    """At most `limit` of something (requests in flight, open streams) per caller; None: no
    limit. Callers holding none take no memory."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._held: dict[str, int] = {}

    def full(self, who: str) -> bool:
        return self.limit is not None and self._held.get(who, 0) >= self.limit

    def take(self, who: str) -> None:
        self._held[who] = self._held.get(who, 0) + 1

    def give_back(self, who: str) -> None:
        left = self._held[who] - 1
        if left:
            self._held[who] = left
        else:
            del self._held[who]


class StreamQuota:
    """At most `max_per_caller` open streams per caller (--max-streams-per-caller)."""

    def __init__(self, max_per_caller: int | None) -> None:
        self._slots = CallerSlots(max_per_caller)

    @contextlib.contextmanager
    def open(self, who: str) -> Iterator[None]:
        """Holds one stream slot for `who`; raises ResourceExhausted when none is free."""
        slots = self._slots
        if slots.limit is None:
            yield
            return
        if slots.full(who):
            raise ResourceExhausted(f"caller '{who}' already has {slots.limit} streams open")
        slots.take(who)
        try:
            yield
        finally:
            slots.give_back(who)
