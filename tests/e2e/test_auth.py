"""Tokens, scopes and rate limits through tritonclient against a real server process."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import time
from pathlib import Path

import jwt
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.utils.shared_memory as shm
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import status_of, tensor, wait_until
from modelgen import mlp, write_repository
from tritonclient.utils import InferenceServerException

INFER_FRAUD = "naiad_infer-fraud-secret"
ADMIN = "naiad_admin-secret"
STATS_A = "naiad_stats-a-secret"
ISSUER, AUDIENCE = "https://idp.example", "naiad"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def key_entry(identity: str, secret: str, scopes: list[str], extra: str = "") -> str:
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return (
        f'[[keys]]\nid = "{identity}"\nsha256 = "{digest}"\nscopes = {json.dumps(scopes)}\n' + extra
    )


def x8() -> list[grpcclient.InferInput]:
    return [tensor("INPUT0", np.ones((1, 8), dtype=np.float32), "FP32")]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    model = {1: lambda p: mlp(p, 8, 16, 4)}
    return write_repository(tmp_path / "repo", {"fraud-a": model, "fraud-b": model, "other": model})


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    path = tmp_path / "keys.toml"
    path.write_text(
        key_entry("fraud-app", INFER_FRAUD, ["infer:fraud*", "metadata"])
        + key_entry("ops", ADMIN, ["*"])
        + key_entry("dashboard", STATS_A, ["statistics:fraud-a"])
    )
    return path


@pytest.fixture
def signer(tmp_path: Path) -> tuple[rsa.RSAPrivateKey, Path]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [dict(jwk, kid="k1", alg="RS256", use="sig")]}))
    return private, path


def mint(private: rsa.RSAPrivateKey, **claims: object) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "svc", "iat": now, "exp": now + 300}
    body.update(claims)
    return jwt.encode(body, private, algorithm="RS256", headers={"kid": "k1"})


def test_every_scope_decision(serve, repo, keys) -> None:
    args = ("--api-keys", str(keys), "--model-control-mode", "explicit", "--load-model", "*")
    with serve(repo, *args) as server, grpcclient.InferenceServerClient(server.url) as client:
        # Probes need no token.
        assert client.is_server_live() and client.is_server_ready()
        assert status_of(lambda: client.infer("fraud-a", x8()))[0] == "UNAUTHENTICATED"
        wrong = bearer("naiad_not-a-key")
        assert status_of(lambda: client.infer("fraud-a", x8(), headers=wrong))[0] == (
            "UNAUTHENTICATED"
        )

        fraud = bearer(INFER_FRAUD)
        assert client.infer("fraud-a", x8(), headers=fraud).as_numpy("OUTPUT0").shape == (1, 4)
        assert client.get_model_metadata("other", headers=fraud).name == "other"
        code, message = status_of(lambda: client.infer("other", x8(), headers=fraud))
        assert (code, message) == ("PERMISSION_DENIED", "not allowed to infer on model 'other'")
        # A model the caller may not see answers the same whether or not it exists...
        assert status_of(lambda: client.infer("ghost", x8(), headers=fraud)) == (
            "PERMISSION_DENIED",
            "not allowed to infer on model 'ghost'",
        )
        # ...and one it may see but that does not exist is simply not found.
        assert status_of(lambda: client.infer("fraud-ghost", x8(), headers=fraud))[0] == (
            "NOT_FOUND"
        )
        for call in (
            lambda: client.get_inference_statistics("fraud-a", headers=fraud),
            lambda: client.get_model_repository_index(headers=fraud),
            lambda: client.unload_model("fraud-a", headers=fraud),
            lambda: client.update_log_settings({"log_info": True}, headers=fraud),
        ):
            assert status_of(call)[0] == "PERMISSION_DENIED"
        assert client.is_model_ready("fraud-a", headers=fraud)

        dashboard = bearer(STATS_A)
        listed = client.get_inference_statistics("", headers=dashboard).model_stats
        assert {s.name for s in listed} == {"fraud-a"}
        assert status_of(lambda: client.get_model_metadata("fraud-a", headers=dashboard))[0] == (
            "PERMISSION_DENIED"
        )

        ops = bearer(ADMIN)
        names = {m.name for m in client.get_model_repository_index(headers=ops).models}
        assert names == {"fraud-a", "fraud-b", "other"}
        client.unload_model("other", headers=ops)
        wait_until(lambda: not client.is_model_ready("other", headers=ops), "other unloaded")
        client.update_log_settings({"log_info": True}, headers=ops)
    audit = [line for line in server.log if "naiad.audit" in line or "caller=" in line]
    assert any("denied caller=fraud-app action=infer model=other" in line for line in audit)
    assert any("denied caller=- action=authenticate" in line for line in audit)
    assert any("allowed caller=ops action=repository.unload model=other" in line for line in audit)
    assert any("allowed caller=ops action=admin.log_settings" in line for line in audit)


def test_streams_are_authenticated_once_and_checked_per_request(serve, repo, keys) -> None:
    answers: list[tuple[object, object]] = []
    done = threading.Event()

    def collect(result: object, error: object) -> None:
        answers.append((result, error))
        if len(answers) == 2:
            done.set()

    with (
        serve(repo, "--api-keys", str(keys)) as server,
        grpcclient.InferenceServerClient(server.url) as client,
    ):
        client.start_stream(collect, headers=bearer(INFER_FRAUD))
        client.async_stream_infer("fraud-a", x8(), request_id="ok")
        client.async_stream_infer("other", x8(), request_id="denied")
        assert done.wait(30)
        client.stop_stream()
    errors = [str(error) for _, error in answers if error is not None]
    assert len(errors) == 1 and "not allowed to infer on model 'other'" in errors[0]


def test_jwt_expiry_audience_and_issuer(serve, repo, signer) -> None:
    private, jwks = signer
    args = ("--jwt-jwks", str(jwks), "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE)
    with serve(repo, *args) as server, grpcclient.InferenceServerClient(server.url) as client:
        good = mint(private, scope="openid infer:fraud-*")
        assert client.infer("fraud-b", x8(), headers=bearer(good)).as_numpy("OUTPUT0") is not None
        assert status_of(lambda: client.infer("other", x8(), headers=bearer(good)))[0] == (
            "PERMISSION_DENIED"
        )
        past = int(time.time()) - 3600
        for token in (
            mint(private, scope="infer", exp=past, iat=past - 60),
            mint(private, scope="infer", aud="someone-else"),
            mint(private, scope="infer", iss="https://evil.example"),
        ):
            code, _ = status_of(lambda t=token: client.infer("fraud-a", x8(), headers=bearer(t)))
            assert code == "UNAUTHENTICATED"


def test_api_keys_rotate_without_restart(serve, repo, keys) -> None:
    new_secret = "naiad_rotated-secret"
    with (
        serve(repo, "--api-keys", str(keys)) as server,
        grpcclient.InferenceServerClient(server.url) as client,
    ):
        assert client.infer("fraud-a", x8(), headers=bearer(INFER_FRAUD))
        answers: queue.Queue[tuple[object, object]] = queue.Queue()
        client.start_stream(
            lambda result, error: answers.put((result, error)), headers=bearer(INFER_FRAUD)
        )
        client.async_stream_infer("fraud-a", x8(), request_id="before")
        assert answers.get(timeout=30)[1] is None
        replacement = keys.with_suffix(".new")
        replacement.write_text(key_entry("fraud-app", new_secret, ["infer:fraud*"]))
        os.replace(replacement, keys)  # as a Secret update swaps the file

        def rotated() -> bool:
            old = status_of_or_none(
                lambda: client.infer("fraud-a", x8(), headers=bearer(INFER_FRAUD))
            )
            return old == "UNAUTHENTICATED"

        wait_until(rotated, "the old key refused after rotation")
        assert client.infer("fraud-a", x8(), headers=bearer(new_secret))
        # The stream opened with the old key stays open, but no longer infers.
        client.async_stream_infer("fraud-a", x8(), request_id="after")
        _, error = answers.get(timeout=30)
        assert error is not None and "missing or invalid bearer token" in str(error)
        client.stop_stream()


def status_of_or_none(call) -> str | None:  # type: ignore[no-untyped-def]
    try:
        call()
    except Exception as exc:
        return str(exc.status()).replace("StatusCode.", "")  # type: ignore[attr-defined]
    return None


def test_rate_limit_holds_within_ten_percent_under_concurrent_load(serve, repo, keys) -> None:
    rate, burst, threads, duration_s = 40.0, 4.0, 6, 3.0
    args = ("--api-keys", str(keys), "--rate-limit-per-caller", f"{rate:g}:{burst:g}")
    admitted, refused = [0] * threads, [0] * threads
    with serve(repo, *args) as server:
        clients = [grpcclient.InferenceServerClient(server.url) for _ in range(threads)]
        start = threading.Barrier(threads + 1)
        stop_at: list[float] = []

        def hammer(index: int) -> None:
            client = clients[index]
            start.wait()
            while time.monotonic() < stop_at[0]:
                code = status_of_or_none(
                    lambda: client.infer("fraud-a", x8(), headers=bearer(INFER_FRAUD))
                )
                if code is None:
                    admitted[index] += 1
                else:
                    assert code == "RESOURCE_EXHAUSTED"
                    refused[index] += 1

        workers = [threading.Thread(target=hammer, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        began = time.monotonic()
        stop_at.append(began + duration_s)
        start.wait()
        for worker in workers:
            worker.join()
        elapsed = time.monotonic() - began
        for client in clients:
            client.close()
    expected = rate * elapsed + burst
    assert sum(refused) > 0, "the load never reached the limit"
    assert abs(sum(admitted) - expected) <= 0.1 * expected, (sum(admitted), expected)


def test_authorized_callers_are_served_during_an_unauthorized_flood(serve, repo, keys) -> None:
    flood_codes: set[str] = set()
    flooded = [0]
    stop = threading.Event()
    with serve(repo, "--api-keys", str(keys)) as server:

        def flood(token: str, model: str) -> None:
            with grpcclient.InferenceServerClient(server.url) as client:
                while not stop.is_set():
                    code = status_of_or_none(
                        lambda: client.infer(model, x8(), headers=bearer(token))
                    )
                    flood_codes.add(str(code))
                    flooded[0] += 1

        attackers = [
            threading.Thread(target=flood, args=("naiad_guess", "fraud-a")),
            threading.Thread(target=flood, args=(INFER_FRAUD, "other")),
            threading.Thread(target=flood, args=("a.b.c", "fraud-a")),
        ]
        for attacker in attackers:
            attacker.start()
        try:
            with grpcclient.InferenceServerClient(server.url) as client:
                for _ in range(100):
                    answer = client.infer("fraud-b", x8(), headers=bearer(INFER_FRAUD))
                    assert answer.as_numpy("OUTPUT0").shape == (1, 4)
        finally:
            stop.set()
            for attacker in attackers:
                attacker.join()
    assert flood_codes == {"UNAUTHENTICATED", "PERMISSION_DENIED"}
    assert flooded[0] > 100


def test_shared_memory_regions_need_a_caller_who_may_infer(serve, repo, keys) -> None:
    handle = shm.create_shared_memory_region("naiad-auth-region", "/naiad-auth-region", 64)
    args = ("--api-keys", str(keys), "--allow-client-shm")
    try:
        with serve(repo, *args) as server, grpcclient.InferenceServerClient(server.url) as client:

            def register(headers: dict[str, str] | None) -> None:
                client.register_system_shared_memory("r", "/naiad-auth-region", 64, headers=headers)

            assert status_of(lambda: register(None))[0] == "UNAUTHENTICATED"
            assert status_of(lambda: register(bearer(STATS_A)))[0] == "PERMISSION_DENIED"
            assert status_of(
                lambda: client.get_system_shared_memory_status(headers=bearer(STATS_A))
            )[0] == ("PERMISSION_DENIED")
            register(bearer(INFER_FRAUD))  # infer on some model is enough
            listed = client.get_system_shared_memory_status(headers=bearer(INFER_FRAUD))
            assert list(listed.regions) == ["r"]
            http = httpclient.InferenceServerClient(server.http_url)
            try:
                with pytest.raises(InferenceServerException) as refused:
                    http.unregister_system_shared_memory(headers=bearer(STATS_A))
                assert refused.value.status() == "403"
                http.unregister_system_shared_memory(headers=bearer(INFER_FRAUD))
            finally:
                http.close()
            assert not client.get_system_shared_memory_status(headers=bearer(ADMIN)).regions
    finally:
        shm.destroy_shared_memory_region(handle)
