"""Coverage-guided fuzzing (atheris) of the decoders a client reaches; see fuzz/README.md."""
