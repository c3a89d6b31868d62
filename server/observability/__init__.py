"""Observability: Prometheus metrics read from the native schedulers at scrape time,
structured logs with run-time levels, an access log and optional tracing.

The pieces the server composes: `StatsLedger` (ledger.py), `build_registry`/`MetricsRoute`
(metrics.py, served by the HTTP server of naiad.transport.http),
`logs.configure`/`logs.update` (logs.py), and two engine layers: `AccessLogLayer`
(access_log.py) and `TracingLayer` (tracing.py).
"""
