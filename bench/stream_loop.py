"""The plain stream consumer the naiad connector is measured against: one Redis Streams message
at a time, read, one ONNX Runtime run, write the answer, XACK — the loop a tutorial writes.

    python -m bench.stream_loop --broker redis://H:P --input-topic T --output-topic T --onnx M

Prints "stream loop ready" once its consumer group exists; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
from typing import Any

import numpy as np
import redis

from bench.ort import open_session

READY = "stream loop ready"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_loop")
    parser.add_argument("--broker", required=True)
    parser.add_argument("--input-topic", required=True)
    parser.add_argument("--output-topic", required=True)
    parser.add_argument("--group", default="bench")
    parser.add_argument("--onnx", required=True)
    args = parser.parse_args(argv)
    session = open_session(args.onnx)
    input_name = session.get_inputs()[0].name
    output_name = session.get_outputs()[0].name
    client = redis.Redis.from_url(args.broker)
    try:
        client.xgroup_create(args.input_topic, args.group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    print(READY, flush=True)
    while running[0]:
        reply: Any = client.xreadgroup(
            args.group, "plain", {args.input_topic: ">"}, count=1, block=100
        )
        for entry_id, fields in reply[0][1] if reply else []:
            row = np.asarray(json.loads(fields[b"value"]), np.float32)[None]
            [answer] = session.run([output_name], {input_name: row})
            out = {k: v for k, v in fields.items() if k != b"value"}
            out[b"value"] = json.dumps({"outputs": {output_name: answer[0].tolist()}}).encode()
            client.xadd(args.output_topic, out)
            client.xack(args.input_topic, args.group, entry_id)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
