"""The client API, written once: builds each request and converts each response.

Client and AsyncClient differ only in how a call is made (``_call``): the sync client returns
the converted result, the asyncio client an awaitable of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc

from naiad_client import messages
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol import grpc_service_pb2_grpc as pb_grpc


def _identity(message: Any) -> Any:
    return message


class ClientApi:
    """v2 inference calls over one channel; see Client and AsyncClient."""

    def __init__(self, channel: Any, metadata: Sequence[tuple[str, str]] = ()) -> None:
        self._channel = channel
        # Sent with every call, and once when a stream opens: servers check credentials there.
        self._metadata = tuple(metadata) or None
        self._stub = pb_grpc.GRPCInferenceServiceStub(channel)
        # ModelInfer takes a request message or its pre-serialized bytes.
        self._infer = channel.unary_unary(
            messages.SERVICE + "ModelInfer",
            request_serializer=messages.serialize_request,
            response_deserializer=pb.ModelInferResponse.FromString,
        )

    def _call(
        self, rpc: Callable[..., Any], request: Any, convert: Callable[[Any], Any], timeout_s: Any
    ) -> Any:
        raise NotImplementedError

    @staticmethod
    def _shaped(as_dict: bool) -> Callable[[Any], Any]:
        return messages.to_dict if as_dict else _identity

    # -- health and metadata ------------------------------------------------------------------

    def server_live(self, timeout_s: float | None = None) -> Any:
        """Whether the server is live (bool)."""
        return self._call(
            self._stub.ServerLive, pb.ServerLiveRequest(), lambda r: r.live, timeout_s
        )

    def server_ready(self, timeout_s: float | None = None) -> Any:
        """Whether the server is ready (bool)."""
        return self._call(
            self._stub.ServerReady, pb.ServerReadyRequest(), lambda r: r.ready, timeout_s
        )

    def model_ready(self, model: str, version: str = "", timeout_s: float | None = None) -> Any:
        """Whether a model (version) is ready (bool)."""
        request = pb.ModelReadyRequest(name=model, version=str(version))
        return self._call(self._stub.ModelReady, request, lambda r: r.ready, timeout_s)

    def server_metadata(self, as_dict: bool = False, timeout_s: float | None = None) -> Any:
        """ServerMetadataResponse (or a dict): name, version, extensions."""
        request = pb.ServerMetadataRequest()
        return self._call(self._stub.ServerMetadata, request, self._shaped(as_dict), timeout_s)

    def model_metadata(
        self, model: str, version: str = "", as_dict: bool = False, timeout_s: float | None = None
    ) -> Any:
        """ModelMetadataResponse (or a dict): versions, platform, input and output signatures."""
        request = pb.ModelMetadataRequest(name=model, version=str(version))
        return self._call(self._stub.ModelMetadata, request, self._shaped(as_dict), timeout_s)

    def model_config(
        self, model: str, version: str = "", as_dict: bool = False, timeout_s: float | None = None
    ) -> Any:
        """The model's ModelConfig message (or a dict with proto field names)."""
        request = pb.ModelConfigRequest(name=model, version=str(version))
        shape = self._shaped(as_dict)
        return self._call(self._stub.ModelConfig, request, lambda r: shape(r.config), timeout_s)

    def statistics(
        self,
        model: str = "",
        version: str = "",
        as_dict: bool = False,
        timeout_s: float | None = None,
    ) -> Any:
        """ModelStatisticsResponse (or a dict) for one model, or all models when ``model`` is ""."""
        request = pb.ModelStatisticsRequest(name=model, version=str(version))
        return self._call(self._stub.ModelStatistics, request, self._shaped(as_dict), timeout_s)

    # -- repository ---------------------------------------------------------------------------

    def repository_index(
        self, ready: bool = False, as_dict: bool = False, timeout_s: float | None = None
    ) -> Any:
        """RepositoryIndexResponse (or a dict); only ready models when ``ready``."""
        request = pb.RepositoryIndexRequest(ready=ready)
        return self._call(self._stub.RepositoryIndex, request, self._shaped(as_dict), timeout_s)

    def load_model(
        self,
        name: str,
        config: str | Mapping[str, Any] | None = None,
        files: Mapping[str, bytes] | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Loads (or reloads) a model. ``config`` is ModelConfig JSON (text or dict) overriding
        the repository's; ``files`` maps "<version>/<file>" to contents. Returns None."""
        request = messages.build_load_request(name, config, files)
        return self._call(self._stub.RepositoryModelLoad, request, lambda r: None, timeout_s)

    def unload_model(self, name: str, timeout_s: float | None = None) -> Any:
        """Unloads a model; requests already in flight finish. Returns None."""
        request = pb.RepositoryModelUnloadRequest(model_name=name)
        return self._call(self._stub.RepositoryModelUnload, request, lambda r: None, timeout_s)

    # -- inference ----------------------------------------------------------------------------

    @staticmethod
    def prepare(
        model: str,
        inputs: Mapping[str, Any],
        outputs: Sequence[str] | None = None,
        version: str = "",
        request_id: str = "",
        parameters: Mapping[str, Any] | None = None,
    ) -> pb.ModelInferRequest:
        """Encodes a request once, for ``infer_prepared`` or a stream's ``send``.

        Inputs are NumPy arrays (or array-likes) by input name; str/bytes/object arrays travel
        as BYTES. ``outputs`` limits the outputs returned; ``parameters`` values are bool, int,
        float or str.
        """
        return messages.build_infer_request(model, inputs, outputs, version, request_id, parameters)

    def infer(
        self,
        model: str,
        inputs: Mapping[str, Any],
        outputs: Sequence[str] | None = None,
        version: str = "",
        request_id: str = "",
        parameters: Mapping[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Runs one inference and returns its InferResult; raises InferenceServerError."""
        request = self.prepare(model, inputs, outputs, version, request_id, parameters)
        return self.infer_prepared(request, timeout_s)

    def infer_prepared(
        self, request: pb.ModelInferRequest | bytes, timeout_s: float | None = None
    ) -> Any:
        """Sends a prepared request (the message or its serialized bytes); returns InferResult."""
        return self._call(self._infer, request, messages.InferResult, timeout_s)


def open_channel(
    transport: Any,
    url: str,
    channel_options: list[tuple[str, Any]] | None,
    credentials: grpc.ChannelCredentials | None,
) -> Any:
    """A channel from ``transport`` (``grpc`` or ``grpc.aio``): TLS with ``credentials``
    (e.g. ``grpc.ssl_channel_credentials(root_certificates)``), plain text without."""
    options = messages.CHANNEL_OPTIONS + list(channel_options or [])
    if credentials is None:
        return transport.insecure_channel(channel_target(url), options=options)
    return transport.secure_channel(channel_target(url), credentials, options=options)


def channel_target(url: str) -> str:
    """A grpc target from "host:port", tolerating a "grpc://" or "http://" prefix."""
    for prefix in ("grpc://", "http://"):
        if url.startswith(prefix):
            return url[len(prefix) :]
    return url
