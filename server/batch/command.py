"""`naiad batch`: the command line of a batch job, locally or on Ray."""

from __future__ import annotations

import argparse
import logging
import sys

from naiad.batch.spec import INPUT_FORMATS, OUTPUT_FORMATS, BatchJob, parse_mapping

log = logging.getLogger("naiad.batch")

DESCRIPTION = """Run MODEL over every row of a file or a folder of files (Parquet, CSV, JSON
lines, npy/npz; local paths or URLs) and write its predictions next to the kept columns, as
numbered part files in OUTPUT. Killed half-way, the same command resumes from the last
committed chunk; every row is written exactly once. Bad rows go to OUTPUT/_rejects with the
reason (or stop the job with --strict). --ray runs the same job on a Ray cluster."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-repository", default="", help="repository directory")
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", dest="model_version", default="", help="default: latest")
    parser.add_argument("--input", required=True, help="file, folder or URL (s3://, gs://, ...)")
    parser.add_argument("--output", required=True, help="output folder or URL")
    parser.add_argument("--input-format", choices=INPUT_FORMATS, default="")
    parser.add_argument("--output-format", choices=OUTPUT_FORMATS, default="parquet")
    parser.add_argument(
        "--map",
        "--columns",
        dest="mapping",
        action="append",
        default=[],
        metavar="INPUT=COLUMN[,COLUMN...]",
        help="columns of a model input: one list column, or one column per element "
        "(names or patterns such as 'f*'); repeatable",
    )
    parser.add_argument(
        "--keep-columns", default="", help="comma-separated input columns copied to the output"
    )
    parser.add_argument("--batch-size", type=int, default=0, help="rows a request (default max)")
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=16384,
        help="rows read, run and committed together: the memory budget and resume step",
    )
    parser.add_argument("--max-in-flight", type=int, default=0, help="requests queued at once")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad row")
    parser.add_argument("--rejects", default="", help="rejects folder (default OUTPUT/_rejects)")
    parser.add_argument("--overwrite", action="store_true", help="start again in OUTPUT")
    parser.add_argument("--url", default="", help="HOST:PORT of a running server to use instead")
    parser.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run on Ray Data: a cluster address, or 'local' (the default) to start one",
    )
    parser.add_argument("--num-actors", type=int, default=0, help="Ray: model actors (0: by CPUs)")
    parser.add_argument("--cpus-per-actor", type=float, default=1.0, help="Ray: CPUs an actor")
    parser.add_argument("--gpus-per-actor", type=float, default=0.0, help="Ray: GPUs an actor")


def job_from_arguments(args: argparse.Namespace) -> BatchJob:
    """The BatchJob the flags describe; ValueError when they do not fit together."""
    keep = tuple(c.strip() for c in args.keep_columns.split(",") if c.strip())
    return BatchJob(
        model=args.model,
        input=args.input,
        output=args.output,
        model_repository=args.model_repository,
        model_version=args.model_version,
        input_format=args.input_format,
        output_format=args.output_format,
        mapping=parse_mapping(args.mapping),
        keep_columns=keep,
        batch_size=args.batch_size,
        chunk_rows=args.chunk_rows,
        max_in_flight=args.max_in_flight,
        strict=args.strict,
        rejects=args.rejects,
        url=args.url,
        overwrite=args.overwrite,
    )


def run(args: argparse.Namespace) -> int:
    """0 when the job finished, 1 when it stopped (--strict, a model error), 2 on bad flags."""
    try:
        job = job_from_arguments(args)
        if args.ray is not None and job.url:
            raise ValueError("--ray and --url exclude each other")
    except ValueError as exc:
        print(f"naiad: {exc}", file=sys.stderr)
        return 2
    from naiad.batch.pipeline import StrictStop
    from naiad.batch.progress import summary_line
    from naiad.errors import NaiadError

    try:
        if args.ray is not None:
            from naiad.batch.ray_job import RayOptions, run_on_ray

            options = RayOptions(
                address=args.ray,
                num_actors=args.num_actors,
                cpus_per_actor=args.cpus_per_actor,
                gpus_per_actor=args.gpus_per_actor,
            )
            summary = run_on_ray(job, options)
        else:
            from naiad.batch.local import run_job

            summary = run_job(job)
    except ModuleNotFoundError as missing:
        extra = "ray" if args.ray is not None else "batch"
        print(f"naiad batch needs {missing.name}: pip install 'naiad[{extra}]'", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"naiad: {exc}", file=sys.stderr)
        return 2
    except (StrictStop, NaiadError) as exc:
        print(f"naiad batch stopped: {exc}", file=sys.stderr)
        return 1
    print(summary_line(summary), flush=True)
    return 0
