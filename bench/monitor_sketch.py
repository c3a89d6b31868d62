"""Which sketch the monitor keeps: Apache DataSketches' KLL (PyPI `datasketches`) against the
numpy ring window naiad uses, measured as the worker's cost per sampled request.

    python -m bench.monitor_sketch [--features 64] [--rows 1 8] [--requests 20000]

Per sampled request of `rows` rows and `features` columns it times:
- numpy-window: naiad's Window.add (one slice assignment of the whole [rows, features] block);
- kll-per-feature: one kll_floats_sketch per feature, `update` with that feature's column
  (DataSketches updates one stream per call, so a request costs one call per feature);
and per drift evaluation (a window of 500 rows against a reference of 5000): naiad's PSI + KS
over all features at once, against the KLL sketches' get_pmf on the reference's bin edges
(PSI only: a KLL gives ranks, not the sample KS needs). One line per measurement.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from naiad.monitor.statistics import bin_counts, ks_statistic, psi, quantile_edges
from naiad.monitor.window import Window


def _per_call_us(fn, count: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return (time.perf_counter() - start) / count * 1e6


def _update_costs(
    rows: int, features: int, requests: int, datasketches: Any
) -> tuple[float, float]:
    batches = [np.random.default_rng(i).normal(size=(rows, features)) for i in range(256)]
    window = Window(features, 500, np.float64)
    numpy_us = _per_call_us(lambda i: window.add(batches[i % 256], 0.0), requests)
    sketches = [datasketches.kll_floats_sketch(200) for _ in range(features)]

    def kll(i: int) -> None:
        block = batches[i % 256].astype(np.float32)
        for column, sketch in enumerate(sketches):
            sketch.update(block[:, column])

    return numpy_us, _per_call_us(kll, max(1, requests // 4))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.monitor_sketch")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args(argv)
    try:
        import datasketches
    except ImportError:
        print("pip install datasketches to compare with KLL")
        return 2
    rng = np.random.default_rng(0)
    for rows in args.rows:
        numpy_us, kll_us = _update_costs(rows, args.features, args.requests, datasketches)
        print(
            f"update rows={rows} features={args.features}: numpy-window {numpy_us:.2f} us, "
            f"kll-per-feature {kll_us:.2f} us ({kll_us / numpy_us:.1f}x)"
        )
    reference = np.sort(rng.normal(size=(5000, args.features)), axis=0)
    edges = quantile_edges(reference, 10)
    columns = np.ascontiguousarray(reference.T)
    ref_counts = bin_counts(reference, edges)
    current = rng.normal(size=(500, args.features))

    def numpy_eval(_: int) -> None:
        psi(ref_counts, bin_counts(current, edges))
        ks_statistic(columns, current)

    sketches = [datasketches.kll_floats_sketch(200) for _ in range(args.features)]
    for column, sketch in enumerate(sketches):
        sketch.update(current[:, column].astype(np.float32))

    def kll_eval(_: int) -> None:
        counts = np.array([sketches[c].get_pmf(edges[c].tolist()) for c in range(args.features)])
        psi(ref_counts, counts)

    numpy_ms = _per_call_us(numpy_eval, 50) / 1000
    kll_ms = _per_call_us(kll_eval, 50) / 1000
    print(
        f"evaluate window=500 reference=5000 features={args.features}: numpy PSI+KS "
        f"{numpy_ms:.2f} ms, kll PSI {kll_ms:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
