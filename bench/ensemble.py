"""`python -m bench.ensemble`: preprocessing as an ensemble step vs preprocessing in the client.

Both systems answer the same customers (named raw columns, as the churn example has them) on
the same `naiad serve` process, one after the other, with the same warm-up, window and
concurrency, through tritonclient's asyncio gRPC client:

- ensemble: the client sends the raw columns to `churn_pipeline` (ensemble: `churn_prepare`,
  the fitted ColumnTransformer converted by naiad.importer, then `churn_mlp`);
- client: the client runs the fitted ColumnTransformer's `transform` on the request's row (a
  one-row DataFrame, as a FastAPI /predict does), then calls `churn_mlp` alone.

Prints one line per system and the throughput ratio; writes results.json to
bench/results/ensemble-<time>/ (or --out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bench.models import naiad_executable
from bench.targets import ServerProcess

SCENARIOS = Path(__file__).parent / "scenarios"
NUMERIC = ("tenure_months", "monthly_charges", "support_calls")
CATEGORICAL = ("contract", "payment")
POOL = 256

PIPELINE = """
name: "churn_pipeline"
platform: "ensemble"
max_batch_size: 64
input [
  { name: "tenure_months" data_type: TYPE_FP32 dims: [ 1 ] },
  { name: "monthly_charges" data_type: TYPE_FP32 dims: [ 1 ] },
  { name: "support_calls" data_type: TYPE_FP32 dims: [ 1 ] },
  { name: "contract" data_type: TYPE_STRING dims: [ 1 ] },
  { name: "payment" data_type: TYPE_STRING dims: [ 1 ] }
]
output [ { name: "probabilities" data_type: TYPE_FP32 dims: [ 2 ] } ]
ensemble_scheduling { step [
  { model_name: "churn_prepare" model_version: -1
    input_map { key: "tenure_months" value: "tenure_months" }
    input_map { key: "monthly_charges" value: "monthly_charges" }
    input_map { key: "support_calls" value: "support_calls" }
    input_map { key: "contract" value: "contract" }
    input_map { key: "payment" value: "payment" }
    output_map { key: "PREPARED" value: "features" } },
  { model_name: "churn_mlp" model_version: -1
    input_map { key: "features" value: "features" }
    output_map { key: "probabilities" value: "probabilities" } }
] }
"""

MODEL_CONFIG = """
name: "{name}"
max_batch_size: 64
dynamic_batching {{ max_queue_delay_microseconds: 500 }}
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
"""


def customers(rows: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "tenure_months": rng.integers(1, 72, rows).astype(np.float64),
        "monthly_charges": rng.uniform(20, 120, rows).round(2),
        "support_calls": rng.poisson(2, rows).astype(np.float64),
        "contract": rng.choice(["monthly", "yearly", "two-year"], rows).astype(object),
        "payment": rng.choice(["card", "transfer", "cheque"], rows).astype(object),
    }


def fit_preprocessing() -> Any:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prepare = ColumnTransformer(
        [
            ("numbers", StandardScaler(), list(NUMERIC)),
            ("categories", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL)),
        ],
        sparse_threshold=0.0,
    )
    return prepare.fit(pd.DataFrame(customers(1000, seed=0)))


def mlp(width: int, hidden: int) -> onnx.ModelProto:
    rng = np.random.default_rng(1)
    shapes = {"w1": (width, hidden), "b1": (hidden,), "w2": (hidden, hidden), "b2": (hidden,),
              "w3": (hidden, 2), "b3": (2,)}  # fmt: skip
    weights = [
        numpy_helper.from_array((rng.standard_normal(s) * 0.1).astype(np.float32), n)
        for n, s in shapes.items()
    ]
    nodes = [
        helper.make_node("Gemm", ["features", "w1", "b1"], ["h1p"]),
        helper.make_node("Relu", ["h1p"], ["h1"]),
        helper.make_node("Gemm", ["h1", "w2", "b2"], ["h2p"]),
        helper.make_node("Relu", ["h2p"], ["h2"]),
        helper.make_node("Gemm", ["h2", "w3", "b3"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "churn_mlp",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2])],
        initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model


def write_repository(root: Path, prepare: Any, hidden: int) -> None:
    import pandas as pd
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    # As `naiad import` converts it (a process that imports tritonclient cannot import naiad's
    # own stubs, so the bench calls skl2onnx itself): one input per column.
    initial = [(n, FloatTensorType([None, 1])) for n in NUMERIC]
    initial += [(n, StringTensorType([None, 1])) for n in CATEGORICAL]
    prepared = convert_sklearn(prepare, initial_types=initial)
    width = int(prepare.transform(pd.DataFrame(customers(1, 2))).shape[1])
    for name, model in (("churn_prepare", prepared), ("churn_mlp", mlp(width, hidden))):
        (root / name / "1").mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(root / name / "1" / "model.onnx"))
        (root / name / "config.pbtxt").write_text(MODEL_CONFIG.format(name=name))
    (root / "churn_pipeline" / "1").mkdir(parents=True, exist_ok=True)
    prepared_output = prepared.graph.output[0].name  # skl2onnx's name for the features
    text = PIPELINE.replace('"PREPARED"', f'"{prepared_output}"')
    (root / "churn_pipeline" / "config.pbtxt").write_text(text)


def raw_inputs(pool: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    """Request i's raw columns, FP32 [1, 1] numbers and BYTES [1, 1] text."""
    return {
        name: (
            pool[name][i : i + 1].astype(np.float32) if name in NUMERIC else pool[name][i : i + 1]
        ).reshape(1, 1)
        for name in (*NUMERIC, *CATEGORICAL)
    }


