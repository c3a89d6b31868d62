"""Ensembles served by the core engine, in process: the graph, member batching, statistics,
readiness, errors, and load-time checks of bad ensembles."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import ensemble_repo
import modelgen
import numpy as np
import pytest

from naiad.datatypes import BY_WIRE
from naiad.engine.context import INTERNAL
from naiad.engine.engine import Engine
from naiad.engine.loader import load_served_model
from naiad.engine.request import InferInput, InferRequest
from naiad.ensemble.factory import EnsembleFactory
from naiad.errors import ErrorCode, InvalidArgument, NaiadError
from naiad.repository.manager import ModelRepository
from naiad.repository.types import ModelState

FP32 = BY_WIRE["FP32"]


async def started(root: Path, mode: str = "none") -> tuple[ModelRepository, Engine]:
    ensembles = EnsembleFactory(load_served_model)
    repository = ModelRepository(str(root), factory=ensembles, control_mode=mode)
    engine = ensembles.bind(Engine(repository))
    await asyncio.to_thread(repository.start)
    engine.accept(True)
    return repository, engine


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[ModelRepository, Engine]]:
    repository, engine = await started(ensemble_repo.write(tmp_path / "repo"))
    yield repository, engine
    await asyncio.to_thread(repository.stop)


def raw_request(raw: np.ndarray, model: str = "pipeline", **kwargs: object) -> InferRequest:
    tensor = InferInput("RAW_FEATURES", FP32, tuple(raw.shape), raw)
    return InferRequest(model, "", "r", [tensor], **kwargs)  # type: ignore[arg-type]


def sample(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (np.asarray(ensemble_repo.MEAN) + rng.standard_normal((rows, 4))).astype(np.float32)


async def test_an_ensemble_answers_what_its_steps_compute_by_hand(served) -> None:  # type: ignore[no-untyped-def]
    _, engine = served
    raw = sample(3)
    answer = await engine.submit(raw_request(raw), INTERNAL)
    assert (answer.model_name, answer.model_version) == ("pipeline", "1")
    got = {o.name: o.data for o in answer.outputs}
    assert list(got) == ["PROBABILITIES", "BEST_SCORES", "BEST_LABELS"]
    want = ensemble_repo.reference(raw)
    np.testing.assert_allclose(got["PROBABILITIES"], want["PROBABILITIES"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["BEST_SCORES"], want["BEST_SCORES"], rtol=1e-5, atol=1e-6)
    assert got["BEST_LABELS"].tolist() == want["BEST_LABELS"].tolist()
    assert engine.describe("pipeline", "", INTERNAL).settings.platform == "ensemble"


async def test_requested_outputs_and_classification_with_labels(served) -> None:  # type: ignore[no-untyped-def]
    _, engine = served
    raw = sample(2, seed=1)
    request = raw_request(
        raw, requested_outputs=["PROBABILITIES"], classification={"PROBABILITIES": 2}
    )
    answer = await engine.submit(request, INTERNAL)
    [output] = answer.outputs
    assert output.datatype.wire == "BYTES" and output.data.shape == (2, 2)
    probabilities = ensemble_repo.reference(raw)["PROBABILITIES"]
    for row, texts in zip(probabilities, output.data, strict=True):
        best = np.argsort(-row, kind="stable")[:2]
        want = [f"{row[i]:f}:{i}:{ensemble_repo.LABELS[i]}" for i in best]
        got = [t.decode() for t in texts]
        assert [g.split(":")[1:] for g in got] == [w.split(":")[1:] for w in want]
        np.testing.assert_allclose([float(g.split(":")[0]) for g in got], row[best], atol=1e-5)
    with pytest.raises(InvalidArgument, match="classification"):
        engine.submit(raw_request(raw, classification={"PROBABILITIES": 2}), INTERNAL)
    with pytest.raises(InvalidArgument, match="positive integer"):
        request = raw_request(
            raw, requested_outputs=["PROBABILITIES"], classification={"PROBABILITIES": 0}
        )
        engine.submit(request, INTERNAL)


async def test_members_batch_concurrent_ensemble_requests_and_count_their_own(served) -> None:  # type: ignore[no-untyped-def]
    _, engine = served
    raws = [sample(1, seed=i) for i in range(24)]
    answers = await asyncio.gather(*(engine.submit(raw_request(r), INTERNAL) for r in raws))
    for raw, answer in zip(raws, answers, strict=True):
        want = ensemble_repo.reference(raw)["BEST_LABELS"]
        assert answer.outputs[2].data.tolist() == want.tolist()
    stats = {s.name: s.stats for s in engine.statistics("", "", INTERNAL)}
    assert set(stats) == {"pipeline", "normalise", "classifier", "top2"}
    for name in stats:
        assert stats[name].success_count == 24, name
        assert stats[name].inference_count == 24, name
    ensemble = stats["pipeline"]
    assert ensemble.compute_input_count == ensemble.compute_infer_count == 24
    # The members formed batches of several ensemble requests: fewer runs than requests.
    assert stats["classifier"].execution_count < 24


async def test_independent_steps_run_concurrently_and_feed_a_join(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    modelgen.write_repository(
        root,
        {
            "plus1": {1: lambda p: modelgen.offset(p, 1.0, [2])},
            "plus10": {1: lambda p: modelgen.offset(p, 10.0, [2])},
            "addsub": {1: lambda p: modelgen.add_sub(p, "FP32", [2])},
        },
        {"diamond": DIAMOND},
    )
    (root / "diamond" / "1").mkdir()
    repository, engine = await started(root)
    try:
        x = np.array([[1.0, 2.0]], np.float32)
        answer = await engine.submit(
            InferRequest("diamond", "", "d", [InferInput("X", FP32, (1, 2), x)]), INTERNAL
        )
        got = {o.name: o.data for o in answer.outputs}
        np.testing.assert_array_equal(got["SUM"], (x + 1) + (x + 10))
        np.testing.assert_array_equal(got["DIFF"], (x + 1) - (x + 10))
    finally:
        await asyncio.to_thread(repository.stop)


DIAMOND = """
name: "diamond"
platform: "ensemble"
max_batch_size: 4
input [ { name: "X" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [ { name: "SUM" data_type: TYPE_FP32 dims: [ 2 ] },
         { name: "DIFF" data_type: TYPE_FP32 dims: [ 2 ] } ]
ensemble_scheduling { step [
  { model_name: "addsub" model_version: -1
    input_map { key: "INPUT0" value: "a" } input_map { key: "INPUT1" value: "b" }
    output_map { key: "OUTPUT0" value: "SUM" } output_map { key: "OUTPUT1" value: "DIFF" } },
  { model_name: "plus1" model_version: -1
    input_map { key: "INPUT0" value: "X" } output_map { key: "OUTPUT0" value: "a" } },
  { model_name: "plus10" model_version: -1
    input_map { key: "INPUT0" value: "X" } output_map { key: "OUTPUT0" value: "b" } }
] }
"""


async def test_a_bad_request_is_refused_before_any_step_and_counted(served) -> None:  # type: ignore[no-untyped-def]
    _, engine = served
    with pytest.raises(InvalidArgument, match="unexpected shape for input 'RAW_FEATURES'"):
        engine.submit(raw_request(np.zeros((1, 5), np.float32)), INTERNAL)
    stats = {s.name: s.stats for s in engine.statistics("", "", INTERNAL)}
    assert stats["pipeline"].other_failure_count == 1
    assert stats["normalise"].success_count + stats["normalise"].fail_count == 0


async def test_cancelling_an_ensemble_request_withdraws_its_step(served) -> None:  # type: ignore[no-untyped-def]
    _, engine = served
    future = engine.submit(raw_request(sample(1)), INTERNAL)
    future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await future
    answer = await engine.submit(raw_request(sample(1)), INTERNAL)  # still serving
    assert len(answer.outputs) == 3
    [stats] = engine.statistics("pipeline", "1", INTERNAL)
    assert stats.stats.success_count == 1 and stats.stats.num_in_flight == 0


async def test_the_ensemble_is_ready_only_while_its_members_are(tmp_path: Path) -> None:
    root = ensemble_repo.write(tmp_path / "repo")
    repository, engine = await started(root, mode="explicit")
    try:
        assert not engine.model_ready("pipeline", "", INTERNAL)
        for name in ("normalise", "classifier", "top2", "pipeline"):
            await engine.load(name, None, {}, INTERNAL)
        assert engine.model_ready("pipeline", "", INTERNAL)
        await engine.unload("top2", INTERNAL)
        assert not engine.model_ready("pipeline", "", INTERNAL)
        with pytest.raises(NaiadError) as caught:
            await engine.submit(raw_request(sample(1)), INTERNAL)
        assert (
            caught.value.code is ErrorCode.NOT_FOUND or caught.value.code is ErrorCode.UNAVAILABLE
        )
        assert "ensemble step 3 (model 'top2')" in caught.value.message
        await engine.load("top2", None, {}, INTERNAL)
        assert engine.model_ready("pipeline", "", INTERNAL)
        answer = await engine.submit(raw_request(sample(1)), INTERNAL)
        assert len(answer.outputs) == 3
    finally:
        await asyncio.to_thread(repository.stop)


async def test_loading_an_ensemble_loads_its_members_first(tmp_path: Path) -> None:
    root = ensemble_repo.write(tmp_path / "repo")
    repository, engine = await started(root, mode="explicit")
    try:
        await engine.load("classifier", None, {}, INTERNAL)  # already serving: left alone
        _, before, _ = repository.resolve("classifier")
        await engine.load("pipeline", None, {}, INTERNAL)  # as Triton: the pipeline comes up
        for name in ("normalise", "classifier", "top2", "pipeline"):
            assert engine.model_ready(name, "", INTERNAL), name
        assert repository.resolve("classifier")[1] is before  # not reloaded
        answer = await engine.submit(raw_request(sample(2)), INTERNAL)
        assert len(answer.outputs) == 3
    finally:
        await asyncio.to_thread(repository.stop)


async def test_an_ensemble_whose_member_is_not_in_the_repository_says_which(
    tmp_path: Path,
) -> None:
    root = ensemble_repo.write(tmp_path / "repo")
    shutil.rmtree(root / "normalise")
    repository, engine = await started(root, mode="explicit")
    try:
        with pytest.raises(NaiadError, match="step 1 \\(model 'normalise'\\) cannot be used"):
            await engine.load("pipeline", None, {}, INTERNAL)
        assert not engine.model_ready("pipeline", "", INTERNAL)
    finally:
        await asyncio.to_thread(repository.stop)


def bad(
    steps: str, *, outputs: str = 'output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 4 ] } ]'
) -> str:
    return (
        'platform: "ensemble"\nmax_batch_size: 8\n'
        'input [ { name: "IN" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
        f"{outputs}\nensemble_scheduling {{ step [ {steps} ] }}\n"
    )


STEP = (
    '{{ model_name: "{model}" model_version: -1 input_map {{ key: "{i}" value: "{src}" }} '
    'output_map {{ key: "{o}" value: "{dst}" }} }}'
)


def step(model: str, src: str, dst: str, i: str = "RAW", o: str = "NORMALISED") -> str:
    return STEP.format(model=model, i=i, src=src, o=o, dst=dst)


BAD = {
    "unknown_member": (
        bad(step("nope", "IN", "OUT")),
        "step 1 (model 'nope') cannot be used: Request for unknown model: 'nope' is not found",
    ),
    "cycle": (
        bad(
            step("normalise", "b", "a")
            + ","
            + step("normalise", "a", "b")
            + ","
            + step("normalise", "IN", "OUT")
        ),
        "the steps form a cycle",
    ),
    "unmapped_source": (
        bad(step("normalise", "missing", "OUT")),
        "reads 'missing' into its input 'RAW', but 'missing' is neither an ensemble input",
    ),
    "not_a_member_input": (
        bad(step("normalise", "IN", "OUT", i="WRONG")),
        "maps 'WRONG', which is not an input (RAW)",
    ),
    "missing_member_input": (
        bad(step("normalise", "IN", "OUT", i="WRONG")),
        "its input 'RAW' is missing from the input_map",
    ),
    "mistyped": (
        bad(
            step("normalise", "IN", "OUT"),
            outputs='output [ { name: "OUT" data_type: TYPE_INT64 dims: [ 4 ] } ]',
        ),
        "ensemble output 'OUT' is INT64 in the config but its step writes FP32",
    ),
    "output_never_written": (
        bad(step("normalise", "IN", "other")),
        "ensemble output 'OUT' is not written by any step",
    ),
    "written_twice": (
        bad(
            step("normalise", "IN", "OUT")
            + ","
            + step("classifier", "IN", "OUT", i="features", o="probabilities")
        ),
        "ensemble tensor 'OUT' is written by step 1 (model 'normalise') and by step 2",
    ),
    "no_steps": (
        'platform: "ensemble"\ninput [ { name: "IN" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
        'output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 4 ] } ]\n',
        'platform "ensemble" needs ensemble_scheduling',
    ),
    "scheduling_without_platform": (
        bad(step("normalise", "IN", "OUT")).replace('platform: "ensemble"', ""),
        'ensemble_scheduling needs platform: "ensemble"',
    ),
}


async def test_bad_ensembles_fail_their_load_with_the_reason(tmp_path: Path) -> None:
    configs = {f"bad_{name}": text for name, (text, _) in BAD.items()}
    root = ensemble_repo.write(tmp_path / "repo", configs)
    repository, engine = await started(root)
    try:
        rows = {e.name: e for e in repository.index()}
        for name, (_, reason) in BAD.items():
            row = rows[f"bad_{name}"]
            assert row.state is ModelState.UNAVAILABLE, name
            assert reason in row.reason, (name, row.reason)
        assert rows["pipeline"].state is ModelState.READY  # loaded after its members
    finally:
        await asyncio.to_thread(repository.stop)


async def test_a_stopping_ensemble_finishes_what_it_accepted(tmp_path: Path) -> None:
    root = ensemble_repo.write(tmp_path / "repo")
    repository, engine = await started(root)
    futures = [engine.submit(raw_request(sample(1, seed=i)), INTERNAL) for i in range(8)]
    stopping = asyncio.ensure_future(asyncio.to_thread(repository.stop))
    answers = await asyncio.gather(*futures)
    await stopping
    assert all(len(a.outputs) == 3 for a in answers)
