"""scenarios/streams.toml belongs to bench.streams, not to `python -m bench run`."""

from __future__ import annotations

import tomllib

from bench import scenario, streams


def test_the_streams_scenario_names_its_harness_and_both_models() -> None:
    with scenario.resolve_path("streams").open("rb") as f:
        settings = tomllib.load(f)
    assert settings["harness"] == "bench.streams"
    assert "streams" not in scenario.bundled_names()
    specs = [streams.model_spec(dict(table)) for table in settings["models"]]
    assert [(spec.name, run["messages"]) for spec, run in specs] == [
        ("tiny_mlp", 4000),
        ("compute_mlp", 600),
    ]
    compute = specs[1][0]
    assert compute.hidden == (4096, 4096) and compute.max_batch_size == 64
