"""The authorization layer over a fake engine: each verb's action, listings filtered, names
not probeable, disabled groups, calls without a caller, and the audit lines."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from naiad.engine.context import INTERNAL, CallContext, Caller
from naiad.engine.protocol import VersionStats
from naiad.engine.request import InferRequest
from naiad.errors import ErrorCode, NotFound, PermissionDenied, Unauthenticated
from naiad.repository.types import IndexEntry, ModelState
from naiad.security.authorization import (
    AccessPolicy,
    AuthorizationLayer,
    check_admin,
)
from naiad.security.scopes import (
    ACTIONS,
    ADMIN,
    EVERYTHING,
    INFER,
    METADATA,
    REPOSITORY,
    STATISTICS,
    Scopes,
)

MODELS = ("fraud-a", "fraud-b", "resnet")

VERBS = {
    "submit": INFER,
    "describe": METADATA,
    "config": METADATA,
    "model_ready": METADATA,
    "statistics": STATISTICS,
    "load": REPOSITORY,
    "unload": REPOSITORY,
}
"""Each verb naming one model, and the action it needs."""


class FakeEngine:
    """The InferenceEngine verbs over MODELS: canned answers, NotFound for other names, and a
    record of every call with the context it came with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, CallContext]] = []

    def _known(self, verb: str, name: str, context: CallContext) -> str:
        self.calls.append((verb, name, context))
        if name and name not in MODELS:
            raise NotFound(f"unknown model '{name}'")
        return f"{verb}:{name}"

    def submit(self, request: InferRequest, context: CallContext) -> Any:
        return self._known("submit", request.model_name, context)

    def describe(self, name: str, version: str, context: CallContext) -> Any:
        return self._known("describe", name, context)

    def config(self, name: str, version: str, context: CallContext) -> Any:
        return self._known("config", name, context)

    def model_ready(self, name: str, version: str, context: CallContext) -> Any:
        return self._known("model_ready", name, context)

    def statistics(self, name: str, version: str, context: CallContext) -> list[VersionStats]:
        self._known("statistics", name, context)
        return [VersionStats(model, 1, None) for model in (MODELS if not name else (name,))]  # type: ignore[arg-type]

    def server_ready(self) -> bool:
        return True

    async def index(self, ready_only: bool, context: CallContext) -> list[IndexEntry]:
        self._known("index", "", context)
        return [IndexEntry(model, "1", ModelState.READY) for model in MODELS]

    async def load(
        self, name: str, config_json: str | None, files: dict[str, bytes], context: CallContext
    ) -> None:
        self._known("load", name, context)

    async def unload(self, name: str, context: CallContext) -> None:
        self._known("unload", name, context)


async def call(engine: Any, verb: str, name: str, context: CallContext) -> Any:
    if verb == "submit":
        return engine.submit(InferRequest(name, "", "id-1", []), context)
    if verb in ("describe", "config", "model_ready", "statistics"):
        return getattr(engine, verb)(name, "", context)
    if verb == "load":
        return await engine.load(name, None, {}, context)
    return await engine.unload(name, context)


def canned(verb: str, name: str) -> Any:
    """What FakeEngine answers, as the layer must pass it on."""
    if verb == "statistics":
        return [VersionStats(name, 1, None)]  # type: ignore[arg-type]
    if verb in ("load", "unload"):
        return None
    return f"{verb}:{name}"


def grpc_call(*scopes: str, identity: str = "app") -> CallContext:
    return CallContext(protocol="grpc", caller=Caller(identity, Scopes.parse(scopes)))


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "naiad.audit"]


@pytest.fixture
def inner() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def engine(inner: FakeEngine) -> AuthorizationLayer:
    return AuthorizationLayer(inner, AccessPolicy(authenticated=True))  # type: ignore[arg-type]


@pytest.fixture
def audit(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="naiad.audit")
    return caplog


# --- one verb, one action --------------------------------------------------------------------


@pytest.mark.parametrize(("verb", "action"), VERBS.items())
async def test_a_granted_verb_reaches_the_engine(
    engine: AuthorizationLayer, inner: FakeEngine, verb: str, action: str
) -> None:
    context = grpc_call(f"{action}:fraud*")
    assert await call(engine, verb, "fraud-a", context) == canned(verb, "fraud-a")
    assert len(inner.calls) == 1
    called, name, passed = inner.calls[0]
    assert (called, name) == (verb, "fraud-a")
    assert passed is context


