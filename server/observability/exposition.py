"""Prometheus text format (0.0.4) that keeps Triton's counter names.

prometheus_client's own writer renames every counter to `<name>_total`; Triton's dashboards
query `nv_inference_request_success` and friends as they are, so counters whose samples carry
the bare name are written under that name.
"""

from __future__ import annotations

from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_TYPES = {"unknown": "untyped", "info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram"}


def render(registry: Collector) -> bytes:
    """Collects `registry` and writes every metric family in the text format."""
    out: list[str] = []
    for metric in registry.collect():
        samples = [s for s in metric.samples if not s.name.endswith("_created")]
        name = metric.name
        if metric.type == "counter" and any(s.name == name + "_total" for s in samples):
            name += "_total"
        elif metric.type == "info":
            name += "_info"
        out.append(f"# HELP {name} {_escape_help(metric.documentation)}\n")
        out.append(f"# TYPE {name} {_TYPES.get(metric.type, metric.type)}\n")
        for sample in samples:
            out.append(sample.name)
            if sample.labels:
                labels = ",".join(f'{k}="{_escape_value(v)}"' for k, v in sample.labels.items())
                out.append("{" + labels + "}")
            out.append(f" {_number(sample.value)}\n")
    return "".join(out).encode()


def _number(value: float) -> str:
    # Counts print as integers, as Triton prints them.
    return str(value) if isinstance(value, int) else floatToGoString(value)


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape_value(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
