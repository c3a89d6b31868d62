"""naiad: a gRPC inference server for ONNX models speaking the KServe v2 / Triton protocol."""

__version__ = "0.1.0"