@pytest.mark.parametrize(("verb", "action"), VERBS.items())
async def test_every_other_action_is_not_enough(
    engine: AuthorizationLayer, inner: FakeEngine, verb: str, action: str, audit
) -> None:
    others = [other for other in ACTIONS if other != action]
    with pytest.raises(PermissionDenied) as refused:
        await call(engine, verb, "fraud-a", grpc_call(*others))
    reason = f"not allowed to {action} on model 'fraud-a'"
    assert refused.value.message == reason
    assert refused.value.code is ErrorCode.PERMISSION_DENIED
    assert inner.calls == []
    assert audit_lines(audit) == [
        (
            logging.WARNING,
            f"denied caller=app action={action} model=fraud-a protocol=grpc reason={reason!r}",
        )
    ]


@pytest.mark.parametrize(("verb", "action"), VERBS.items())
async def test_the_grant_must_match_the_name(
    engine: AuthorizationLayer, inner: FakeEngine, verb: str, action: str
) -> None:
    with pytest.raises(PermissionDenied) as refused:
        await call(engine, verb, "resnet", grpc_call(f"{action}:fraud*"))
    assert refused.value.message == f"not allowed to {action} on model 'resnet'"
    assert inner.calls == []


@pytest.mark.parametrize("verb", VERBS)
async def test_a_name_without_a_grant_is_denied_whether_or_not_it_exists(
    engine: AuthorizationLayer, inner: FakeEngine, verb: str
) -> None:
    context = grpc_call("*:fraud*")
    for name in ("secret-model", "resnet"):  # one absent, one present: the same answer
        with pytest.raises(PermissionDenied) as refused:
            await call(engine, verb, name, context)
        assert refused.value.message == f"not allowed to {VERBS[verb]} on model '{name}'"
    assert inner.calls == []


@pytest.mark.parametrize("verb", VERBS)
async def test_a_visible_name_that_does_not_exist_is_the_engines_not_found(
    engine: AuthorizationLayer, inner: FakeEngine, verb: str
) -> None:
    with pytest.raises(NotFound) as missing:
        await call(engine, verb, "fraud-missing", grpc_call("*:fraud*"))
    assert missing.value.message == "unknown model 'fraud-missing'"
    assert [(called, name) for called, name, _ in inner.calls] == [(verb, "fraud-missing")]


async def test_server_ready_is_not_checked(engine: AuthorizationLayer) -> None:
    assert engine.server_ready() is True


# --- listings --------------------------------------------------------------------------------


async def test_statistics_of_all_models_shows_only_the_visible_ones(
    engine: AuthorizationLayer, inner: FakeEngine
) -> None:
    context = grpc_call("statistics:fraud*", "metadata:resnet")
    found = engine.statistics("", "", context)
    assert [s.name for s in found] == ["fraud-a", "fraud-b"]
    assert [(called, name) for called, name, _ in inner.calls] == [("statistics", "")]


async def test_statistics_of_all_models_with_every_grant(engine: AuthorizationLayer) -> None:
    assert [s.name for s in engine.statistics("", "", grpc_call("statistics"))] == list(MODELS)


async def test_statistics_of_all_models_needs_some_statistics_grant(
    engine: AuthorizationLayer, inner: FakeEngine, audit
) -> None:
    with pytest.raises(PermissionDenied) as refused:
        engine.statistics("", "", grpc_call("infer", "metadata", "repository", "admin"))
    assert refused.value.message == "not allowed to statistics on any model"
    assert inner.calls == []
    assert audit_lines(audit) == [
        (
            logging.WARNING,
            "denied caller=app action=statistics model=- protocol=grpc"
            " reason='not allowed to statistics on any model'",
        )
    ]


async def test_a_statistics_grant_on_no_existing_model_lists_nothing(
    engine: AuthorizationLayer,
) -> None:
    assert engine.statistics("", "", grpc_call("statistics:bert*")) == []


