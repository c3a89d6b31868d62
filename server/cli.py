"""The `naiad` command: serve a model repository, write the demo repository, quantize a model."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from naiad.app import NaiadServer, ServerOptions


def _serve(args: argparse.Namespace) -> int:
    options = ServerOptions(
        model_repository=args.model_repository,
        grpc_host=args.grpc_host,
        grpc_port=args.grpc_port,
        model_control_mode=args.model_control_mode,
        startup_models=tuple(args.load_model),
        poll_interval_s=args.repository_poll_secs,
        max_message_bytes=args.max_message_bytes,
        grace_s=args.grace_s,
    )

    def announce(server: NaiadServer) -> None:
        print(f"naiad ready grpc={server.grpc_address}", flush=True)

    server = NaiadServer(options)
    asyncio.run(server.run_until_signalled(announce))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from naiad.demo import write_demo_repository

    for path in write_demo_repository(args.directory):
        print(path)
    return 0


def _quantize(args: argparse.Namespace) -> int:
    from naiad.quantize import main as quantize_main

    return quantize_main(args.quantize_args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="naiad", description=__doc__)
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve a Triton-style model repository over gRPC")
    serve.add_argument("--model-repository", required=True, help="repository directory")
    serve.add_argument("--grpc-host", default="0.0.0.0")
    serve.add_argument("--grpc-port", type=int, default=8001, help="0 picks a free port")
    serve.add_argument(
        "--model-control-mode", choices=("none", "explicit", "poll"), default="none"
    )
    serve.add_argument(
        "--load-model", action="append", default=[], help="explicit mode: load at start ('*': all)"
    )
    serve.add_argument("--repository-poll-secs", type=float, default=15.0)
    serve.add_argument(
        "--max-message-bytes", type=int, default=2**31 - 1, help="largest request accepted"
    )
    serve.add_argument("--grace-s", type=float, default=30.0, help="shutdown grace period")
    serve.set_defaults(run=_serve)

    demo = commands.add_parser("demo", help="write the demo model repository")
    demo.add_argument("directory")
    demo.set_defaults(run=_demo)

    quantize = commands.add_parser(
        "quantize", help="quantize an ONNX model to INT8", add_help=False
    )
    quantize.add_argument("quantize_args", nargs=argparse.REMAINDER)
    quantize.set_defaults(run=_quantize)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
