"""Front-end processes across cores (`naiad serve --frontends N`).

N processes each run the unchanged gRPC service and HTTP server on the same ports
(SO_REUSEPORT) over a RemoteEngine; ONE engine process owns the repository, the schedulers and
the model instances, so batches span every caller and weights exist once.

Per front end, in memory the two processes share (region.py): a ring of request descriptors,
a ring of response descriptors (native DescriptorRing, eventfd wake-ups) and two slabs of
fixed-size slots. A request's header and tensors are written once into a request slot; the
engine reads NumPy views over it and writes the answer into the response slot of the same
number. Everything else (metadata, statistics, readiness, repository verbs, requests too large
for a slot) goes over a Unix socket of length-prefixed messages (control.py).

Engine side: FrontEndPool (pool.py) starts, watches and restarts the processes; one EngineHost
(engine_host.py) per front end serves its ring. Front-end side: process.py is the entry point,
remote_engine.py the InferenceEngine it serves.
"""