async def test_the_index_shows_only_the_visible_models(
    engine: AuthorizationLayer, inner: FakeEngine
) -> None:
    found = await engine.index(False, grpc_call("repository:fraud*", "metadata"))
    assert [e.name for e in found] == ["fraud-a", "fraud-b"]
    assert [called for called, _, _ in inner.calls] == ["index"]


async def test_the_index_with_every_grant(engine: AuthorizationLayer) -> None:
    found = await engine.index(True, grpc_call("*"))
    assert found == [IndexEntry(model, "1", ModelState.READY) for model in MODELS]


async def test_the_index_needs_some_repository_grant(
    engine: AuthorizationLayer, inner: FakeEngine
) -> None:
    with pytest.raises(PermissionDenied) as refused:
        await engine.index(False, grpc_call("infer", "metadata", "statistics", "admin"))
    assert refused.value.message == "not allowed to repository on any model"
    assert inner.calls == []


# --- disabled groups -------------------------------------------------------------------------


async def test_a_disabled_group_refuses_even_a_caller_allowed_everything(
    inner: FakeEngine, audit
) -> None:
    policy = AccessPolicy(authenticated=True, disabled={REPOSITORY})
    engine = AuthorizationLayer(inner, policy)  # type: ignore[arg-type]
    context = CallContext(protocol="grpc", caller=Caller("root", EVERYTHING))
    reason = "the repository API is disabled on this server"
    for verb in ("load", "unload"):
        with pytest.raises(PermissionDenied) as refused:
            await call(engine, verb, "fraud-a", context)
        assert refused.value.message == reason
    with pytest.raises(PermissionDenied) as refused:
        await engine.index(False, context)
    assert refused.value.message == reason
    assert inner.calls == []
    line = "denied caller=root action=repository model={} protocol=grpc reason='{}'"
    assert audit_lines(audit) == [
        (logging.WARNING, line.format("fraud-a", reason)),
        (logging.WARNING, line.format("fraud-a", reason)),
        (logging.WARNING, line.format("-", reason)),
    ]
    # The other groups are untouched.
    assert await call(engine, "submit", "fraud-a", context) == "submit:fraud-a"
    assert await call(engine, "describe", "fraud-a", context) == "describe:fraud-a"


async def test_a_disabled_group_refuses_without_authentication_too(inner: FakeEngine) -> None:
    policy = AccessPolicy(authenticated=False, disabled={STATISTICS, INFER})
    engine = AuthorizationLayer(inner, policy)  # type: ignore[arg-type]
    context = CallContext(protocol="grpc")
    for verb, name in (("statistics", "fraud-a"), ("statistics", ""), ("submit", "fraud-a")):
        with pytest.raises(PermissionDenied) as refused:
            await call(engine, verb, name, context)
        action = VERBS[verb]
        assert refused.value.message == f"the {action} API is disabled on this server"
    assert inner.calls == []
    assert await call(engine, "describe", "fraud-a", context) == "describe:fraud-a"


def test_an_unknown_group_is_refused() -> None:
    with pytest.raises(ValueError) as refused:
        AccessPolicy(authenticated=True, disabled={"repository", "bogus", "health"})
    assert str(refused.value) == (
        "unknown API group(s) bogus, health; expected infer, metadata, statistics, repository,"
        " admin"
    )


# --- calls without a caller ------------------------------------------------------------------


@pytest.mark.parametrize("verb", VERBS)
async def test_without_authentication_a_call_without_caller_passes(
    inner: FakeEngine, verb: str
) -> None:
    engine = AuthorizationLayer(inner, AccessPolicy(authenticated=False))  # type: ignore[arg-type]
    context = CallContext(protocol="grpc")
    assert await call(engine, verb, "resnet", context) == canned(verb, "resnet")
    assert [s.name for s in engine.statistics("", "", context)] == list(MODELS)
    assert [e.name for e in await engine.index(False, context)] == list(MODELS)


@pytest.mark.parametrize("verb", VERBS)
async def test_with_authentication_a_call_without_caller_is_unauthenticated(
    engine: AuthorizationLayer, inner: FakeEngine, verb: str, audit
) -> None:
    context = CallContext(protocol="http")
    with pytest.raises(Unauthenticated) as refused:
        await call(engine, verb, "resnet", context)
    assert refused.value.message == "this call needs a bearer token"
    assert refused.value.code is ErrorCode.UNAUTHENTICATED
    assert inner.calls == []
    action = VERBS[verb]
    assert audit_lines(audit) == [
        (
            logging.WARNING,
            f"denied caller=- action={action} model=resnet protocol=http reason='no caller'",
        )
    ]