async def drive(call: Callable[[int], Awaitable[None]], settings: dict[str, Any]) -> dict[str, Any]:
    latencies: list[float] = []
    counting = False
    stop = False
    errors = 0

    async def worker(offset: int) -> None:
        nonlocal errors
        i = offset
        while not stop:
            started = time.perf_counter()
            try:
                await call(i % POOL)
            except Exception:
                errors += 1
            if counting:
                latencies.append(time.perf_counter() - started)
            i += settings["concurrency"]

    tasks = [asyncio.create_task(worker(n)) for n in range(settings["concurrency"])]
    await asyncio.sleep(settings["warmup_s"])
    counting = True
    began = time.perf_counter()
    await asyncio.sleep(settings["window_s"])
    counting = False
    elapsed = time.perf_counter() - began
    stop = True
    await asyncio.gather(*tasks)
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "throughput": len(ordered) / elapsed,
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p99_ms": 1000 * ordered[int(len(ordered) * 0.99)],
        "errors": errors,
    }


async def measure(address: str, prepare: Any, settings: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd

    from naiad_client import AsyncClient

    pool = customers(POOL, seed=7)
    client = AsyncClient(address)

    async def ensemble(i: int) -> None:
        await client.infer("churn_pipeline", raw_inputs(pool, i))

    def features(i: int) -> np.ndarray:
        row = pd.DataFrame({name: pool[name][i : i + 1] for name in pool})
        return prepare.transform(row).astype(np.float32)

    async def preprocessing_in_client(i: int) -> None:
        await client.infer("churn_mlp", {"features": features(i)})

    # Both answer the same: the ensemble is the model behind the same preprocessing.
    one = await client.infer("churn_pipeline", raw_inputs(pool, 0))
    alone = await client.infer("churn_mlp", {"features": features(0)})
    np.testing.assert_allclose(
        one.outputs["probabilities"], alone.outputs["probabilities"], atol=1e-5
    )
    results = {
        "ensemble": await drive(ensemble, settings),
        "client-preprocessing": await drive(preprocessing_in_client, settings),
    }
    await client.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ensemble", description=__doc__)
    parser.add_argument("scenario", nargs="?", default="ensemble")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--window-s", type=float)
    args = parser.parse_args(argv)
    with (SCENARIOS / f"{args.scenario}.toml").open("rb") as file:
        settings = tomllib.load(file)
    if args.window_s:
        settings["window_s"] = args.window_s
    out = args.out or Path("bench/results") / f"ensemble-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    prepare = fit_preprocessing()
    repository = out / "repository"
    write_repository(repository, prepare, settings["hidden"])
    command = [naiad_executable(), "serve", "--model-repository", str(repository),
               "--grpc-port", "0", "--no-http", "--no-metrics"]  # fmt: skip
    server = ServerProcess(command, out / "naiad.log")
    address = server.start()
    try:
        results = asyncio.run(measure(address, prepare, settings))
    finally:
        server.stop()
    for system, row in results.items():
        print(
            f"{system:22s} c={settings['concurrency']}  {row['throughput']:8.0f} req/s  "
            f"p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms  errors {row['errors']}"
        )
    ratio = results["ensemble"]["throughput"] / results["client-preprocessing"]["throughput"]
    print(f"ratio ensemble / client-preprocessing throughput: {ratio:.2f}")
    results_file = out / "results.json"
    results_file.write_text(
        json.dumps({"settings": settings, "results": results, "ratio": ratio}, indent=2)
    )
    print(f"results: {results_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
