"""Runs fuzz targets under atheris (libFuzzer), one subprocess per target, one after the other.

    python -m fuzz.run TARGET|all --runs N [--max-time S] [--corpus DIR]

Prints one line per target (inputs executed, exec/s, crashes, hangs, ooms, peak RSS) and exits 1
when any target crashed, hung or ran out of memory; the failing inputs are kept under
--artifacts. `--reproduce FILE...` runs a target once on each file instead of fuzzing.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# Target name -> longest input. BYTES and requests need room for a few tensors; what goes to the
# listener must be able to pass its 16 KiB head limit.
MAX_LEN = {
    "grpc_infer_request": 4096,
    "grpc_infer_structured": 2048,
    "grpc_infer_wire": 4096,
    "bytes_tensor": 4096,
    "http_server": 17 * 1024,
    "http_rest": 8192,
    "http_infer_body": 4096,
    "http_decompress": 8192,
    "config_text": 4096,
    "config_json": 4096,
    "native_scheduler": 1024,
    "shared_memory": 512,
    "selftest_crash": 64,
    "selftest_hang": 64,
}
CAMPAIGN = [name for name in MAX_LEN if not name.startswith("selftest_")]
# The targets too: their branches on what the code under test answered are the only coverage
# of the compiled scheduler and BYTES codec, which are not built with libFuzzer's instrumentation.
INSTRUMENTED = ["naiad", "naiad_protocol", "fuzz.targets", "fuzz.http_bodies", "fuzz.http_targets"]


@dataclass
class Outcome:
    target: str
    inputs: int = 0
    exec_per_s: int = 0
    coverage: int = 0
    peak_rss_mb: int = 0
    wall_s: float = 0.0
    crashes: int = 0
    hangs: int = 0
    ooms: int = 0
    artifacts: list[str] = field(default_factory=list)
    log: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.crashes or self.hangs or self.ooms)

    def line(self) -> str:
        return (
            f"fuzz: {self.target} inputs={self.inputs} exec_s={self.exec_per_s} cov={self.coverage}"
            f" crashes={self.crashes} hangs={self.hangs} ooms={self.ooms}"
            f" peak_rss_mb={self.peak_rss_mb} wall_s={self.wall_s:.1f}"
        )


def _stat(log: str, name: str) -> int:
    found = re.findall(rf"stat::{name}:\s+(\d+)", log)
    return int(found[-1]) if found else 0


def parse_log(target: str, log: str, returncode: int, wall_s: float) -> Outcome:
    """What one libFuzzer run did, read from its output."""
    outcome = Outcome(target, wall_s=wall_s, log=log)
    outcome.inputs = _stat(log, "number_of_executed_units")
    if not outcome.inputs:
        done = re.findall(r"Done (\d+) runs", log) or re.findall(r"^#(\d+)\s", log, re.M)
        outcome.inputs = int(done[-1]) if done else 0
    outcome.inputs = max(outcome.inputs, len(re.findall(r"^Executed ", log, re.M)))
    # libFuzzer divides by whole seconds (0 for a run under one); wall time includes start-up.
    outcome.exec_per_s = _stat(log, "average_exec_per_sec") or int(outcome.inputs / wall_s)
    covered = re.findall(r" cov: (\d+)", log)
    outcome.coverage = int(covered[-1]) if covered else 0
    outcome.peak_rss_mb = _stat(log, "peak_rss_mb")
    outcome.artifacts = re.findall(r"Test unit written to (\S+)", log)
    if "ERROR: libFuzzer: timeout" in log:
        outcome.hangs = 1
    elif "ERROR: libFuzzer: out-of-memory" in log or "ERROR: libFuzzer: malloc" in log:
        outcome.ooms = 1
    elif returncode != 0 or "ERROR: libFuzzer" in log or "Uncaught Python exception" in log:
        outcome.crashes = 1
    return outcome


def run_target(target: str, args: argparse.Namespace, artifacts: Path) -> Outcome:
    """Fuzzes `target` in a child process and returns what it found."""
    artifacts.mkdir(parents=True, exist_ok=True)
    flags = [
        f"-timeout={args.timeout}",
        f"-rss_limit_mb={args.rss_limit_mb}",
        f"-max_len={MAX_LEN[target]}",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
    ]
    with tempfile.TemporaryDirectory(prefix=f"naiad-fuzz-{target}-") as scratch:
        if args.reproduce:
            paths = list(args.reproduce)
        else:
            flags.append(f"-runs={args.runs}")
            if args.max_time:
                flags.append(f"-max_total_time={args.max_time}")
            corpus = Path(args.corpus) / target if args.corpus else Path(scratch) / "corpus"
            corpus.mkdir(parents=True, exist_ok=True)
            _seed(target, corpus)
            paths = [str(corpus)]
            tokens = _dictionary(target)
            if tokens:
                path = Path(scratch) / "dictionary"
                path.write_text("".join(f'"{_escape(token)}"\n' for token in tokens))
                flags.append(f"-dict={path}")
        command = [sys.executable, "-m", "fuzz.run", "--worker", target, *flags, *args.flag, *paths]
        env = dict(os.environ)
        if args.known:
            env["NAIAD_FUZZ_KNOWN"] = args.known
        start = time.monotonic()
        child = subprocess.run(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=env,
            cwd=Path(__file__).resolve().parents[1],
        )
    return parse_log(target, child.stdout, child.returncode, time.monotonic() - start)


def _dictionary(target: str) -> list[bytes]:
    from fuzz.corpus import dictionary

    return dictionary(target)


def _escape(token: bytes) -> str:
    """A token as libFuzzer's dictionary format spells it: printable ASCII, else \\xNN."""
    return "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\x{b:02x}" for b in token)


