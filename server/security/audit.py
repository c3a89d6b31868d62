"""The audit log (logger naiad.audit): a line for every denied call and every management call.

Lines are key=value pairs, so they read as plain text and parse without a JSON log format.
"""

from __future__ import annotations

import logging

log = logging.getLogger("naiad.audit")


def _value(text: str) -> str:
    """`text` as is when it is plain, else quoted with escapes: model names and identities come
    from callers, and must not be able to add fields or lines to the audit log."""
    if text and text.isprintable() and " " not in text and "=" not in text and "'" not in text:
        return text
    return repr(text)


def _line(outcome: str, who: str, action: str, model: str, protocol: str, detail: str) -> str:
    text = (
        f"{outcome} caller={_value(who)} action={action} model={_value(model or '-')}"
        f" protocol={protocol}"
    )
    return f"{text} reason={detail!r}" if detail else text


def denied(who: str, action: str, model: str, protocol: str, reason: str) -> None:
    log.warning("%s", _line("denied", who, action, model, protocol, reason))


def allowed(who: str, action: str, model: str, protocol: str) -> None:
    log.info("%s", _line("allowed", who, action, model, protocol, ""))
