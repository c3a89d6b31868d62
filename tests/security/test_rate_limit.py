"""Rate limits and in-flight caps: token buckets on an injected clock, the layer over a fake
engine, and the stream quota. Bucket numbers are chosen to be exact in binary floating point."""

from __future__ import annotations

import asyncio
import contextlib
import math

import pytest

from naiad.engine.context import CallContext, Caller
from naiad.engine.request import InferRequest, InferResponse
from naiad.errors import ErrorCode, NotFound, ResourceExhausted
from naiad.security.rate_limit import Limits, Rate, RateLimitLayer, StreamQuota, TokenBucket

INVALID_RATE = "invalid rate {!r}: expected RATE[:BURST], RATE > 0"


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeEngine:
    """submit() hands out futures the test resolves; "missing" is refused as the core would."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, str]] = []
        self.futures: list[asyncio.Future[InferResponse]] = []

    def submit(self, request: InferRequest, context: CallContext) -> asyncio.Future[InferResponse]:
        if request.model_name == "missing":
            raise NotFound("unknown model 'missing'")
        who = context.caller.identity if context.caller is not None else "-"
        self.submitted.append((who, request.model_name))
        future: asyncio.Future[InferResponse] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


def request(model: str = "fraud") -> InferRequest:
    return InferRequest(model, "", "id", [])


def as_caller(identity: str | None, rate: tuple[float, float] | None = None) -> CallContext:
    caller = Caller(identity, rate=rate) if identity is not None else None
    return CallContext(protocol="grpc", caller=caller)


def admitted(layer: RateLimitLayer, context: CallContext, model: str = "fraud") -> bool:
    """Whether one request is admitted; a refusal must be a rate refusal with a retry hint."""
    try:
        layer.submit(request(model), context)
    except ResourceExhausted as exc:
        assert exc.retry_after_s is not None and exc.retry_after_s > 0.0
        return False
    return True


def refusal(layer: RateLimitLayer, context: CallContext, model: str = "fraud") -> ResourceExhausted:
    with pytest.raises(ResourceExhausted) as refused:
        layer.submit(request(model), context)
    return refused.value


@pytest.fixture
def clock() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def inner() -> FakeEngine:
    return FakeEngine()


# --- Rate and TokenBucket --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("100", Rate(100.0, 100.0)),
        ("100:20", Rate(100.0, 20.0)),
        ("0.5", Rate(0.5, 1.0)),
        ("2.5:1", Rate(2.5, 1.0)),
        ("3:7.5", Rate(3.0, 7.5)),
    ],
)
def test_rate_parse(text: str, rate: Rate) -> None:
    assert Rate.parse(text) == rate


@pytest.mark.parametrize("text", ["", "abc", "0", "-5", "10:0.5", "10:0", "10:x", ":5", "1:2:3"])
def test_rate_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError) as refused:
        Rate.parse(text)
    assert str(refused.value) == INVALID_RATE.format(text)


@pytest.mark.parametrize("text", ["nan", "10:nan", "inf", "10:inf", "-inf"])
def test_rate_parse_refuses_what_is_not_finite(text: str) -> None:
    # A NaN rate or burst compares false both ways, so its bucket would never refuse.
    with pytest.raises(ValueError) as refused:
        Rate.parse(text)
    assert str(refused.value) == INVALID_RATE.format(text)


@pytest.mark.parametrize(
    ("per_s", "burst"), [(math.nan, 1.0), (1.0, math.nan), (math.inf, 1.0), (1.0, math.inf)]
)
def test_a_rate_must_be_finite(per_s: float, burst: float) -> None:
    with pytest.raises(ValueError) as refused:
        Rate(per_s, burst)
    assert str(refused.value) == "a rate and its burst must be finite numbers"


@pytest.mark.parametrize(("per_s", "burst"), [(0.0, 1.0), (-1.0, 5.0), (1.0, 0.5), (1.0, 0.0)])
def test_a_rate_must_be_positive_with_a_burst_of_at_least_one(per_s: float, burst: float) -> None:
    with pytest.raises(ValueError) as refused:
        Rate(per_s, burst)
    assert str(refused.value) == "a rate must be positive and its burst at least 1"


def test_a_bucket_starts_full_and_empties_by_its_burst() -> None:
    bucket = TokenBucket(Rate(2.0, 3.0), now=10.0)
    for _ in range(3):
        assert bucket.wait_s(10.0) == 0.0
        bucket.take()
    assert bucket.wait_s(10.0) == 0.5


def test_a_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(Rate(2.0, 3.0), now=10.0)
    for _ in range(3):
        bucket.take()
    assert bucket.wait_s(10.25) == 0.25  # half a token back: half of the half second left
    assert bucket.wait_s(10.5) == 0.0
    bucket.take()
    assert bucket.wait_s(10.5) == 0.5
    assert bucket.wait_s(11.0) == 0.0


def test_a_bucket_holds_no_more_than_its_burst() -> None:
    bucket = TokenBucket(Rate(2.0, 3.0), now=10.0)
    assert bucket.wait_s(1010.0) == 0.0  # idle for 1000 s: still 3 tokens, not 2000
    for _ in range(3):
        bucket.take()
    assert bucket.wait_s(1010.0) == 0.5


def test_a_bucket_is_full_again_after_burst_over_rate() -> None:
    bucket = TokenBucket(Rate(2.0, 3.0), now=10.0)
    assert bucket.full(10.0)
    bucket.take()
    assert not bucket.full(10.0)
    assert not bucket.full(10.25)
    assert bucket.full(10.5)


def test_limits_any() -> None:
    assert not Limits().any
    assert Limits(rate=Rate(1.0, 1.0)).any
    assert Limits(per_caller=Rate(1.0, 1.0)).any
    assert Limits(per_model={"fraud": Rate(1.0, 1.0)}).any
    assert Limits(max_inflight_per_caller=1).any


# --- the layer: buckets ----------------------------------------------------------------------


async def test_no_limits_admits_everything(clock: Clock, inner: FakeEngine) -> None:
    layer = RateLimitLayer(inner, Limits(), clock)  # type: ignore[arg-type]
    for _ in range(1000):
        assert admitted(layer, as_caller("alice"))
    assert len(inner.submitted) == 1000


async def test_the_global_rate_covers_every_caller_and_model(
    clock: Clock, inner: FakeEngine
) -> None:
    layer = RateLimitLayer(inner, Limits(rate=Rate(1.0, 2.0)), clock)  # type: ignore[arg-type]
    assert admitted(layer, as_caller("alice"), "fraud")
    assert admitted(layer, as_caller(None), "resnet")
    refused = refusal(layer, as_caller("bob"), "bert")
    assert refused.retry_after_s == 1.0
    assert refused.message == "rate limit reached; retry in 1.000 s"
    assert refused.code is ErrorCode.RESOURCE_EXHAUSTED
    assert inner.submitted == [("alice", "fraud"), ("-", "resnet")]
    clock.now += 0.5
    assert refusal(layer, as_caller("bob")).retry_after_s == 0.5
    clock.now += 0.5
    assert admitted(layer, as_caller("bob"))
    assert not admitted(layer, as_caller("bob"))


async def test_a_model_rate_covers_only_that_model(clock: Clock, inner: FakeEngine) -> None:
    limits = Limits(per_model={"fraud": Rate(1.0, 1.0), "bert": Rate(4.0, 2.0)})
    layer = RateLimitLayer(inner, limits, clock)  # type: ignore[arg-type]
    assert admitted(layer, as_caller("alice"), "fraud")
    refused = refusal(layer, as_caller("bob"), "fraud")  # over all callers
    assert refused.retry_after_s == 1.0
    for _ in range(50):
        assert admitted(layer, as_caller("alice"), "resnet")
    assert admitted(layer, as_caller("alice"), "bert")
    assert admitted(layer, as_caller("alice"), "bert")
    assert refusal(layer, as_caller("alice"), "bert").retry_after_s == 0.25


async def test_a_per_caller_rate_gives_each_caller_a_bucket(
    clock: Clock, inner: FakeEngine
) -> None:
    layer = RateLimitLayer(inner, Limits(per_caller=Rate(1.0, 1.0)), clock)  # type: ignore[arg-type]
    assert admitted(layer, as_caller("alice"))
    assert refusal(layer, as_caller("alice")).retry_after_s == 1.0
    assert admitted(layer, as_caller("bob"))
    assert not admitted(layer, as_caller("bob"))
    clock.now += 1.0
    assert admitted(layer, as_caller("alice"))
    assert admitted(layer, as_caller("bob"))


async def test_anonymous_callers_have_no_bucket(clock: Clock, inner: FakeEngine) -> None:
    layer = RateLimitLayer(inner, Limits(per_caller=Rate(1.0, 1.0)), clock)  # type: ignore[arg-type]
    for _ in range(100):
        assert admitted(layer, as_caller(None))
    assert admitted(layer, as_caller("alice"))
    assert not admitted(layer, as_caller("alice"))


async def test_a_callers_own_rate_overrides_the_servers(clock: Clock, inner: FakeEngine) -> None:
    layer = RateLimitLayer(inner, Limits(per_caller=Rate(1.0, 1.0)), clock)  # type: ignore[arg-type]
    carol = as_caller("carol", rate=(2.0, 3.0))
    for _ in range(3):
        assert admitted(layer, carol)
    assert refusal(layer, carol).retry_after_s == 0.5
    assert admitted(layer, as_caller("dave"))
    assert not admitted(layer, as_caller("dave"))


async def test_a_callers_own_rate_applies_without_a_server_rate(
    clock: Clock, inner: FakeEngine
) -> None:
    layer = RateLimitLayer(inner, Limits(rate=Rate(1000.0, 1000.0)), clock)  # type: ignore[arg-type]
    limited = as_caller("limited", rate=(4.0, 1.0))
    assert admitted(layer, limited)
    assert refusal(layer, limited).retry_after_s == 0.25
    for _ in range(10):
        assert admitted(layer, as_caller("unlimited"))


async def test_a_changed_own_rate_starts_a_new_bucket(clock: Clock, inner: FakeEngine) -> None:
    layer = RateLimitLayer(inner, Limits(), clock)  # type: ignore[arg-type]
    assert admitted(layer, as_caller("alice", rate=(1.0, 1.0)))
    assert not admitted(layer, as_caller("alice", rate=(1.0, 1.0)))
    # The key file now gives alice (2, 2): a full bucket of the new size.
    assert admitted(layer, as_caller("alice", rate=(2.0, 2.0)))
    assert admitted(layer, as_caller("alice", rate=(2.0, 2.0)))
    assert refusal(layer, as_caller("alice", rate=(2.0, 2.0))).retry_after_s == 0.5


async def test_a_refusal_takes_no_token_from_the_other_buckets(
    clock: Clock, inner: FakeEngine
) -> None:
    limits = Limits(rate=Rate(1.0, 10.0), per_model={"fraud": Rate(1.0, 1.0)})
    layer = RateLimitLayer(inner, limits, clock)  # type: ignore[arg-type]
    assert admitted(layer, as_caller("alice"), "fraud")  # global: 9 left
    for _ in range(5):
        assert not admitted(layer, as_caller("alice"), "fraud")  # refused by the model's
    for _ in range(9):
        assert admitted(layer, as_caller("alice"), "resnet")  # all 9 still there
    assert not admitted(layer, as_caller("alice"), "resnet")


async def test_a_caller_refusal_takes_no_global_token(clock: Clock, inner: FakeEngine) -> None:
    limits = Limits(rate=Rate(1.0, 3.0), per_caller=Rate(1.0, 1.0))
    layer = RateLimitLayer(inner, limits, clock)  # type: ignore[arg-type]
    assert admitted(layer, as_caller("alice"))
    for _ in range(5):
        assert not admitted(layer, as_caller("alice"))
    assert admitted(layer, as_caller("bob"))
    assert admitted(layer, as_caller("carol"))
    assert not admitted(layer, as_caller("dave"))  # the global bucket is now empty


async def test_retry_after_is_the_wait_of_the_emptiest_bucket(
    clock: Clock, inner: FakeEngine
) -> None:
    limits = Limits(rate=Rate(4.0, 1.0), per_caller=Rate(1.0, 1.0))
    layer = RateLimitLayer(inner, limits, clock)  # type: ignore[arg-type]
    assert admitted(layer, as_caller("alice"))
    refused = refusal(layer, as_caller("alice"))
    assert refused.retry_after_s == 1.0  # the global bucket would be ready in 0.25 s
    assert refused.message == "rate limit reached; retry in 1.000 s"
    clock.now += 0.25
    refused = refusal(layer, as_caller("alice"))
    assert refused.retry_after_s == 0.75
    assert refused.message == "rate limit reached; retry in 0.750 s"
    clock.now += 0.75
    assert admitted(layer, as_caller("alice"))


async def test_an_engine_refusal_propagates(clock: Clock, inner: FakeEngine) -> None:
    layer = RateLimitLayer(inner, Limits(rate=Rate(1.0, 5.0)), clock)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        layer.submit(request("missing"), as_caller("alice"))
    assert inner.submitted == []


# --- the layer: in-flight caps ---------------------------------------------------------------


async def test_in_flight_counts_until_the_answer(clock: Clock, inner: FakeEngine) -> None:
    layer = RateLimitLayer(inner, Limits(max_inflight_per_caller=2), clock)  # type: ignore[arg-type]
    first = layer.submit(request(), as_caller("alice"))
    layer.submit(request(), as_caller("alice"))
    with pytest.raises(ResourceExhausted) as refused:
        layer.submit(request(), as_caller("alice"))
    assert refused.value.message == "caller 'alice' already has 2 requests in flight"
    assert refused.value.retry_after_s is None
    assert len(inner.submitted) == 2
    layer.submit(request(), as_caller("bob"))  # another caller has its own count
    assert first is inner.futures[0]
    first.set_result(InferResponse("fraud", "1", "id", []))
    with pytest.raises(ResourceExhausted):  # done callbacks run on the next loop turn
        layer.submit(request(), as_caller("alice"))
    await asyncio.sleep(0)
    layer.submit(request(), as_caller("alice"))
    with pytest.raises(ResourceExhausted):
        layer.submit(request(), as_caller("alice"))
    assert inner.submitted == [("alice", "fraud")] * 2 + [("bob", "fraud")] + [("alice", "fraud")]


async def test_a_failed_or_cancelled_request_leaves_flight(clock: Clock, inner: FakeEngine) -> None:
    layer = RateLimitLayer(inner, Limits(max_inflight_per_caller=1), clock)  # type: ignore[arg-type]
    layer.submit(request(), as_caller("alice")).set_exception(NotFound("gone"))
    await asyncio.sleep(0)
    layer.submit(request(), as_caller("alice")).cancel()
    await asyncio.sleep(0)
    pending = layer.submit(request(), as_caller("alice"))
    with pytest.raises(ResourceExhausted):
        layer.submit(request(), as_caller("alice"))
    pending.cancel()
    await asyncio.sleep(0)
    layer.submit(request(), as_caller("alice"))
    assert inner.futures[0].exception() is not None


async def test_a_request_the_engine_refuses_never_counts(clock: Clock, inner: FakeEngine) -> None:
    layer = RateLimitLayer(inner, Limits(max_inflight_per_caller=1), clock)  # type: ignore[arg-type]
    for _ in range(3):
        with pytest.raises(NotFound):
            layer.submit(request("missing"), as_caller("alice"))
    layer.submit(request(), as_caller("alice"))
    assert inner.submitted == [("alice", "fraud")]


async def test_an_in_flight_refusal_takes_no_rate_token(clock: Clock, inner: FakeEngine) -> None:
    limits = Limits(rate=Rate(1.0, 3.0), max_inflight_per_caller=1)
    layer = RateLimitLayer(inner, limits, clock)  # type: ignore[arg-type]
    layer.submit(request(), as_caller("alice"))
    for _ in range(5):
        with pytest.raises(ResourceExhausted) as refused:
            layer.submit(request(), as_caller("alice"))
        assert refused.value.retry_after_s is None  # the in-flight cap, not the rate
    layer.submit(request(), as_caller("bob"))
    layer.submit(request(), as_caller("carol"))
    assert refusal(layer, as_caller("dave")).retry_after_s == 1.0


async def test_a_rate_refusal_adds_nothing_in_flight(clock: Clock, inner: FakeEngine) -> None:
    limits = Limits(per_caller=Rate(1.0, 1.0), max_inflight_per_caller=1)
    layer = RateLimitLayer(inner, limits, clock)  # type: ignore[arg-type]
    layer.submit(request(), as_caller("alice")).cancel()
    await asyncio.sleep(0)
    assert refusal(layer, as_caller("alice")).retry_after_s == 1.0
    clock.now += 1.0
    layer.submit(request(), as_caller("alice"))  # not "already has 1 requests in flight"


# --- the stream quota ------------------------------------------------------------------------


def test_streams_are_capped_per_caller() -> None:
    quota = StreamQuota(2)
    with quota.open("alice"), quota.open("alice"):
        with pytest.raises(ResourceExhausted) as refused:
            with quota.open("alice"):
                pytest.fail("a third stream opened")
        assert refused.value.message == "caller 'alice' already has 2 streams open"
        assert refused.value.retry_after_s is None
        with quota.open("bob"), quota.open("bob"):
            pass
    with quota.open("alice"), quota.open("alice"):
        pass


def test_a_closed_stream_frees_its_slot() -> None:
    quota = StreamQuota(1)
    with quota.open("alice"):
        with pytest.raises(ResourceExhausted):
            with quota.open("alice"):
                pass
    with quota.open("alice"):
        pass


def test_a_stream_that_fails_frees_its_slot() -> None:
    quota = StreamQuota(1)
    with pytest.raises(RuntimeError, match="stream broke"):
        with quota.open("alice"):
            raise RuntimeError("stream broke")
    with quota.open("alice"):
        pass


def test_a_refused_stream_takes_no_slot() -> None:
    quota = StreamQuota(1)
    with quota.open("alice"):
        for _ in range(3):
            with pytest.raises(ResourceExhausted):
                with quota.open("alice"):
                    pass
    with quota.open("alice"):
        pass


def test_no_stream_cap() -> None:
    quota = StreamQuota(None)
    with contextlib.ExitStack() as stack:
        for _ in range(100):
            stack.enter_context(quota.open("alice"))
