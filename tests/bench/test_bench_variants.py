"""Targets that serve their own variant of the scenario's model: config merge, quantize, and
one generated repository per variant."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format

from bench import models, scenario
from naiad_protocol import model_config_pb2 as mc

TINY = {"name": "tiny_variant", "num_in": 8, "hidden": [8], "num_out": 2, "max_batch_size": 4}
BASE_CONFIG = {
    "dynamic_batching": {"max_queue_delay_microseconds": 2000, "preferred_batch_size": [4]},
    "instance_group": [{"count": 1, "kind": "KIND_CPU"}],
}


def tiny_scenario(targets, **model):
    return scenario.from_dict(
        {
            "targets": targets,
            "model": {**TINY, "config": BASE_CONFIG, **model},
            "baseline": targets[0]["label"],
        }
    )


def test_false_removes_a_field():
    merged = scenario.merge_config(BASE_CONFIG, {"dynamic_batching": False})
    assert merged == {"instance_group": BASE_CONFIG["instance_group"]}


def test_tables_replace_whole():
    merged = scenario.merge_config(BASE_CONFIG, {"dynamic_batching": {"preserve_ordering": True}})
    assert merged["dynamic_batching"] == {"preserve_ordering": True}
    assert merged["instance_group"] == BASE_CONFIG["instance_group"]


def test_json_and_snake_names_are_one_field():
    merged = scenario.merge_config({"dynamicBatching": {}}, {"dynamic_batching": False})
    assert merged == {}


def test_unknown_fields_are_refused():
    with pytest.raises(scenario.ScenarioError, match="dynamic_batchin"):
        scenario.merge_config(BASE_CONFIG, {"dynamic_batchin": False})


def test_a_bad_variant_fails_at_load():
    with pytest.raises(scenario.ScenarioError, match="unknown ModelConfig fields"):
        tiny_scenario([{"kind": "naiad", "label": "a", "config": {"nope": 1}}])


@pytest.mark.parametrize(
    ("targets", "model", "message"),
    [
        ([{"kind": "naiad", "label": "a"}, {"kind": "naiad", "label": "a"}], {}, "distinct"),
        ([{"kind": "naive", "label": "a", "config": {"dynamic_batching": False}}], {}, "naiad"),
        ([{"kind": "naiad", "label": "a", "quantize": "static"}], {}, "quantize must be"),
        (
            [{"kind": "naiad", "label": "a", "quantize": "dynamic"}],
            {"generate": "none", "repository": "/r"},
            "generated model",
        ),
    ],
)
def test_bad_variants_say_why(targets, model, message):
    with pytest.raises(scenario.ScenarioError, match=message):
        tiny_scenario(targets, **model)


def test_unlabelled_variants_clash_with_the_plain_target():
    with pytest.raises(scenario.ScenarioError, match="distinct labels"):
        tiny_scenario(
            [{"kind": "naiad", "label": "naiad"}, {"kind": "naiad", "quantize": "dynamic"}]
        )


def _config(signature: models.Signature) -> tuple[str, mc.ModelConfig]:
    text = (Path(signature.repository) / TINY["name"] / "config.pbtxt").read_text()
    return text, text_format.Parse(text, mc.ModelConfig())


def test_each_variant_gets_its_own_repository(bench_cache):
    chosen = tiny_scenario(
        [
            {"kind": "naiad", "label": "batching"},
            {"kind": "naiad", "label": "nobatch", "config": {"dynamic_batching": False}},
            {
                "kind": "naiad",
                "label": "two",
                "config": {"instance_group": [{"count": 2, "kind": "KIND_CPU"}]},
            },
            {"kind": "onnxruntime-inprocess"},
        ]
    )
    base = models.signature_for(chosen.model)
    served = {t.label: models.target_signature(chosen.model, t, base) for t in chosen.targets}
    assert served["batching"] is base and served["onnxruntime-inprocess"] is base
    repositories = {s.repository for s in served.values()}
    assert len(repositories) == 3 and all(r.startswith(str(bench_cache)) for r in repositories)

    text, config = _config(base)
    assert "max_queue_delay_microseconds: 2000" in text and config.instance_group[0].count == 1
    text, config = _config(served["nobatch"])
    assert "dynamic_batching" not in text and config.instance_group[0].count == 1
    text, config = _config(served["two"])
    assert "max_queue_delay_microseconds: 2000" in text and config.instance_group[0].count == 2
    # Built again, a variant is found in the cache rather than rebuilt elsewhere.
    again = models.target_signature(chosen.model, chosen.targets[1], base)
    assert again.repository == served["nobatch"].repository


def test_quantized_variant_is_made_by_naiad_quantize(bench_cache):
    try:
        models.naiad_executable()
    except RuntimeError:
        pytest.skip("naiad is not installed")
    import onnx

    chosen = tiny_scenario(
        [
            {"kind": "naiad", "label": "fp32"},
            {"kind": "naiad", "label": "int8", "quantize": "dynamic"},
        ]
    )
    base = models.signature_for(chosen.model)
    int8 = models.target_signature(chosen.model, chosen.targets[1], base)
    assert int8.repository != base.repository and int8.repository.endswith("-int8-dynamic")
    assert _config(int8)[0] == _config(base)[0]
    ops = {node.op_type for node in onnx.load(int8.onnx_path).graph.node}
    assert "MatMulInteger" in ops or "DynamicQuantizeLinear" in ops
    assert not any(Path(int8.onnx_path).parents[3].glob("onnx/*.partial*"))


def test_the_comparison_scenarios_load():
    batching = scenario.load("batching")
    assert [t.label for t in batching.targets] == [
        "naiad-batching",
        "naiad-nobatch",
        "onnxruntime-inprocess",
    ]
    assert batching.baseline == "onnxruntime-inprocess"
    assert batching.targets[2].batch_size == 64 and batching.load.levels == (64,)
    assert set(batching.request.modes) == {"async", "stream"}
    nobatch = scenario.target_model(batching.model, batching.targets[1])
    assert "dynamic_batching" in batching.model.config and "dynamic_batching" not in nobatch.config
    # The compute-bound comparisons measure naiad's own instance planning.
    assert "instance_group" not in batching.model.config
    assert "instance_group" not in scenario.load("compute").model.config

    instances = scenario.load("instances")
    counts = [
        scenario.target_model(instances.model, t).config["instance_group"][0]["count"]
        for t in instances.targets
    ]
    assert counts == [1, 2] and instances.load.levels == (16, 64)
    assert instances.model.config["parameters"]["intra_op_thread_count"] == {"string_value": "1"}
    assert instances.baseline == instances.targets[0].label

    int8 = scenario.load("int8")
    assert [t.quantize for t in int8.targets] == [None, "dynamic"]
    assert int8.baseline == "naiad-fp32" and int8.load.levels == (1, 64)

    for chosen in (batching, instances, int8):
        assert chosen.model.num_in == 2048 and chosen.model.hidden == (4096, 4096)
        assert chosen.model.num_out == 1024 and chosen.request.batch_size == 4
        config = chosen.model.config["dynamic_batching"]
        assert config == {"max_queue_delay_microseconds": 2000}


def test_a_rollout_variant_serves_the_same_file_as_two_versions_under_its_plan(bench_cache):
    from naiad.rollout.plan import RolloutMode, read_plan

    plan = {"mode": "canary", "candidate_percent": 25, "gates": {"max_error_rate": 0.05}}
    chosen = tiny_scenario(
        [{"kind": "naiad", "label": "plain"}, {"kind": "naiad", "label": "canary", "rollout": plan}]
    )
    base = models.signature_for(chosen.model)
    canary = models.target_signature(chosen.model, chosen.targets[1], base)
    assert canary.repository != base.repository
    model_dir = Path(canary.repository) / TINY["name"]
    one, two = (model_dir / v / "model.onnx" for v in ("1", "2"))
    assert one.read_bytes() == two.read_bytes()
    assert not (Path(base.repository) / TINY["name"] / "2").exists()
    assert _config(canary)[1].version_policy.HasField("all")
    read = read_plan(model_dir)
    assert read is not None and (read.stable, read.candidate) == (1, 2)
    assert read.mode is RolloutMode.CANARY and read.candidate_percent == 25.0
    assert read.gates.max_error_rate == 0.05


@pytest.mark.parametrize(
    ("rollout", "message"),
    [
        ({"mode": "canary", "stable": 3}, "names no versions"),
        ({"mode": "canary", "gates": 5}, "gates must be a table"),
        ({"mode": ["canary"]}, "string, number or boolean"),
    ],
)
def test_a_bad_rollout_variant_says_why(rollout, message):
    with pytest.raises(scenario.ScenarioError, match=message):
        tiny_scenario([{"kind": "naiad", "label": "a", "rollout": rollout}])


def test_the_rollout_cost_scenario_loads():
    chosen = scenario.load("rollout_cost")
    assert [t.label for t in chosen.targets] == ["no-rollout", "canary-25", "shadow-100"]
    assert chosen.baseline == "no-rollout" and chosen.load.levels == (1, 16)
    assert chosen.targets[1].rollout["candidate_percent"] == 25
    assert chosen.targets[2].rollout["sample_percent"] == 100
    assert chosen.measure.rounds == 3
