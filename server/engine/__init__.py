"""The engine: the one seam every entry point calls, and what runs requests behind it.

The seam (protocol.py): front ends hand an `InferenceEngine` an `InferRequest` (request.py)
and a `CallContext` (context.py) and get an `InferResponse` back; they also ask it for
metadata, config, statistics, readiness and repository changes. Streams use the shared
multiplexer `streaming.answer_stream`.

The stack behind it: `layers.compose(Engine(repository), [AccessLogLayer, TracingLayer, ...])`
(app.py). Each wrapper is an `EngineLayer` (layers.py); the core `Engine` (engine.py) resolves
a model version in the repository and submits to its `ServedModel`.

Inside one version (served_model.py): `validation.admit` checks the request, the
`PendingTable` (pending.py) keeps it under its task id while the native scheduler queues the
task, an execution strategy chosen at load (execution.py: inline on the loop, or one thread per
instance) pulls batches and runs each through `BatchRunner` (batch_runner.py), and
`delivery.deliver` settles the callers' futures.
"""
