"""Which HTTP stack the REST v2 front end should sit on, by measurement: one do-nothing v2
infer server per candidate, one load generator for all (``python -m bench.http_stacks``)."""
