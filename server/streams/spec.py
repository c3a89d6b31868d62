"""A stream's settings, from `naiad stream` flags or from a `naiad serve --stream` URL."""

from __future__ import annotations

import dataclasses
import socket
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

BROKERS = ("kafka", "redis", "nats")
FORMATS = ("json", "v2-json", "v2-binary", "raw")


@dataclass(frozen=True)
class StreamSpec:
    """One consumer: where it reads, which model answers, where the answers go."""

    broker: str
    """kafka://HOST:PORT[,HOST:PORT], redis://HOST:PORT[/DB] or nats://HOST:PORT."""
    model: str
    """The model that answers every message."""
    input_topic: str
    """Kafka topic, Redis stream key or NATS subject to consume."""
    output_topic: str
    """Where each answer goes, with its input's key and correlation id."""
    error_topic: str = ""
    """Where undecodable or failed messages go, with the reason; "" = `<input_topic>.errors`."""
    model_version: str = ""
    """"" = the latest ready version."""
    group: str = "naiad"
    """Kafka consumer group, Redis consumer group, NATS durable consumer name."""
    consumer: str = ""
    """This member's name within the group (Redis); "" = the host name. Keep it across restarts
    so that a restarted consumer takes back what it had read and not acknowledged."""
    format: str = "json"
    """json (features by input name), v2-json, v2-binary (v2 REST bodies) or raw (one input's
    bytes)."""
    correlation_header: str = "correlation-id"
    """Header that carries a message's correlation id; absent: the key is the id."""
    max_in_flight: int = 256
    """Messages read and not yet acknowledged, at most: bounds memory when the model is slower
    than the broker."""
    exactly_once: bool = False
    """Kafka: a transaction per delivered round (outputs and offsets); Redis: outputs and XACK in
    one MULTI; NATS: Nats-Msg-Id de-duplication of republished answers."""
    ack_wait_s: float = 30.0
    """NATS: how long JetStream waits for an acknowledgement before redelivering."""
    session_timeout_s: float = 10.0
    """Kafka: how long the group waits for a silent member before reassigning its partitions."""

    def __post_init__(self) -> None:
        if self.scheme not in BROKERS:
            raise ValueError(
                f"broker '{self.broker}': expected kafka://, redis:// or nats:// (one of"
                f" {', '.join(BROKERS)})"
            )
        if self.format not in FORMATS:
            raise ValueError(f"format '{self.format}': expected one of {', '.join(FORMATS)}")
        if not (self.model and self.input_topic and self.output_topic):
            raise ValueError("a stream needs a model, an input topic and an output topic")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")

    @property
    def scheme(self) -> str:
        return urlsplit(self.broker).scheme

    @property
    def errors_to(self) -> str:
        return self.error_topic or f"{self.input_topic}.errors"

    @property
    def member(self) -> str:
        return self.consumer or socket.gethostname()

    @property
    def label(self) -> str:
        """The metrics label: which model reads which topic."""
        return f"{self.model}:{self.input_topic}"


def parse_stream_url(text: str) -> StreamSpec:
    """A StreamSpec from `SCHEME://HOST:PORT[/DB]?model=M&input=T&output=T[&error=T&group=G
    &format=F&...]`: every StreamSpec field is a query key (`input`, `output` and `error`
    short for the topics)."""
    parts = urlsplit(text)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"stream '{text}': expected SCHEME://HOST:PORT?model=...&input=...")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    aliases = {"input": "input_topic", "output": "output_topic", "error": "error_topic"}
    fields = {f.name: f for f in dataclasses.fields(StreamSpec)}
    values: dict[str, object] = {"broker": parts._replace(query="", fragment="").geturl()}
    for key, raw in query.items():
        name = aliases.get(key, key.replace("-", "_"))
        if name not in fields or name == "broker":
            raise ValueError(f"stream '{text}': unknown setting '{key}'")
        kind = fields[name].type
        try:
            if kind == "int":
                values[name] = int(raw)
            elif kind == "float":
                values[name] = float(raw)
            elif kind == "bool":
                values[name] = raw.lower() in ("1", "true", "yes", "")
            else:
                values[name] = raw
        except ValueError:
            raise ValueError(f"stream '{text}': '{key}' must be a {kind}") from None
    missing = [k for k in ("model", "input_topic", "output_topic") if k not in values]
    if missing:
        raise ValueError(f"stream '{text}': missing {', '.join(missing)}")
    return StreamSpec(**values)  # type: ignore[arg-type]
