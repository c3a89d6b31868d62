"""`naiad rollout`: start, read, promote, abort and clear a running server's rollouts, over its
HTTP admin endpoints (/v2/rollout). Also the `serve` flag for where rollout state lives."""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

DESCRIPTION = """Safe rollout of a model version inside a running naiad server.

  naiad rollout start MODEL --to 2 --canary 5 --step 20 --every 30s --max-error-rate 0.01
  naiad rollout start MODEL --to 2 --shadow --sample 25 --max-divergence 0.001
  naiad rollout start MODEL --to 2 --ab user_id --split 50
  naiad rollout start MODEL --to 2 --blue-green
  naiad rollout status [MODEL] | promote MODEL | abort MODEL | clear MODEL

Only unversioned requests are routed; a request naming its version always meets it. A
candidate that breaks a gate (error rate, p99 latency, shadow divergence; NaN answers count
as errors) is rolled back automatically and stays loaded. --every takes a duration (30s, 2m)
or a request count (1000req). Answers are JSON; exit status 1 when the server refuses.
"""

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|req)?$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--rollout-state-dir",
        default=None,
        help="where running rollouts keep their state across restarts "
        "(default: .naiad-rollout in the model repository)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="127.0.0.1:8000", help="the server's HTTP host:port")
    parser.add_argument("--token", default=None, help="a bearer token with the admin scope")
    verbs = parser.add_subparsers(dest="verb", required=True)
    start = verbs.add_parser("start", help="start a rollout (replaces one that runs)")
    start.add_argument("model")
    start.add_argument("--to", required=True, help="the candidate version")
    start.add_argument("--stable", default=None, help="default: what serves unversioned now")
    modes = start.add_mutually_exclusive_group(required=True)
    modes.add_argument("--canary", type=float, metavar="PCT", help="candidate's first share")
    modes.add_argument("--shadow", action="store_true", help="copy requests to the candidate")
    modes.add_argument("--ab", metavar="PARAM", help="split by this request parameter")
    modes.add_argument("--blue-green", action="store_true", help="switch every request now")
    start.add_argument("--step", type=float, metavar="PCT", help="canary: share added per step")
    start.add_argument("--every", metavar="DURATION", help="canary: 30s, 2m or 1000req")
    start.add_argument("--sample", type=float, default=100.0, metavar="PCT", help="shadow share")
    start.add_argument("--split", type=float, default=50.0, metavar="PCT", help="A/B share")
    start.add_argument("--max-error-rate", type=float, metavar="R", help="0..1 (default 0.05)")
    start.add_argument("--max-p99-ms", type=float, metavar="MS")
    start.add_argument("--max-divergence", type=float, metavar="D", help="shadow only")
    start.add_argument(
        "--divergence-metric", choices=("mean_abs", "max_abs", "argmax"), default=None
    )
    start.add_argument("--min-requests", type=int, default=None, help="before judging (20)")
    status = verbs.add_parser("status", help="a rollout's state as JSON (every one without MODEL)")
    status.add_argument("model", nargs="?", default="")
    for verb, text in (
        ("promote", "send every unversioned request to the candidate, ending the rollout"),
        ("abort", "send every unversioned request back to stable, ending the rollout"),
        ("clear", "forget the rollout: unversioned requests meet the latest version again"),
    ):
        verbs.add_parser(verb, help=text).add_argument("model")


def start_body(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON plan `naiad rollout start` posts, from its flags; ValueError on bad ones."""
    body: dict[str, Any] = {"to": args.to}
    if args.stable is not None:
        body["stable"] = args.stable
    if args.canary is not None:
        body.update(mode="canary", candidate_percent=args.canary)
        if (args.step is None) != (args.every is None):
            raise ValueError("--step and --every go together")
        if args.step is not None:
            body["step_percent"] = args.step
            body.update(_every(args.every))
    elif args.shadow:
        body.update(mode="shadow", sample_percent=args.sample)
    elif args.ab is not None:
        body.update(mode="ab", key=args.ab, candidate_percent=args.split)
    else:
        body["mode"] = "blue-green"
    if args.canary is None and (args.step is not None or args.every is not None):
        raise ValueError("--step and --every apply to --canary only")
    gates = {
        "max_error_rate": args.max_error_rate,
        "max_p99_ms": args.max_p99_ms,
        "max_divergence": args.max_divergence,
        "divergence_metric": args.divergence_metric,
        "min_requests": args.min_requests,
    }
    body["gates"] = {k: v for k, v in gates.items() if v is not None}
    return body


def run(args: argparse.Namespace) -> int:
    try:
        if args.verb == "start":
            path, body = f"/{quote(args.model, safe='')}/start", start_body(args)
        elif args.verb == "status":
            path, body = (f"/{quote(args.model, safe='')}" if args.model else ""), None
        else:
            path, body = f"/{quote(args.model, safe='')}/{args.verb}", {}
    except ValueError as exc:
        print(f"naiad rollout: {exc}", file=sys.stderr)
        return 2
    status, answer = _call(args.url, "/v2/rollout" + path, body, args.token)
    print(json.dumps(answer, indent=2))
    return 0 if status == 200 else 1


def _every(text: str) -> dict[str, Any]:
    match = _DURATION.match(text.strip())
    if match is None or float(match[1]) <= 0:
        raise ValueError(f"--every takes 30s, 2m, 500ms or 1000req, not {text!r}")
    value, unit = float(match[1]), match[2] or "s"
    if unit == "req":
        return {"step_every_requests": int(value)}
    return {"step_every_s": value * _SECONDS[unit]}


def _call(url: str, path: str, body: dict[str, Any] | None, token: str | None) -> tuple[int, Any]:
    base = url if url.startswith(("http://", "https://")) else f"http://{url}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path, data=data, method="GET" if data is None else "POST"
    )
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, {"error": text.decode(errors="replace")}
    except (urllib.error.URLError, OSError) as error:
        return 0, {"error": f"cannot reach {base}: {error}"}
