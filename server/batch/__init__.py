"""`naiad batch`: a model over files and tables, offline, resumable, locally or on Ray.

The pieces, in the order a chunk passes through them:

- spec.py: the job (BatchJob), validated once; its fingerprint names it in the manifest.
- store.py: a folder on any file system (local path, pyarrow or fsspec URL) with atomic writes.
- source.py: lists the input files and reads them as numbered chunks of `chunk_rows` rows.
- signature.py: the model's inputs and outputs, from its effective ModelConfig.
- columns.py: binds model inputs to columns and turns a chunk into tensors, finding bad rows.
- runner.py: runs a chunk's tensors through the engine (or a server at --url), batches full.
- output.py: the output table (kept columns + predictions) and the rejects of a chunk.
- manifest.py: which chunks are committed; a rerun skips them (exactly once per row).
- pipeline.py: reading, computing and writing overlapped, a bounded number of chunks at a time.
- progress.py: a bar on a terminal, log lines otherwise, and the summary.
- local.py: one job on this machine (engine or --url), put together.
- offline_model.py: one model instance straight from the repository, for Ray actors.
- ray_job.py: the same job on Ray Data with an actor pool of model instances.
- command.py: the command line.
"""
