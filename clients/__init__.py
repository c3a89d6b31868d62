"""naiad_client: Python helpers for v2 / Triton gRPC inference servers (naiad, Triton, ...).

    from naiad_client import Client
    with Client("127.0.0.1:8001") as client:
        result = client.infer("model", {"INPUT0": array})
        print(result.as_numpy("OUTPUT0"))

Client is blocking, AsyncClient is the same API over asyncio, and ``AsyncClient.stream()`` opens
a StreamSession multiplexing many requests on one ModelStreamInfer stream. Needs only grpcio,
protobuf, NumPy and the stubs generated from protos/.
"""

from naiad_client.aio import AsyncClient
from naiad_client.client import Client
from naiad_client.errors import InferenceServerError
from naiad_client.messages import InferResult
from naiad_client.stream import StreamSession
from naiad_client.tensors import datatype_of

__all__ = [
    "AsyncClient",
    "Client",
    "InferResult",
    "InferenceServerError",
    "StreamSession",
    "datatype_of",
]
