"""Triton's ensembles: a served model whose execution is a graph of other served models.

`graph.py` reads `ensemble_scheduling` into checked steps (no engine needed); `config.py` turns
an ensemble's config into the settings clients see; `members.py` checks the steps against the
members that serve; `model.py` is the served ensemble, and `run.py` runs one request through
the graph, each step through its member's own scheduler; `factory.py` plugs ensembles into the
repository's model factory; `order.py` loads ensembles after the models they use.

Nothing is imported here: the repository reads `config.py` while the engine, which `model.py`
needs, imports the repository.
"""
