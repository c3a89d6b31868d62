"""`naiad stream`: one model answering one broker topic, with metrics, until a signal."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from naiad.engine.engine import Engine
from naiad.engine.loader import gpu_available, load_served_model
from naiad.observability.ledger import StatsLedger
from naiad.observability.metrics import MetricsRoute, build_registry
from naiad.repository.manager import ModelRepository
from naiad.streams.front_end import StreamFrontEnd
from naiad.streams.metrics import StreamMetrics
from naiad.streams.spec import FORMATS, StreamSpec, parse_stream_url
from naiad.transport.http.server import HttpServer

log = logging.getLogger("naiad.streams")
READY_PREFIX = "naiad stream ready"

DESCRIPTION = """Consume a Kafka topic, Redis stream or NATS JetStream subject, answer every
message with MODEL through the dynamic batcher, and produce one answer per message (same key,
correlation id, per-partition order) to the output topic; bad messages go to the error topic
with the reason. Inputs are acknowledged only after their answers are (at-least-once)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-repository", required=True, help="repository directory")
    parser.add_argument("--model", required=True, help="the model that answers")
    parser.add_argument("--model-version", default="", help="default: the latest ready")
    parser.add_argument(
        "--broker",
        required=True,
        help="kafka://HOST:PORT, redis://HOST:PORT[/DB] or nats://HOST:PORT",
    )
    parser.add_argument("--input-topic", required=True, help="topic, stream key or subject")
    parser.add_argument("--output-topic", required=True)
    parser.add_argument("--error-topic", default="", help="default: INPUT_TOPIC.errors")
    parser.add_argument("--group", default="naiad", help="consumer group / durable name")
    parser.add_argument("--consumer", default="", help="member name (Redis; default: host name)")
    parser.add_argument("--format", choices=FORMATS, default="json")
    parser.add_argument("--correlation-header", default="correlation-id")
    parser.add_argument("--max-in-flight", type=int, default=256)
    parser.add_argument(
        "--exactly-once",
        action="store_true",
        help="Kafka transactions, Redis MULTI, NATS de-duplicated publishes",
    )
    parser.add_argument("--ack-wait-s", type=float, default=30.0, help="NATS redelivery delay")
    parser.add_argument("--session-timeout-s", type=float, default=10.0, help="Kafka group")
    parser.add_argument("--metrics-host", default="0.0.0.0")
    parser.add_argument(
        "--metrics-port", type=int, default=None, help="Prometheus /metrics (0: a free port)"
    )
    parser.add_argument("--grace-s", type=float, default=30.0, help="shutdown grace period")


def spec_from_arguments(args: argparse.Namespace) -> StreamSpec:
    return StreamSpec(
        broker=args.broker,
        model=args.model,
        model_version=args.model_version,
        input_topic=args.input_topic,
        output_topic=args.output_topic,
        error_topic=args.error_topic,
        group=args.group,
        consumer=args.consumer,
        format=args.format,
        correlation_header=args.correlation_header.lower(),
        max_in_flight=args.max_in_flight,
        exactly_once=args.exactly_once,
        ack_wait_s=args.ack_wait_s,
        session_timeout_s=args.session_timeout_s,
    )


def run(args: argparse.Namespace) -> int:
    """The `naiad stream` command: 0 after a signal, 1 when the stream failed, 2 on bad flags."""
    from naiad import event_loop

    try:
        spec = spec_from_arguments(args)
    except ValueError as exc:
        print(f"naiad: {exc}", file=sys.stderr)
        return 2
    return event_loop.run(_serve(spec, args), event_loop.default_kind())


async def _serve(spec: StreamSpec, args: argparse.Namespace) -> int:
    ledger = StatsLedger()
    repository = ModelRepository(
        args.model_repository,
        factory=ledger.timed(load_served_model),
        control_mode="explicit",
        startup_models=(spec.model,),
        gpu_available=gpu_available(),
    )
    engine = Engine(repository)
    registry = build_registry(repository, ledger)
    try:
        stream = StreamFrontEnd(engine, spec, StreamMetrics(registry))
    except ValueError as exc:
        print(f"naiad: {exc}", file=sys.stderr)
        return 2
    fronts: list[StreamFrontEnd | HttpServer] = [stream]
    if args.metrics_port is not None:
        fronts.append(
            HttpServer(args.metrics_host, args.metrics_port, MetricsRoute(registry), "metrics")
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    for front in fronts:
        await front.start()
    await asyncio.to_thread(repository.start)
    engine.accept(True)
    for front in fronts:
        await front.serving(True)
    pairs = " ".join(f"{front.name}={front.address}" for front in fronts)
    print(f"{READY_PREFIX} {pairs}", flush=True)
    assert stream.done is not None
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait([stopped, stream.done], return_when=asyncio.FIRST_COMPLETED)
    failed = stream.done.done() and not stream.done.cancelled() and stream.done.exception()
    stopped.cancel()
    engine.accept(False)
    for front in fronts:
        await front.serving(False)
    for front in fronts:
        await front.stop(args.grace_s)
    await asyncio.to_thread(repository.stop)
    return 1 if failed else 0


def add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    """`naiad serve --stream URL`, repeatable: streams that share the server's engine."""
    serve.add_argument(
        "--stream",
        action="append",
        default=[],
        type=stream_url,
        metavar="URL",
        help="also answer a broker topic through this server's engine (repeatable): "
        "kafka|redis|nats://HOST:PORT?model=M&input=T&output=T[&error=T&group=G&format=F]",
    )


def stream_url(text: str) -> StreamSpec:
    """argparse type of `naiad serve --stream URL`."""
    try:
        return parse_stream_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
