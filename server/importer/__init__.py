"""`naiad import`: a trained model (scikit-learn, XGBoost, LightGBM, PyTorch, TorchScript or
ONNX) converted to ONNX with the converters its ecosystem maintains, written into a model
repository with a complete config.pbtxt, and checked against the original on a sample.

`sources.py` finds the framework and loads the file (pickles run code: only the named file is
ever loaded); `tabular.py` and `torch_models.py` convert; `samples.py` reads sample data;
`parity.py` compares both models' answers; `writer.py` writes the version and its config;
`command.py` is the CLI. The converters are the `import` extra, imported only when used.
"""