async def test_with_authentication_listings_without_caller_are_unauthenticated(
    engine: AuthorizationLayer, inner: FakeEngine
) -> None:
    context = CallContext(protocol="grpc")
    with pytest.raises(Unauthenticated):
        engine.statistics("", "", context)
    with pytest.raises(Unauthenticated):
        await engine.index(False, context)
    assert inner.calls == []


@pytest.mark.parametrize("verb", VERBS)
async def test_with_authentication_internal_calls_pass(
    engine: AuthorizationLayer, inner: FakeEngine, verb: str
) -> None:
    assert INTERNAL.protocol == "internal" and INTERNAL.caller is None
    assert await call(engine, verb, "resnet", INTERNAL) == canned(verb, "resnet")
    assert [s.name for s in engine.statistics("", "", INTERNAL)] == list(MODELS)
    assert [e.name for e in await engine.index(False, INTERNAL)] == list(MODELS)


# --- audit lines -----------------------------------------------------------------------------


async def test_load_and_unload_are_audited(engine: AuthorizationLayer, audit) -> None:
    context = grpc_call("repository:fraud*", identity="deployer")
    await engine.load("fraud-a", '{"max_batch_size": 4}', {"1/model.onnx": b"x"}, context)
    await engine.unload("fraud-b", context)
    line = "allowed caller=deployer action=repository.{} model={} protocol=grpc"
    assert audit_lines(audit) == [
        (logging.INFO, line.format("load", "fraud-a")),
        (logging.INFO, line.format("unload", "fraud-b")),
    ]


async def test_internal_load_is_audited_without_a_caller(engine: AuthorizationLayer, audit) -> None:
    await engine.load("fraud-a", None, {}, INTERNAL)
    assert audit_lines(audit) == [
        (logging.INFO, "allowed caller=- action=repository.load model=fraud-a protocol=internal")
    ]


async def test_reads_and_inference_write_no_audit_line_when_allowed(
    engine: AuthorizationLayer, audit
) -> None:
    context = grpc_call("*")
    for verb in ("submit", "describe", "config", "model_ready", "statistics"):
        await call(engine, verb, "fraud-a", context)
    engine.statistics("", "", context)
    await engine.index(False, context)
    assert audit_lines(audit) == []


# --- admin endpoints -------------------------------------------------------------------------


def test_check_admin_allows_an_admin_and_audits(audit) -> None:
    policy = AccessPolicy(authenticated=True)
    for scope in ("admin", "admin:*", "*"):
        check_admin(policy, grpc_call(scope, identity="ops"), "log_settings")
    line = "allowed caller=ops action=admin.log_settings model=- protocol=grpc"
    assert audit_lines(audit) == [(logging.INFO, line)] * 3


@pytest.mark.parametrize("scope", ["infer", "admin:fraud*", "repository", "*:m*"])
def test_check_admin_refuses_others(scope: str, audit) -> None:
    with pytest.raises(PermissionDenied) as refused:
        check_admin(AccessPolicy(authenticated=True), grpc_call(scope), "log_settings")
    assert refused.value.message == "not allowed to admin on this server"
    assert audit_lines(audit) == [
        (
            logging.WARNING,
            "denied caller=app action=admin model=- protocol=grpc"
            " reason='not allowed to admin on this server'",
        )
    ]


def test_check_admin_of_a_disabled_admin_group() -> None:
    policy = AccessPolicy(authenticated=True, disabled={ADMIN})
    with pytest.raises(PermissionDenied) as refused:
        check_admin(policy, grpc_call("*"), "log_settings")
    assert refused.value.message == "the admin API is disabled on this server"


def test_check_admin_without_a_policy_only_audits(audit) -> None:
    check_admin(None, CallContext(protocol="http"), "log_settings")
    assert audit_lines(audit) == [
        (logging.INFO, "allowed caller=- action=admin.log_settings model=- protocol=http")
    ]
