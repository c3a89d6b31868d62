"""What every candidate serves and what the generator sends: fixed, pre-encoded, stdlib only,
so that a server's cost is its HTTP stack and one ``json.loads`` of the request, nothing else."""

from __future__ import annotations

import json

MODEL = "tiny"
INFER_PATH = f"/v2/models/{MODEL}/infer"
READY_PATH = "/v2/health/ready"
REQUEST_FLOATS = 64
RESPONSE_FLOATS = 10


def request_body(floats: int = REQUEST_FLOATS) -> bytes:
    """A v2 infer request: one FP32 input of shape [1, floats], values that print as floats."""
    data = [round(0.5 + i * 0.25, 2) for i in range(floats)]
    doc = {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, floats], "data": data}]}
    return json.dumps(doc, separators=(",", ":")).encode()


def response_body(floats: int = RESPONSE_FLOATS) -> bytes:
    """The fixed v2 infer response every candidate returns, whatever the request held."""
    data = [float(i) / 10 for i in range(floats)]
    output = {"name": "OUTPUT0", "datatype": "FP32", "shape": [1, floats], "data": data}
    doc = {"model_name": MODEL, "outputs": [output]}
    return json.dumps(doc, separators=(",", ":")).encode()


def infer_request(host: str, port: int, body: bytes) -> bytes:
    """The whole HTTP/1.1 keep-alive request, encoded once and written as is for every call."""
    head = (
        f"POST {INFER_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def ready_request(host: str, port: int) -> bytes:
    return f"GET {READY_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()


RESPONSE = response_body()
