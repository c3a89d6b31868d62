"""Command line: ``python -m bench run|compare|models|list`` (run from the repository root).

python -m bench run tiny                                  # a bundled scenario
python -m bench run bench/scenarios/compute.toml --modes async -c 1,8
python -m bench run --url 127.0.0.1:8001 --model demo -c 1,8,64   # one-off, any v2 server
python -m bench compare old/results.json new/results.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from bench import scenario as scenarios

RESULTS_DIR = Path(__file__).parent / "results"


def _csv(kind: type) -> Any:
    return lambda text: tuple(kind(x) for x in text.split(",") if x)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="measure a scenario (or a one-off load on --url/--model)")
    run.add_argument("scenario", nargs="?", help="scenario file or bundled name")
    run.add_argument("--url", help="measure a running server at HOST:PORT (short for --targets)")
    run.add_argument("--model", help="model name (with --url and no scenario: the model to load)")
    run.add_argument("--targets", type=_csv(str), help="comma list: naiad,grpc-noop,url=H:P,...")
    run.add_argument("--baseline", help="target label the ratios divide by")
    run.add_argument("--modes", type=_csv(str), help="comma list of sync,async,stream")
    level = run.add_mutually_exclusive_group()
    level.add_argument("-c", "--concurrency", type=_csv(int), help="closed loop at these levels")
    level.add_argument("-r", "--rate", type=_csv(float), help="open loop at these requests/s")
    run.add_argument("--arrival", choices=["constant", "poisson"])
    run.add_argument("-b", "--batch-size", type=int)
    run.add_argument("-p", "--processes", type=int, help="load-generator processes")
    run.add_argument("--engine", choices=["python", "perf_analyzer"])
    run.add_argument("--warmup-s", type=float)
    run.add_argument("--window-s", type=float)
    run.add_argument("--min-trials", type=int)
    run.add_argument("--max-trials", type=int)
    run.add_argument("--rounds", type=int, help="measure every target this many times, paired")
    run.add_argument("--timeout-s", type=float, help="client deadline per request")
    run.add_argument("--out", type=Path, help="result directory (default bench/results/...)")
    run.add_argument("--no-progress", action="store_true")
    compare = sub.add_parser("compare", help="ratio table between two results.json files")
    compare.add_argument("a")
    compare.add_argument("b")
    models = sub.add_parser("models", help="generate a scenario's model; print its repository")
    models.add_argument("scenario")
    sub.add_parser("list", help="bundled scenarios")
    return parser


def build_scenario(args: argparse.Namespace) -> scenarios.Scenario:
    """The scenario file (or a one-off one) with the command line's overrides applied."""
    targets = args.targets or ((f"url={args.url}",) if args.url else None)
    if args.scenario:
        scenario = scenarios.load(args.scenario)
    elif args.model and targets:
        scenario = scenarios.from_dict(
            {"model": {"name": args.model, "generate": "none"}, "targets": list(targets)}
        )
    else:
        raise scenarios.ScenarioError("give a scenario, or --url HOST:PORT and --model NAME")
    top: dict[str, Any] = {}
    if targets:
        top["targets"] = scenarios.parse_targets(list(targets), scenario.request.protocol)
        labels = [t.label for t in top["targets"]]
        top["baseline"] = scenario.baseline if scenario.baseline in labels else labels[0]
    if args.baseline:
        top["baseline"] = args.baseline
    if args.model and args.scenario:
        top["model"] = {"name": args.model}
    load = {"levels": args.concurrency or args.rate, "arrival": args.arrival}
    load.update(processes=args.processes, engine=args.engine)
    if args.concurrency or args.rate:
        load["kind"] = "closed" if args.concurrency else "open"
    request = {"modes": args.modes, "batch_size": args.batch_size, "timeout_s": args.timeout_s}
    measure = {
        "warmup_s": args.warmup_s,
        "window_s": args.window_s,
        "min_trials": args.min_trials,
        "max_trials": args.max_trials,
        "rounds": args.rounds,
    }
    scenario = _replace_top(scenario, top)
    return scenarios.with_overrides(
        scenario,
        load={k: v for k, v in load.items() if v is not None},
        request={k: v for k, v in request.items() if v is not None},
        measure={k: v for k, v in measure.items() if v is not None},
    )


def _replace_top(scenario: scenarios.Scenario, top: dict[str, Any]) -> scenarios.Scenario:
    if "model" in top:
        top["model"] = dataclasses.replace(scenario.model, **top["model"])
    return dataclasses.replace(scenario, **top)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "compare":
        from bench.compare import main as compare_main

        return compare_main(args.a, args.b)
    if args.command == "list":
        print("\n".join(scenarios.bundled_names()))
        return 0
    if args.command == "models":
        from bench.models import signature_for, target_signature

        chosen = scenarios.load(args.scenario)
        signature = signature_for(chosen.model)
        print(signature.repository)
        for target in chosen.targets:
            if target.has_variant:
                served = target_signature(chosen.model, target, signature)
                print(f"{target.label}: {served.repository}")
        return 0
    # Imported late so that "list" and "compare" stay quick.
    from bench.progress import Progress
    from bench.runner import Runner

    try:
        scenario = build_scenario(args)
    except scenarios.ScenarioError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    out = args.out or RESULTS_DIR / f"{scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    progress = Progress(enabled=not args.no_progress)
    Runner(scenario, out, progress).run()
    progress.clear()
    print(f"results: {out}/ (results.json, results.csv, *.png)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
