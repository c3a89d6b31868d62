"""The loop the generator and the reference servers run on: the same as `naiad serve`'s default
(uvloop where installed), so that a ratio compares servers, not event loops. bench/ may not
import the server package, hence this small twin of naiad's own choice."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        factory = asyncio.new_event_loop
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
