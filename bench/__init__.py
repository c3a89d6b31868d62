"""naiad's load-testing harness: ``python -m bench run SCENARIO`` (see bench/README.md)."""
