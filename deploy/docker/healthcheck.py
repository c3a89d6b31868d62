"""The image's HEALTHCHECK: exits 0 when naiad's readiness endpoint answers 200, over plain HTTP
or, when the server runs with --tls-cert, over HTTPS; 1 otherwise.

The slim image has no curl, hence Python's standard library. The HTTPS attempt checks no
certificate, as the kubelet's HTTPS probes do: it asks the process in this container whether it
is ready, and naiad answers the health paths to any TLS client, with --tls-client-ca too.
"""

from __future__ import annotations

import http.client
import ssl
import sys
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000/v2/health/ready"
TIMEOUT_S = 2.0


def answers_200(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S, context=context) as reply:
            return int(reply.status) == 200
    except (OSError, http.client.HTTPException):
        # Refused, reset, a TLS alert read as a status line, or an HTTP error (400: not ready).
        return False


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else DEFAULT_URL
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    https_url = "https://" + url.removeprefix("http://")
    return 0 if answers_200(url) or answers_200(https_url, unverified) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