def _worker(target: str, argv: list[str]) -> None:
    """In the child: instrument naiad, then hand the target to libFuzzer (never returns)."""
    import atheris

    with atheris.instrument_imports(include=INSTRUMENTED):
        from fuzz import http_bodies, http_targets, targets
    every = {**targets.TARGETS, **http_bodies.TARGETS, **http_targets.TARGETS, **targets.SELFTESTS}
    function = every[target]
    atheris.Setup([sys.argv[0], *argv], function)
    atheris.Fuzz()


def _seed(target: str, corpus: Path) -> None:
    """Gives an empty corpus the target's seeds. Imports naiad here, in the parent, where
    coverage does not matter: the worker imports it again, instrumented."""
    if any(corpus.iterdir()):
        return
    from fuzz.corpus import seeds

    for index, seed in enumerate(seeds(target)):
        (corpus / f"seed-{index}").write_bytes(seed)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        _worker(argv[1], argv[2:])
    parser = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__.split("\n")[0])
    parser.add_argument("target", choices=[*MAX_LEN, "all"], help="a target, or all of them")
    parser.add_argument("--runs", type=int, default=10_000, help="inputs per target")
    parser.add_argument("--max-time", type=int, default=0, help="seconds per target; 0: none")
    parser.add_argument("--corpus", help="keep and reuse a corpus per target under this folder")
    parser.add_argument(
        "--artifacts", default="fuzz-artifacts", help="where failing inputs are written"
    )
    parser.add_argument("--timeout", type=int, default=5, help="seconds an input may take")
    parser.add_argument("--rss-limit-mb", type=int, default=2048, help="memory limit per target")
    parser.add_argument("--known", default="", help="stop skipping these known issues (or all)")
    parser.add_argument("--reproduce", nargs="+", metavar="FILE", help="run FILEs once each")
    parser.add_argument("--flag", action="append", default=[], help="extra libFuzzer flag")
    args = parser.parse_args(argv)
    names = CAMPAIGN if args.target == "all" else [args.target]
    artifacts = Path(args.artifacts).resolve()
    outcomes = []
    for name in names:
        outcome = run_target(name, args, artifacts / name)
        outcomes.append(outcome)
        print(outcome.line(), flush=True)
        if outcome.failed:
            print("\n".join(outcome.log.splitlines()[-40:]), file=sys.stderr)
            for artifact in outcome.artifacts:
                print(f"fuzz: {name} input kept at {artifact}", flush=True)
    for folder in [*(artifacts / name for name in names), artifacts]:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # nothing failed there
    total = sum(o.inputs for o in outcomes)
    failed = [o.target for o in outcomes if o.failed]
    print(f"fuzz: total: inputs={total} targets={len(outcomes)} failed={','.join(failed) or '-'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
