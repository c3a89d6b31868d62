"""The alert hook: a command and/or a webhook told once when a drift or accuracy alert starts.

Each firing runs on its own daemon thread, so that a slow pipeline never holds the monitor
up; the command gets the alert as JSON on stdin and in the NAIAD_ALERT environment variable,
the webhook gets it as a JSON POST body. Failures are logged on naiad.monitor and counted.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import urllib.request
from typing import Any

log = logging.getLogger("naiad.monitor")
TIMEOUT_S = 30.0


class AlertHook:
    def __init__(self, command: str = "", webhook: str = "") -> None:
        self.command = command
        self.webhook = webhook
        self.num_fired = 0
        self.num_failed = 0
        self._threads: list[threading.Thread] = []

    @property
    def configured(self) -> bool:
        return bool(self.command or self.webhook)

    def fire(self, alert: dict[str, Any]) -> None:
        """Starts telling the command and webhook about `alert`; returns at once."""
        if not self.configured:
            return
        self.num_fired += 1
        thread = threading.Thread(target=self._deliver, args=(alert,), daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def join(self, timeout_s: float = TIMEOUT_S) -> None:
        """Waits for the firings under way (tests, shutdown)."""
        for thread in list(self._threads):
            thread.join(timeout_s)

    def _deliver(self, alert: dict[str, Any]) -> None:
        text = json.dumps(alert)
        if self.command:
            try:
                done = subprocess.run(  # noqa: S602 - the operator's own command line
                    self.command,
                    shell=True,
                    input=text.encode(),
                    env={**os.environ, "NAIAD_ALERT": text},
                    timeout=TIMEOUT_S,
                    capture_output=True,
                    check=False,
                )
                if done.returncode != 0:
                    self.num_failed += 1
                    log.warning("alert command exited %d: %s", done.returncode, done.stderr[-500:])
            except (OSError, subprocess.TimeoutExpired) as exc:
                self.num_failed += 1
                log.warning("alert command failed: %s", exc)
        if self.webhook:
            request = urllib.request.Request(
                self.webhook,
                data=text.encode(),
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as reply:
                    reply.read()
            except (OSError, ValueError) as exc:
                self.num_failed += 1
                log.warning("alert webhook %s failed: %s", self.webhook, exc)
