"""Model execution backends. Only runtime/onnx.py imports onnxruntime."""
